"""A monitor process per detached container (podman's conmon design, in
its simplest form): `run -d` starts `python -m pylibctrd.monitor`, which
creates and starts the task with its stdio going to the container's log
(`stdio.Log`: Moby's log driver fed by Moby's copier), tells the starter it
runs, and then holds the FIFOs until the container exits, so output never
blocks on a full pipe and nobody has to stay attached. It records the exit
code and time in `<state_dir>-images/containers/<id>/monitor.json` and ends.
It survives the CLI that started it (its own session, stdio on /dev/null).

With a health check (`spawn(health=...)`), it probes the container as
`task.start_health` does and records each result for other processes
(`pylibctrd.healthrecord`).

Only the public API is used. Not yet: restart policies and reattaching
(`attach`) in the monitor, surviving a containerd restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import errors, healthrecord, stdio
from .client import Client

STATE_FILE = "monitor.json"


@dataclass(frozen=True)
class MonitorState:
    """What a container's monitor recorded: "running" (with the monitor's
    pid, `alive` whether it still runs) or "exited" with the code and time."""

    status: str
    pid: int
    alive: bool
    started_at: datetime | None
    exit_code: int | None = None
    exited_at: datetime | None = None


def state_path(state_dir: str, id: str) -> Path:
    return Path(f"{state_dir}-images") / "containers" / id / STATE_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


def read_state(state_dir: str, id: str) -> MonitorState | None:
    """The monitor's record of container `id`, or None if it had none."""
    try:
        data = json.loads(state_path(state_dir, id).read_text())
    except (OSError, ValueError):
        return None
    return MonitorState(data["status"], data["pid"],
                        data["status"] == "running" and _alive(data["pid"]),
                        _time(data.get("started_at")), data.get("exit_code"),
                        _time(data.get("exited_at")))


def _write_state(path: Path, state: Mapping[str, Any], *, create: bool) -> None:
    """Atomically; without `create` only while the container's dir exists
    (a removed container is not brought back)."""
    if not create and not path.parent.is_dir():
        return
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)
    except FileNotFoundError:
        pass  # the container was removed meanwhile


def spawn(address: str, namespace: str, state_dir: str, id: str, *, log_driver: str = "json-file",
          log_opts: Mapping[str, str] | None = None, timeout: float = 30.0,
          health: Mapping[str, Any] | None = None) -> int:
    """Start container `id`'s monitor, which creates and starts its task
    (and probes it with `health`, docker's HealthConfig, if given);
    returns the monitor's pid once the task runs, or raises the error that
    stopped it (its class, its message)."""
    read_end, write_end = os.pipe()
    args = json.dumps({"address": address, "namespace": namespace, "state_dir": state_dir,
                       "id": id, "log_driver": log_driver, "log_opts": dict(log_opts or {}),
                       "timeout": timeout, "ready_fd": write_end, "health": health})
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
    name, _, msg = answer.partition(":")
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.Error):
        raise cls(msg)
    raise errors.Unknown(answer or f"the monitor of {id} ended at once (exit {proc.returncode})")


def run(args: Mapping[str, Any]) -> int:
    """The monitor's life (in its own process)."""
    ready = os.fdopen(int(args["ready_fd"]), "wb", buffering=0)
    id = args["id"]
    path = state_path(args["state_dir"], id)
    try:
        client = Client.connect(args["address"], namespace=args["namespace"],
                                state_dir=args["state_dir"], timeout=float(args["timeout"]))
    except errors.Error as e:
        ready.write(f"{type(e).__name__}:{e}".encode())
        return 1
    with client:
        try:
            ctr = client.load_container(id)
            log = stdio.Log(args["log_driver"])
            log.opts = dict(args["log_opts"])
            task = ctr.new_task(attach_stdio=log)
            task.start()
            health = healthrecord.record(task, path.parent, args.get("health"))
        except errors.Error as e:
            ready.write(f"{type(e).__name__}:{e}".encode())
            return 1
        started = time.time()
        _write_state(path, {"status": "running", "pid": os.getpid(), "started_at": started},
                     create=True)
        ready.write(b"ok\n")
        ready.close()
        info = task.wait()
        if health is not None:
            health.stop()
        log.wait(30)
        exited = info.exited_at.timestamp() if info.exited_at else time.time()
        _write_state(path, {"status": "exited", "pid": os.getpid(), "exit_code": info.exit_code,
                            "exited_at": exited, "started_at": started}, create=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return run(json.loads(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
