"""A monitor process per detached container (podman's conmon design, in
its simplest form): `run -d` starts `python -m pylibctrd.monitor`, which
creates and starts the task with its stdio going to the container's log
(`stdio.Log`: Moby's log driver fed by Moby's copier), tells the starter it
runs, and then holds the FIFOs until the container exits, so output never
blocks on a full pipe and nobody has to stay attached. It records the exit
code and time in `<state_dir>-images/containers/<id>/monitor.json` and ends.
It survives the CLI that started it (its own session, stdio on /dev/null).

While it lives it also answers on a control socket (an abstract unix
socket named after the state dir, namespace and id; only root or the
monitor's own user may connect): `attach` streams the output (and takes
stdin and terminal sizes), `kill` and `restart` act as dockerd's do, `remove`
stands it down before `rm`, `state` is its live record. It applies the
restart policy with Moby's restartmanager (`pylibctrd.restart`) as dockerd's
handleContainerExit does, and finds an exit it missed while containerd was
restarting as dockerd's restore does (the task STOPPED: `delete` gives the
exit). Lines the log driver failed to write (a full disk) are counted in its
record. A monitor that was killed is noticed (`read_state(...).alive`);
`reattach` starts one that takes over the running task (dockerd's restore),
`respawn` one that starts it anew.

With a health check (`spawn(health=...)`), it probes the container as
`task.start_health` does and records each result for other processes
(`pylibctrd.healthrecord`), from each start of the task to its exit.

Only the public API is used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal as _signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Generator, Iterator, Mapping, Sequence

from . import errors, healthrecord, stdio
from .client import Client, Container, Task
from .restart import RestartManager, RestartPolicy
from .stdio import LogFailures
from .services import LogLine, LogReader
from .types import DirectIO, Status, from_unix_nanos

STATE_FILE = "monitor.json"


@dataclass(frozen=True)
class MonitorState:
    """What a container's monitor recorded: "created" (its task not started
    yet, or failing to), "running" (with the monitor's pid, `alive` whether
    it still runs), "restarting" (waiting out the
    backoff of its restart policy) or "exited" with the code and time; how
    often the policy restarted it, and the lines its log driver failed to
    write (`log_failures`: a full disk)."""

    status: str
    pid: int
    alive: bool
    started_at: datetime | None
    exit_code: int | None = None
    exited_at: datetime | None = None
    restart_policy: str = "no"
    restart_count: int = 0
    log_failures: LogFailures = field(default_factory=LogFailures)
    error: str = ""


def state_path(state_dir: str, id: str) -> Path:
    return Path(f"{state_dir}-images") / "containers" / id / STATE_FILE


def _alive(pid: int, id: str | None = None) -> bool:
    """Whether `pid` runs (and, given `id`, is that container's monitor, not
    a process that reused the pid of a killed one)."""
    if not healthrecord.pid_alive(pid):
        return False
    if id is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pylibctrd.monitor" in cmdline and json.dumps(id).encode() in cmdline


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


def read_state(state_dir: str, id: str) -> MonitorState | None:
    """The monitor's record of container `id`, or None if it had none."""
    try:
        data = json.loads(state_path(state_dir, id).read_text())
    except (OSError, ValueError):
        return None
    return _state_of(data, data["status"] in ("created", "running", "restarting")
                     and _alive(data["pid"], id))


def state(client: Client, id: str) -> MonitorState | None:
    """The record of container `id`'s monitor: asked of the monitor itself
    while it lives (its file may lag behind on a full disk), else read."""
    recorded = read_state(client.state_dir, id)
    if recorded is None or not recorded.alive:
        return recorded
    try:
        live = ask(client, id, "state", timeout=5.0)
    except errors.Error:
        return recorded
    return _state_of(live, True) if live else recorded


def _state_of(data: Mapping[str, Any], alive: bool) -> MonitorState:
    failures = data.get("log_failures") or {}
    return MonitorState(data["status"], data["pid"], alive,
                        _time(data.get("started_at")), data.get("exit_code"),
                        _time(data.get("exited_at")), data.get("restart_policy") or "no",
                        int(data.get("restart_count") or 0),
                        LogFailures(int(failures.get("count") or 0),
                                    str(failures.get("last_error") or ""),
                                    _time(failures.get("last_at"))),
                        str(data.get("error") or ""))


RESERVE = 16384  # bytes kept beside the record, given up to write the final one on a full disk


def _write_state(path: Path, state: Mapping[str, Any], *, create: bool,
                 final: bool = False) -> bool:
    """Atomically; without `create` only while the container's dir exists
    (a removed container is not brought back). False if it could not be
    written (a full disk: the monitor keeps its record and serves it on its
    socket). A `final` record (an exit) may use the space reserved for it."""
    if not create and not path.parent.is_dir():
        return False
    if create:
        with contextlib.suppress(OSError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # Moby's mode
    tmp = path.with_suffix(".tmp")
    reserve = path.with_suffix(".reserve")
    for attempt in range(2):
        try:
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)
            break
        except OSError as e:  # removed meanwhile, or no space left
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not (final and attempt == 0 and e.errno == errno.ENOSPC and reserve.exists()):
                return False
            with contextlib.suppress(OSError):
                reserve.unlink()
    if create:
        with contextlib.suppress(OSError):
            reserve.write_bytes(bytes(RESERVE))
    return True


def socket_name(state_dir: str, namespace: str, id: str) -> bytes:
    """The monitor's control socket: abstract (nothing on disk to leave
    behind when it is killed), named after what makes the container unique."""
    key = f"{os.path.realpath(state_dir)}\0{namespace}\0{id}".encode()
    return b"\0pylibctrd-monitor-" + hashlib.sha256(key).hexdigest()[:40].encode()


def spawn(address: str, namespace: str, state_dir: str, id: str, *, log_driver: str = "json-file",
          log_opts: Mapping[str, str] | None = None, timeout: float = 30.0,
          restart: RestartPolicy | str = "no", stdin: bool = False,
          reattach: bool = False, health: Mapping[str, Any] | None = None) -> int:
    """Start container `id`'s monitor, which creates and starts its task
    (with `stdin` held open for `attach`), restarts it as the `restart`
    policy says (docker's --restart: `RestartPolicy` or its text, checked
    here as docker checks it) and probes it with `health` (docker's
    HealthConfig) if given; returns the monitor's pid once the task runs,
    or raises the error that stopped it (its class, its message). With
    `reattach` it takes over the running task instead (see `reattach`)."""
    policy = restart if isinstance(restart, RestartPolicy) else RestartPolicy.parse(restart)
    read_end, write_end = os.pipe()
    args = json.dumps({"address": address, "namespace": namespace, "state_dir": state_dir,
                       "id": id, "log_driver": log_driver, "log_opts": dict(log_opts or {}),
                       "timeout": timeout, "ready_fd": write_end, "restart": policy.to_api(),
                       "stdin": stdin, "reattach": reattach, "health": health})
    try:
        proc = subprocess.Popen([sys.executable, "-m", "pylibctrd.monitor", args],
                                pass_fds=(write_end,), start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        answer = ready.read().decode("utf-8", "replace")
    if answer.startswith("ok"):
        return proc.pid
    proc.wait(timeout)
    raise _error(answer, f"the monitor of {id} ended at once (exit {proc.returncode})")


def _error(answer: str, default: str) -> errors.Error:
    """An error the monitor handed back as "Class:message"."""
    name, _, msg = answer.partition(":")
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.Error):
        return cls(msg)
    return errors.Unknown(answer or default)


def _last_config(client: Client, id: str) -> dict[str, Any]:
    """What container `id`'s last monitor was given; NotFound without one,
    Conflict while it lives."""
    path = state_path(client.state_dir, id)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise errors.NotFound(f"container {id} was not run with a monitor (run -d)") from None
    state = read_state(client.state_dir, id)
    if state is not None and state.alive:
        raise errors.Conflict(f"container {id} has a monitor already (pid {state.pid})")
    config: dict[str, Any] = data.get("config") or {}
    return config


def reattach(client: Client, id: str, *, timeout: float = 30.0) -> int:
    """A new monitor for the running container `id` whose monitor was
    killed: it takes over the task where it runs, as dockerd's restore does
    after a restart (libcontainerd's `AttachTask` on the task's FIFOs), and
    goes on with the log, the restart policy and the count. Its pid;
    `errors.Conflict` if the container does not run."""
    config = _last_config(client, id)
    return spawn(client.address, client.namespace, client.state_dir, id,
                 log_driver=config.get("log_driver", "json-file"),
                 log_opts=config.get("log_opts") or {}, timeout=timeout,
                 restart=RestartPolicy.from_api(config.get("restart") or {}),
                 stdin=bool(config.get("stdin")), reattach=True,
                 health=config.get("health"))


def respawn(client: Client, id: str, *, timeout: float = 30.0) -> int:
    """A new monitor for container `id`, with what its last one was given
    (its log driver and options, restart policy, stdin); the container's
    old task, if any, is killed and deleted first (`docker start`/`restart` of a
    stopped container). `errors.NotFound` if it never had a monitor,
    `errors.Conflict` while one lives."""
    config = _last_config(client, id)
    ctr = client.load_container(id)
    with contextlib.suppress(errors.NotFound):
        ctr.task().force_delete()  # running if its monitor was killed: killed first
    return spawn(client.address, client.namespace, client.state_dir, id,
                 log_driver=config.get("log_driver", "json-file"),
                 log_opts=config.get("log_opts") or {}, timeout=timeout,
                 restart=RestartPolicy.from_api(config.get("restart") or {}),
                 stdin=bool(config.get("stdin")), health=config.get("health"))


# Talking to a monitor (its control socket).


def _connect(client: Client, id: str, timeout: float) -> socket.socket | None:
    """A connection to container `id`'s monitor, or None without one."""
    state = read_state(client.state_dir, id)
    if state is None or not state.alive:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_name(client.state_dir, client.namespace, id))
    except OSError:
        sock.close()
        return None
    return sock


def _request(sock: socket.socket, request: Mapping[str, Any]) -> dict[str, Any]:
    sock.sendall(json.dumps(request).encode() + b"\n")
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise errors.Unavailable("the monitor went away")
        line += chunk
    answer: dict[str, Any] = json.loads(line)
    if "error" in answer:
        raise _error(answer["error"], "the monitor failed")
    return answer


def ask(client: Client, id: str, op: str, *, timeout: float = 30.0,
        **args: Any) -> dict[str, Any] | None:
    """Have container `id`'s monitor do `op` ("state", "kill" with `signal`,
    "restart" with `stop_timeout`, "remove"); its answer, or None when the
    container has no live monitor (the caller acts itself)."""
    sock = _connect(client, id, timeout)
    if sock is None:
        return None
    with sock:
        try:
            return _request(sock, {"op": op, **args})
        except (OSError, ValueError) as e:
            raise errors.Unavailable(f"the monitor of {id} did not answer: {e}") from None


def kill_task(task: Task, signum: int) -> None:
    """Signal a container's task as Moby's killWithSignal does: a paused
    task is resumed after the signal (`kill_paused_task`)."""
    paused = False
    with contextlib.suppress(errors.Error):
        paused = task.status() in (Status.PAUSED, Status.PAUSING)
    if paused:
        kill_paused_task(task, signum)
    else:
        task.kill(signum)


def kill_paused_task(task: Task, signum: int) -> None:
    """Signal a paused task, then resume it so that it gets the signal (a
    process frozen by the cgroup freezer takes even SIGKILL only once thawed:
    runc's kill --all thaws on its own, crun's does not, and containerd's
    force delete then waits for good). A failed resume is passed over, as
    Moby only logs it."""
    task.kill(signum)
    with contextlib.suppress(errors.Error):
        task.resume()


def kill(client: Client, id: str, signum: int) -> bool:
    """`docker kill` of a detached container: through its monitor, which
    then counts it as stopped by hand (no restart, as dockerd's
    killWithSignal). False when it has no live monitor (kill the task)."""
    return ask(client, id, "kill", signal=int(signum)) is not None


def restart(client: Client, id: str, *, stop_timeout: float = 10.0,
            timeout: float = 30.0) -> None:
    """`docker restart`: its monitor stops the task (SIGTERM, SIGKILL after
    `stop_timeout` seconds) and starts a new one with a fresh restart
    manager; a container whose monitor ended (or was killed) gets a new
    monitor (`respawn`). `errors.NotFound` if it never had one."""
    try:
        if ask(client, id, "restart", stop_timeout=stop_timeout,
               timeout=stop_timeout + timeout + 30) is not None:
            return
    except errors.NotFound:
        pass  # its monitor is ending: wait for it, then start a new one
    deadline = time.monotonic() + timeout
    while (state := read_state(client.state_dir, id)) is not None and state.alive:
        if time.monotonic() > deadline:
            raise errors.Deadline(f"the monitor of {id} did not end")
        time.sleep(0.05)
    respawn(client, id, timeout=timeout)


def stand_down(client: Client, id: str) -> None:
    """Before container `id` is removed: its monitor, if one lives, restarts
    it no more (Moby cancels the restart manager of a container being
    removed) and ends with it. Quietly nothing without one."""
    with contextlib.suppress(errors.Error):
        ask(client, id, "remove", timeout=10.0)


# Output frames of `attach`: a byte of kind, a 4-byte big-endian length, the payload.
OUT, ERR, EXIT = 1, 2, 3           # monitor -> client: stdout, stderr, {"exit_code"}
STDIN, STDIN_EOF, RESIZE = 0, 4, 5  # client -> monitor: data, end of input, "width height"


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BI", kind, len(payload)) + payload


def read_frame(f: IO[bytes]) -> tuple[int, bytes] | None:
    """The next frame of an attach stream, None at its end."""
    head = f.read(5)
    if len(head) < 5:
        return None
    kind, size = struct.unpack(">BI", head)
    payload = f.read(size)
    return None if len(payload) < size else (kind, payload)


class Attachment:
    """An `attach` to a detached container through its monitor: `frames()`
    yields (OUT or ERR, bytes) as the container writes and ends with
    (EXIT, exit code as text) when it exits; `send(data)`/`close_stdin()`
    feed its stdin (if run with stdin), `resize(w, h)` its terminal."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._in = sock.makefile("rb")
        self._lock = threading.Lock()

    def frames(self) -> Iterator[tuple[int, bytes]]:
        while (frame := read_frame(self._in)) is not None:
            yield frame

    def _send(self, kind: int, payload: bytes) -> None:
        with self._lock:
            self._sock.sendall(_frame(kind, payload))

    def send(self, data: bytes) -> None:
        self._send(STDIN, data)

    def close_stdin(self) -> None:
        self._send(STDIN_EOF, b"")

    def resize(self, width: int, height: int) -> None:
        self._send(RESIZE, f"{width} {height}".encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._in.close()
        self._sock.close()

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach(client: Client, id: str, *, stdin: bool = False) -> Attachment:
    """Attach to container `id` through its monitor (`docker attach`).
    `errors.NotFound` without a live monitor; `errors.Conflict` when it is
    not running."""
    sock = _stream(client, id, {"op": "attach", "stdin": stdin})
    if sock is None:
        if read_state(client.state_dir, id) is not None:  # the docker CLI's message
            raise errors.Conflict("You cannot attach to a stopped container, start it first")
        raise errors.NotFound(f"container {id} has no monitor to attach to: run it with -d")
    return Attachment(sock)


def _stream(client: Client, id: str, request: Mapping[str, Any]) -> socket.socket | None:
    """A connection to container `id`'s monitor that it accepted `request`
    on and now streams over (no timeout), or None without a live monitor."""
    sock = _connect(client, id, 10.0)
    if sock is None:
        return None
    try:
        _request(sock, request)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def follow_logs(client: Client, id: str, *, since: float | None = None,
                until: float | None = None, tail: int | None = None,
                timestamps: bool = False) -> Generator[LogLine, None, None] | None:
    """`docker logs -f` from any process: container `id`'s monitor writes its
    log, so it is the one that can follow it (as dockerd is): it streams the
    log's lines until the container exits. None without a live monitor (the
    caller then reads the files, which only this writer could follow)."""
    sock = _stream(client, id, {"op": "logs", "since": since, "until": until, "tail": tail,
                                "timestamps": timestamps})
    return None if sock is None else _log_lines(sock)


def _log_lines(sock: socket.socket) -> Generator[LogLine, None, None]:
    with sock, sock.makefile("rb") as f:
        while (frame := read_frame(f)) is not None:
            kind, payload = frame
            (nanos,) = struct.unpack(">q", payload[:8])
            yield LogLine("stdout" if kind == OUT else "stderr",
                          from_unix_nanos(nanos) or datetime.fromtimestamp(0, timezone.utc),
                          payload[8:])


# The monitor itself.


class _Attached:
    """One `attach` connection: output frames go to it; a slow or gone
    reader is dropped, never blocks the container's output for long."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.gone = False

    def send(self, kind: int, payload: bytes) -> None:
        with self.lock:
            if self.gone:
                return
            try:
                self.conn.sendall(_frame(kind, payload))
            except OSError:
                self.gone = True
                with contextlib.suppress(OSError):
                    self.conn.shutdown(socket.SHUT_RDWR)


class _Monitor:
    """One container's monitor: its task, log and restart manager, the
    attached clients, and its record."""

    def __init__(self, args: Mapping[str, Any], client: Client, ctr: Container) -> None:
        self.args = args
        self.client = client
        self.ctr = ctr
        self.id: str = args["id"]
        self.path = state_path(args["state_dir"], self.id)
        self.policy = RestartPolicy.from_api(args.get("restart") or {})
        self.restart_count = 0
        self.manager = RestartManager(self.policy)
        self.lock = threading.RLock()   # starts, stops, restarts and removal, one at a time
        self.changed = threading.Condition(self.lock)
        self.task: Task | None = None
        self.log: stdio.Log | None = None
        self.stdin: IO[bytes] | None = None
        self.failures = LogFailures()   # of the logs of earlier tasks
        self.generation = 0             # one more at each start
        self.started = 0.0
        self.manually_stopped = False   # Moby's HasBeenManuallyStopped
        self.restart_requested = False  # `restart`: start again whatever the policy
        self.removing = False
        self.ended = False
        self.attached: list[_Attached] = []
        self.pumps: list[threading.Thread] = []  # the task's output to attached clients
        self.health: healthrecord.Recorder | None = None  # probing the running task
        self.record: dict[str, Any] = {}

    # The record.

    def _log_failures(self) -> LogFailures:
        total = self.failures
        if self.log is not None:
            total += self.log.failures()
        return total

    def write(self, status: str, *, create: bool = False, **fields: Any) -> None:
        f = self._log_failures()
        self.record = {
            "status": status, "pid": os.getpid(), "started_at": self.started,
            "restart_policy": str(self.policy), "restart_count": self.restart_count,
            "log_failures": {"count": f.count, "last_error": f.last_error,
                             "last_at": f.last_at.timestamp() if f.last_at else None},
            "config": {"log_driver": self.args["log_driver"], "log_opts": self.args["log_opts"],
                       "restart": self.policy.to_api(), "stdin": bool(self.args.get("stdin")),
                       "health": self.args.get("health")},
            **fields}
        if not self.removing:  # else the record goes with the container
            _write_state(self.path, self.record, create=create,
                         final=status not in ("running", "created"))

    def _refresh_failures(self) -> None:
        """Record new log failures while the task runs (checked each second)."""
        if self.record.get("status") != "running":
            return
        f = self._log_failures()
        if f.count != (self.record.get("log_failures") or {}).get("count"):
            self.write("running")

    # The task.

    def start(self, *, reattach: bool = False) -> None:
        """Create and start a task logged (and teed to attached clients);
        with `reattach`, take over the running task of a monitor that was
        killed, as dockerd's restore does (`attach_task` on its FIFOs)."""
        if self.generation == 0 and not reattach:
            # The record (and the space for its last version) before any
            # output can fill the disk.
            self.write("created", create=True)
        log = stdio.Log(self.args["log_driver"], tee=self._tee)
        log.opts = dict(self.args["log_opts"])
        if reattach:
            task = self.ctr.attach_task(attach_stdio=log)
            if task.status() not in (Status.RUNNING, Status.PAUSED):
                raise errors.Conflict(f"container {self.id} is not running")
        else:
            task = self.ctr.new_task(with_stdin=bool(self.args.get("stdin")), attach_stdio=log)
            try:
                task.start()
            except BaseException:
                with contextlib.suppress(errors.Error):
                    task.force_delete()
                raise
        if self.log is not None:
            self.failures += self.log.failures()
        self.task, self.log, self.stdin = task, log, log.stdin
        self.health = healthrecord.record(task, self.path.parent, self.args.get("health"))
        self.started = time.time()
        if reattach:  # what the killed monitor recorded goes on
            old = read_state(self.args["state_dir"], self.id)
            if old is not None:
                self.restart_count = old.restart_count
                self.manager = RestartManager(self.policy, old.restart_count)
                self.failures = old.log_failures
                if old.started_at is not None:
                    self.started = old.started_at.timestamp()
        self.generation += 1
        self.manually_stopped = False
        self.write("running")
        self.changed.notify_all()

    def _tee(self, dio: DirectIO) -> DirectIO:
        self.pumps = []
        for src, kind in ((dio.stdout, OUT), (dio.stderr, ERR)):
            if src is not None:
                pump = threading.Thread(target=self._pump, args=(src, kind), daemon=True,
                                        name=f"monitor-{kind}")
                pump.start()
                self.pumps.append(pump)
        return dio

    def _pump(self, src: IO[bytes], kind: int) -> None:
        """Always read (the log waits for this tee); hand each chunk to the
        attached clients."""
        try:
            while chunk := src.read1(65536):  # type: ignore[attr-defined]
                for a in list(self.attached):
                    a.send(kind, chunk)
        except (OSError, ValueError):
            pass
        finally:
            src.close()

    def wait_exit(self, task: Task) -> tuple[int, float]:
        """The task's exit code and time: from libcontainerd's EXIT event,
        or, when containerd restarted meanwhile and the event was lost, as
        dockerd's restore finds it (the task STOPPED, `delete` gives the
        exit; a task containerd deleted is 255, Moby's code for an exit it
        cannot read)."""
        while True:
            try:
                info = task.wait(timeout=2.0)
                return info.exit_code, (info.exited_at.timestamp() if info.exited_at
                                        else time.time())
            except errors.Deadline:
                pass
            with self.lock:
                self._refresh_failures()
            try:
                status = task.status()
            except errors.NotFound:
                # Deleted under us: by rm -f, or by a containerd 1.7/2.x that
                # found it exited when it restarted (testing.drops_tasks_that_
                # exited_while_down); dockerd's restore records 255 then.
                return (-1 if self.removing else 255), time.time()
            except (errors.Unavailable, errors.Deadline, errors.Closed):
                continue  # containerd is away: the shim and the FIFOs are not
            if status is Status.STOPPED:
                if self.removing:
                    return -1, time.time()  # the remover deletes it
                with contextlib.suppress(errors.Deadline):
                    info = task.wait(timeout=1.0)  # the event, if it was only late
                    return info.exit_code, (info.exited_at.timestamp() if info.exited_at
                                            else time.time())
                try:
                    st = task.delete()
                except errors.NotFound:
                    return (-1 if self.removing else 255), time.time()
                except errors.Error:
                    continue
                return st.exit_code, (st.exited_at.timestamp() if st.exited_at else time.time())

    def stopped(self, code: int, exited: float) -> None:
        """After an exit (the output drained): the task deleted (dockerd's
        handleContainerExit), the exit recorded; attached clients told."""
        assert self.task is not None
        if not self.removing:  # else the remover deletes it (two deletes race at the shim)
            with contextlib.suppress(errors.Error):
                self.task.delete()
        self.write("exited", exit_code=code, exited_at=exited)
        exit_frame = json.dumps({"exit_code": code}).encode()
        for a in self.attached:
            a.send(EXIT, exit_frame)
            with contextlib.suppress(OSError):
                a.conn.shutdown(socket.SHUT_RDWR)
        self.attached = []
        self.changed.notify_all()

    def life(self) -> None:
        """Exits and restarts until the container stops for good."""
        try:
            self._life()
        finally:
            with self.lock:
                self.ended = True
                self.changed.notify_all()

    def _life(self) -> None:
        while True:
            assert self.task is not None
            code, exited = self.wait_exit(self.task)
            if self.health is not None:  # before the exited task is deleted
                self.health.stop()
                self.health = None
            if self.log is not None:
                self.log.wait(30)  # the output drained (dockerd: StreamConfig.Wait)
            for pump in self.pumps:
                pump.join(30)  # and handed to attached clients, before their exit frame
            with self.lock:
                ran = exited - self.started
                self.stopped(code, exited)
                if self.removing:
                    return
                restart = self.restart_requested
                if not restart:
                    try:
                        restart = self.manager.should_restart(code, self.manually_stopped, ran)
                    except errors.Error:  # canceled (a kill, a removal)
                        restart = False
                    if not restart:
                        return
                    self.write("restarting", exit_code=code, exited_at=exited)
            if not self.restart_requested:
                try:
                    while not self.manager.wait(1.0):
                        pass
                except errors.Canceled:
                    if not self.restart_requested:
                        with self.lock:
                            self.write("exited", exit_code=code, exited_at=exited)
                        return
            with self.lock:
                if self.removing:
                    return
                if self.restart_requested:  # `restart`: Moby resets the manager
                    self.restart_requested = False
                    self.manager = RestartManager(self.policy)
                    self.restart_count = 0
                else:
                    self.restart_count += 1
                try:
                    self.start()
                except errors.Error as e:
                    self.write("exited", exit_code=code, exited_at=exited,
                               error=f"{type(e).__name__}: {e}")
                    return

    # Requests on the control socket.

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True,
                             name="monitor-conn").start()

    def _handle(self, conn: socket.socket) -> None:
        keep = False
        try:
            uid = os.getuid()
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, peer_uid, _ = struct.unpack("3i", creds)
            if peer_uid not in (0, uid):
                return
            f = conn.makefile("rb")
            request = json.loads(f.readline() or b"{}")
            try:
                answer, keep = self._do(request, conn, f)
            except errors.Error as e:
                answer = {"error": f"{type(e).__name__}:{e}"}
            if answer is not None:
                conn.sendall(json.dumps(answer).encode() + b"\n")
        except (OSError, ValueError):
            pass
        finally:
            if not keep:
                with contextlib.suppress(OSError):
                    conn.close()

    def _do(self, request: Mapping[str, Any], conn: socket.socket,
            f: IO[bytes]) -> tuple[dict[str, Any] | None, bool]:
        op = request.get("op")
        if op == "state":
            with self.lock:
                self._refresh_failures()
                return dict(self.record), False
        if op == "kill":
            return self.kill(int(request.get("signal", _signal.SIGKILL))), False
        if op == "restart":
            return self.restart(float(request.get("stop_timeout", 10.0))), False
        if op == "remove":
            with self.lock:
                self.removing = True
                self.manager.cancel()
            return {}, False
        if op == "logs":
            reader = self.client.logs(self.id, follow=True, since=request.get("since"),
                                      until=request.get("until"), tail=request.get("tail"),
                                      timestamps=bool(request.get("timestamps")))
            try:
                conn.sendall(b"{}\n")
            except OSError:
                reader.close()
                raise
            threading.Thread(target=self._send_logs, args=(reader, conn), daemon=True,
                             name="monitor-logs").start()
            return None, True
        if op == "attach":
            with self.lock:
                if self.record.get("status") == "restarting":  # the docker CLI's messages
                    raise errors.Conflict("You cannot attach to a restarting container, wait"
                                          " until it is running")
                if self.record.get("status") != "running":
                    raise errors.Conflict("You cannot attach to a stopped container, start it"
                                          " first")
                a = _Attached(conn)
                conn.sendall(b"{}\n")
                self.attached.append(a)
            threading.Thread(target=self._input, args=(f, bool(request.get("stdin"))),
                             daemon=True, name="monitor-stdin").start()
            return None, True
        raise errors.InvalidParameter(f"unknown monitor request {op!r}")

    def _send_logs(self, reader: LogReader, conn: socket.socket) -> None:
        """A `logs -f` connection: the log's lines until the container's
        output ends (Moby's follow on the live logger) or the reader goes."""
        try:
            with reader:
                for line in reader:
                    nanos = int(line.time.timestamp() * 1e9)
                    conn.sendall(_frame(OUT if line.stream == "stdout" else ERR,
                                        struct.pack(">q", nanos) + line.data))
        except (OSError, errors.Error):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _input(self, f: IO[bytes], stdin: bool) -> None:
        """An attached client's stdin and terminal sizes."""
        with contextlib.suppress(OSError, ValueError, errors.Error):
            while (frame := read_frame(f)) is not None:
                kind, payload = frame
                if kind == STDIN and stdin and self.stdin is not None:
                    view = memoryview(payload)  # a raw FIFO: writes may be partial
                    while view:
                        view = view[self.stdin.write(view) or 0:]
                elif kind == RESIZE and self.task is not None:
                    width, height = (int(x) for x in payload.split())
                    self.task.resize(width, height)
                # STDIN_EOF: the stdin stays open for later attaches (docker's
                # StdinOnce is false for run -di).

    def kill(self, signum: int) -> dict[str, Any]:
        """dockerd's killWithSignal: the container counts as stopped by hand
        (unless-stopped does not restart it) and, without a stop signal of
        its own, its restart manager is canceled (ExitOnNext)."""
        with self.lock:
            status = self.record.get("status")
            if status not in ("running", "restarting") or self.task is None:
                raise errors.Conflict(f"Container {self.id} is not running")
            self.manually_stopped = True
            self.manager.cancel()
            if status == "running":  # a restarting one: canceling is enough
                try:
                    kill_task(self.task, signum)
                except errors.Error:
                    with contextlib.suppress(errors.Error):
                        if self.task.status() is not Status.RUNNING:
                            return {}  # it exited meanwhile: its exit is on its way
                    raise
        return {}

    def restart(self, stop_timeout: float) -> dict[str, Any]:
        """dockerd's containerRestart: stop (SIGTERM, SIGKILL after
        `stop_timeout`), then start again with a fresh restart manager."""
        with self.lock:
            generation = self.generation
            self.restart_requested = True
            self.manually_stopped = True
            self.manager.cancel()
            task = self.task if self.record.get("status") == "running" else None
            if task is not None:
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    kill_task(task, _signal.SIGTERM)
            deadline = time.monotonic() + stop_timeout
            killed = task is None
            while self.generation == generation and not self.ended:
                left = deadline - time.monotonic()
                if left <= 0 and not killed and task is not None:
                    with contextlib.suppress(errors.Error):
                        kill_task(task, _signal.SIGKILL)
                    killed = True
                    deadline = time.monotonic() + 30.0
                    continue
                if left <= 0:
                    raise errors.Deadline(f"container {self.id} did not restart")
                self.changed.wait(min(left, 1.0))
            if self.generation == generation:
                if self.record.get("error"):
                    raise errors.Unknown(self.record["error"])
                raise errors.NotFound(f"the monitor of {self.id} is ending")
        return {}


def run(args: Mapping[str, Any]) -> int:
    """The monitor's life (in its own process)."""
    ready = os.fdopen(int(args["ready_fd"]), "wb", buffering=0)
    id = args["id"]
    try:
        client = Client.connect(args["address"], namespace=args["namespace"],
                                state_dir=args["state_dir"], timeout=float(args["timeout"]))
    except errors.Error as e:
        ready.write(f"{type(e).__name__}:{e}".encode())
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    with client, listener:
        try:
            listener.bind(socket_name(args["state_dir"], args["namespace"], id))
            listener.listen(16)
        except OSError as e:
            ready.write(f"Conflict:container {id} has a monitor already ({e})".encode())
            return 1
        try:
            m = _Monitor(args, client, client.load_container(id))
            with m.lock:
                m.start(reattach=bool(args.get("reattach")))
        except errors.Error as e:
            ready.write(f"{type(e).__name__}:{e}".encode())
            return 1
        threading.Thread(target=m.serve, args=(listener,), daemon=True,
                         name="monitor-serve").start()
        ready.write(b"ok\n")
        ready.close()
        m.life()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run(json.loads(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
