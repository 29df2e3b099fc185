"""The `pylibctrd` command, run as a subprocess against the session's containerd
(and, for `daemon` and the embedded fallback, against its own)."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import pylibctrd
from pylibctrd import imagebuild
from pylibctrd.testing import Env, remove_container, remove_runc_root, runtime_under_test

SCRIPT = Path(sys.executable).parent / "pylibctrd"


class CLI:
    """Runs the command against the session's containerd; removes what it made."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.ids: list[str] = []
        self.base = [sys.executable, "-m", "pylibctrd", "--address", env.address,
                     "--namespace", env.namespace, "--state-dir", str(env.bundles)]

    def new_id(self) -> str:
        id = f"cli-{uuid.uuid4().hex[:10]}"
        self.ids.append(id)
        return id

    def argv(self, *args: str) -> list[str]:
        if args and args[0] == "run":
            args = ("run", "--cgroup-parent", "/pylibctrd-test", *args[1:])
        return [*self.base, *args]

    def __call__(self, *args: str, input: bytes | None = None,
                 timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(*args), input=input, capture_output=True,
                              timeout=timeout)

    def ok(self, *args: str) -> str:
        r = self(*args)
        assert r.returncode == 0, (args, r.returncode, r.stderr.decode())
        return r.stdout.decode()

    def json(self, *args: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok(*args, "--json").splitlines()]

    def detached(self, *cmd: str) -> str:
        id = self.new_id()
        assert self.ok("run", "-d", "--name", id, "--rootfs", str(self.env.rootfs), *cmd) == f"{id}\n"
        return id

    def ps(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.json("ps", "-a")}


@pytest.fixture
def cli(env: Env) -> Iterator[CLI]:
    c = CLI(env)
    yield c
    with env.connect() as client:
        for id in c.ids:
            remove_container(client, id)
            try:
                client.release_rootfs(id)
            except pylibctrd.errors.NotFound:
                pass
        for img in client.images():
            if img.name.startswith("cli-img-"):
                client.remove_image(img.name)


def listed(env: Env) -> list[str]:
    return env.ctr("containers", "list", "-q").split()


# --- without containerd -----------------------------------------------------------

def test_version_json_names_the_builds_and_the_daemon(cli: CLI) -> None:
    [v] = cli.json("version")
    assert v["client"] == dataclasses.asdict(pylibctrd.versions())
    assert v["server"]["containerd"] and v["server"]["namespace"] == cli.env.namespace


def test_usage_errors_exit_125_in_one_line() -> None:
    r = subprocess.run([str(SCRIPT), "run", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 125
    assert r.stderr.splitlines()[-1].startswith("pylibctrd: Error: unrecognized arguments")
    r = subprocess.run([str(SCRIPT), "events", "--filter", "color=red"], capture_output=True,
                       text=True, env={**os.environ, "PYLIBCTRD_ADDRESS": "/nonexistent.sock"})
    assert r.returncode == 125 and "invalid filter" in r.stderr


def test_every_command_has_help_with_an_example() -> None:
    from pylibctrd.cli import parser

    sub = next(a for a in parser()._actions if a.dest == "command")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        assert "example" in p.format_help(), name


# --- against the session's containerd ----------------------------------------------

def test_exit_codes(cli: CLI, env: Env) -> None:
    rootfs = str(env.rootfs)
    assert cli("run", "--rm", "--rootfs", rootfs, "true").returncode == 0
    r = cli("run", "--rm", "--rootfs", rootfs, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    r = cli("run", "--rm", "--rootfs", rootfs, "nonexistent")
    assert r.returncode == 127
    # The runtime's words (COMPATIBILITY.md, "runc and crun"): crun names the file.
    crun = runtime_under_test() == "crun"
    missing = "executable file `nonexistent` not found" if crun else "executable file not found"
    assert r.stderr.decode().count("\n") == 1 and missing in r.stderr.decode()
    r = cli("run", "--rm", "--rootfs", rootfs, "/etc/passwd")  # not executable
    denied = b"open executable: Permission denied" if crun else b"permission denied"
    assert r.returncode == 126 and denied in r.stderr
    r = cli("run", "--rm", "--rootfs", rootfs + "/missing", "true")
    assert r.returncode == 125 and r.stderr.startswith(b"pylibctrd: Error: rootfs ")
    id = cli.new_id()
    cli.ok("run", "--name", id, "--rootfs", rootfs, "true")  # without --rm: kept, no task
    assert cli.ps()[id]["status"] == "exited"
    r = cli("run", "--name", id, "--rootfs", rootfs, "true")  # the id is taken
    assert r.returncode == 125 and b"already in use" in r.stderr
    r = cli("--log-level", "debug", "run", "--name", id, "--rootfs", rootfs, "true")
    assert r.returncode == 125 and b"Traceback" in r.stderr  # debug shows where
    assert env.ctr("tasks", "list", "-q").split() == []


def test_run_rm_leaves_nothing(cli: CLI, env: Env) -> None:
    id = cli.new_id()
    assert cli.ok("run", "--rm", "--name", id, "-e", "GREETING=hi", "-w", "/tmp", "-u", "1:2",
                  "--rootfs", str(env.rootfs), "sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g)"'
                  ) == "hi /tmp 1:2\n"
    assert id not in listed(env)
    assert env.ctr("tasks", "list", "-q").split() == []
    assert not (env.bundles / id).exists()


def test_stdin_pipes_through_run_and_exec(cli: CLI, env: Env) -> None:
    r = cli("run", "-i", "--rm", "--rootfs", str(env.rootfs), "sh", "-c", "cat; echo done",
            input=b"line 1\nline 2\n")
    assert (r.returncode, r.stdout) == (0, b"line 1\nline 2\ndone\n")
    id = cli.detached("sleep", "60")
    r = cli("exec", "-i", id, "wc", "-c", input=b"x" * 100000)
    assert (r.returncode, r.stdout.strip()) == (0, b"100000")
    assert cli("exec", id, "sh", "-c", "exit 5").returncode == 5
    assert cli("exec", id, "nonexistent").returncode == 127
    assert cli("exec", "no-such-ctr", "true").returncode == 125


def test_ps_top_stats_pause_resume(cli: CLI, env: Env) -> None:
    id = cli.detached("sleep", "60")
    other = cli.detached("sh", "-c", "exit 0")
    rows = {r["id"]: r for r in cli.json("ps")}
    assert rows[id]["status"] == "running" and rows[id]["command"] == ["sleep", "60"]
    assert rows[id]["rootfs"] == str(env.rootfs) and rows[id]["pid"] > 0
    assert cli.ok("ps", "-q").split().count(id) == 1
    pid = rows[id]["pid"]
    assert cli.json("top", id) == [{"pid": pid, "command": "sleep 60"}]
    [stats] = cli.json("stats", "--no-stream", id)
    assert stats["id"] == id and stats["pids"] == 1 and stats["memory_usage"] > 0
    assert stats["cpu_percent"] is not None and stats["metrics"]
    assert cli.ok("pause", id) == f"{id}\n"
    assert cli.ps()[id]["status"] == "paused"
    assert cli.ok("resume", id) == f"{id}\n"
    assert cli.ps()[id]["status"] == "running"
    deadline = time.monotonic() + 30
    while cli.ps()[other].get("exit_code") is None:  # its monitor records the exit
        assert time.monotonic() < deadline, "the exit was not recorded"
        time.sleep(0.1)
    assert cli.ps()[other]["status"] == "exited"  # its task deleted at the exit, as dockerd does
    assert other not in cli.ok("ps", "-q").split()


def test_kill_term_reaches_the_process_and_its_exit_code_the_caller(cli: CLI, env: Env) -> None:
    id = cli.new_id()
    run = subprocess.Popen(
        cli.argv("run", "--rm", "--name", id, "--rootfs", str(env.rootfs), "sh", "-c",
                 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done'),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert run.stdout is not None and run.stdout.readline() == b"ready\n"
        assert cli.ok("kill", "-s", "TERM", id) == f"{id}\n"
        assert run.wait(20) == 3
        assert run.stdout.read() == b"got TERM\n"
    finally:
        run.kill()
        run.wait()
    assert id not in listed(env)


def test_rm(cli: CLI, env: Env) -> None:
    id = cli.detached("sleep", "60")
    r = cli("rm", id)
    assert r.returncode == 1 and b"container is running" in r.stderr
    assert cli.ok("rm", "-f", id) == f"{id}\n"
    assert id not in listed(env) and env.ctr("tasks", "list", "-q").split() == []
    r = cli("rm", id)
    assert r.returncode == 1 and r.stderr == f"pylibctrd: Error: no such container: {id}\n".encode()
    assert cli("rm", "-f", id).returncode == 0  # as docker: gone is fine with -f


def test_events_filters(cli: CLI, env: Env) -> None:
    a, b = cli.detached("sleep", "60"), cli.detached("sleep", "60")
    events = subprocess.Popen(
        cli.argv("events", "--json", "--filter", f"container={a}", "--filter", "type=paused",
                 "--filter", "type=exit"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert events.stdout is not None
        os.set_blocking(events.stdout.fileno(), False)
        lines: list[dict[str, Any]] = []
        # Pause until the stream shows it: from then on it is subscribed.
        deadline = time.monotonic() + 20
        while not lines and time.monotonic() < deadline:
            cli.ok("pause", a, b)
            cli.ok("resume", a, b)
            time.sleep(0.3)
            lines += [json.loads(x) for x in (events.stdout.read() or b"").splitlines()]
        assert lines, "no event within 20s"
        cli.ok("kill", b, a)
        while not any(e["type"] == "exit" for e in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
            lines += [json.loads(x) for x in (events.stdout.read() or b"").splitlines()]
        events.send_signal(signal.SIGINT)
        assert events.wait(10) == 0
        lines += [json.loads(x) for x in (events.stdout.read() or b"").splitlines()]
    finally:
        events.kill()
        events.wait()
    assert {e["container_id"] for e in lines} == {a}
    assert {e["type"] for e in lines} == {"paused", "exit"}
    [exit] = [e for e in lines if e["type"] == "exit"]
    assert exit["exit_code"] == 137 and exit["process_id"] == a and exit["exited_at"]


# --- a terminal, in tmux --------------------------------------------------------------

class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on the screen:\n{self.screen()}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make system)")
def test_interactive_terminal_in_tmux(cli: CLI, env: Env) -> None:
    id = cli.new_id()
    tmux = Tmux(f"pylibctrd-{id}")
    tmux("new-session", "-d", "-s", tmux.name, "-x", "100", "-y", "30", "sh")
    try:
        tmux("set-option", "-t", tmux.name, "status", "off")
        tmux("set-option", "-t", tmux.name, "window-size", "manual")
        cmd = " ".join(cli.argv("run", "-it", "--rm", "--name", id, "--rootfs", str(env.rootfs),
                                "sh"))
        before, after = env.workdir / f"{id}.before", env.workdir / f"{id}.after"
        tmux("send-keys", "-t", tmux.name,
             f"stty -a > {before}; {cmd}; echo EXIT=$?; stty -a > {after}", "Enter")
        tmux.wait_for("\n/ #")  # busybox sh's prompt, through the container's terminal
        rows, cols = tmux("display", "-p", "-t", tmux.name, "#{pane_height} #{pane_width}").split()
        tmux("send-keys", "-t", tmux.name, "echo size=$(stty size)", "Enter")
        screen = tmux.wait_for(f"size={rows} {cols}\n")
        assert screen.count("echo size=") == 1  # raw mode: only the container's pty echoes
        tmux("resize-window", "-t", tmux.name, "-x", "120", "-y", "40")
        tmux("send-keys", "-t", tmux.name, "echo size=$(stty size)", "Enter")
        tmux.wait_for("size=40 120\n")  # SIGWINCH -> resize reached the container
        tmux("send-keys", "-t", tmux.name, "sleep 30", "Enter")
        time.sleep(0.3)
        tmux("send-keys", "-t", tmux.name, "C-c")  # raw mode: ^C goes to the container's shell
        tmux.wait_for("^C")
        tmux("send-keys", "-t", tmux.name, "C-d")  # EOF on the terminal: sh exits
        tmux.wait_for("EXIT=130")  # the shell's status after ^C, then exit: sh exits 130
        deadline = time.monotonic() + 10
        while (not after.exists() or not after.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        # The terminal is as it was (sane), but for its new size on the first line.
        settings = after.read_text().split("\n", 1)[1]
        assert settings == before.read_text().split("\n", 1)[1]
        assert {"icanon", "echo", "isig"} <= set(settings.replace(";", " ").split())
    finally:
        subprocess.run(["tmux", "kill-session", "-t", tmux.name], capture_output=True)
    assert id not in listed(env)


# --- `daemon`, and no daemon at all ----------------------------------------------------

@pytest.fixture
def own_dirs(env: Env) -> Iterator[dict[str, str]]:
    """An environment where the embedded default lives in a fresh directory (short:
    the socket path must fit in sun_path)."""
    d = tempfile.mkdtemp(prefix="pcli")
    ns = f"{env.namespace}-cli"
    yield {**os.environ, "PYLIBCTRD_ROOT": f"{d}/root", "PYLIBCTRD_EXEC_ROOT": f"{d}/run",
           "PYLIBCTRD_NAMESPACE": ns}
    remove_runc_root(ns)
    shutil.rmtree(d, ignore_errors=True)


def _containerd_gone(run_dir: str) -> bool:
    pid_file = Path(run_dir) / "containerd" / "containerd.pid"
    if not pid_file.exists():
        return True
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (ProcessLookupError, ValueError):
        return True
    return False


def test_daemon_then_run_d_from_another_process_then_ps(env: Env, own_dirs: dict[str, str]) -> None:
    cmd = [str(SCRIPT)]
    daemon = subprocess.Popen([*cmd, "daemon"], env=own_dirs, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().decode().strip()
        assert address == f"{own_dirs['PYLIBCTRD_EXEC_ROOT']}/containerd/containerd.sock"

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*cmd, *args], env=own_dirs, capture_output=True, text=True,
                                  timeout=30)

        r = run("run", "-d", "--name", "web", "--cgroup-parent", "/pylibctrd-test", "--rootfs",
                str(env.rootfs), "sleep", "60")
        assert (r.returncode, r.stdout) == (0, "web\n"), r.stderr
        assert "starting" not in r.stderr  # it found the daemon
        [row] = [json.loads(line) for line in run("ps", "--json").stdout.splitlines()]
        assert (row["id"], row["status"]) == ("web", "running")
        assert run("exec", "web", "sh", "-c", "exit 4").returncode == 4
        assert run("rm", "-f", "web").returncode == 0
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(30)
    assert _containerd_gone(own_dirs["PYLIBCTRD_EXEC_ROOT"])


def test_without_a_daemon_run_starts_one_for_itself(env: Env, own_dirs: dict[str, str]) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env=own_dirs, capture_output=True,
                              text=True, timeout=60)

    r = run("ps")
    assert r.returncode == 1 and "`pylibctrd daemon`" in r.stderr
    r = run("run", "-d", "--rootfs", str(env.rootfs), "true")
    assert r.returncode == 125 and "`pylibctrd daemon`" in r.stderr
    r = run("run", "--rm", "--cgroup-parent", "/pylibctrd-test", "--rootfs", str(env.rootfs),
            "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert "starting one for this command" in r.stderr
    assert _containerd_gone(own_dirs["PYLIBCTRD_EXEC_ROOT"])  # no orphan containerd


# --- images: import, images, rmi, run IMAGE ----------------------------------------------

def held(env: Env) -> dict[str, list[str]]:
    """What containerd holds for rootfs in the namespace (`ctr`), and the mounts."""
    def column(*args: str) -> list[str]:
        return sorted(line.split()[0] for line in env.ctr(*args).splitlines()[1:] if line.strip())
    home = f"{env.bundles}-images"
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if home in line]
    return {"snapshots": column("snapshots", "ls"), "leases": column("leases", "ls"),
            "mounts": mounts}


def image_archive(tmp_path: Path, name: str | None, **config: Any) -> imagebuild.BuiltImage:
    return imagebuild.busybox_image(tmp_path / f"{uuid.uuid4().hex[:6]}.tar", name=name,
                                    config=config)


def new_image(cli: CLI, tmp_path: Path, **config: Any) -> str:
    name = f"cli-img-{uuid.uuid4().hex[:8]}:1"
    built = image_archive(tmp_path, name, **config)
    assert cli.ok("import", str(built.path)) == f"Loaded image: {name}\n"
    return name


def test_import_images_rmi(cli: CLI, env: Env, tmp_path: Path) -> None:
    name = f"cli-img-{uuid.uuid4().hex[:8]}:1"
    built = image_archive(tmp_path, name)
    r = cli("import", str(built.path))
    # Not a terminal: no progress, only docker load's line.
    assert (r.returncode, r.stdout, r.stderr) == (0, f"Loaded image: {name}\n".encode(), b"")
    [row] = [i for i in cli.json("images") if i["name"] == name]
    assert row["repository"] == name.split(":")[0] and row["tag"] == "1"
    assert row["digest"] == built.digest and row["size"] > 1_000_000
    assert row["config"]["Cmd"] == ["sh"]
    assert cli.ok("images", "--format", "json") == cli.ok("images", "--json")
    table = cli.ok("images").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    assert any(line.split()[:3] == [name.split(":")[0], "1", built.digest[7:19]] for line in table)
    assert built.digest[7:19] in cli.ok("images", "-q").split()
    # Untagged, named on import, read from stdin.
    untagged = image_archive(tmp_path, None, Env=["X=1"])
    other = f"cli-img-{uuid.uuid4().hex[:8]}:2"
    r = cli("import", "--name", other, "-", input=untagged.path.read_bytes())
    assert (r.returncode, r.stdout) == (0, f"Loaded image: {other}\n".encode()), r.stderr
    assert cli.ok("rmi", name, other) == (f"Untagged: {name}\nDeleted: {built.digest}\n"
                                          f"Untagged: {other}\nDeleted: {untagged.digest}\n")
    assert [i for i in cli.json("images") if i["name"] in (name, other)] == []
    r = cli("rmi", name)
    assert r.returncode == 1 and r.stderr == f"pylibctrd: Error: No such image: {name}\n".encode()
    r = cli("import", str(tmp_path / "missing.tar"))
    assert r.returncode == 1 and b"No such file or directory" in r.stderr
    (tmp_path / "junk.tar").write_bytes(b"not an archive" * 100)
    r = cli("import", str(tmp_path / "junk.tar"))
    assert r.returncode == 1 and r.stderr.startswith(b"pylibctrd: Error: ")
    assert r.stderr.count(b"\n") == 1 and held(env)["leases"] == []


def test_import_shows_progress_on_a_terminal_only(cli: CLI, tmp_path: Path) -> None:
    name = f"cli-img-{uuid.uuid4().hex[:8]}:1"
    built = image_archive(tmp_path, name)
    master, slave = pty.openpty()
    try:
        r = subprocess.run(cli.argv("import", str(built.path)), stdout=subprocess.PIPE,
                           stderr=slave, timeout=60)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert (r.returncode, r.stdout) == (0, f"Loaded image: {name}\n".encode())
    size = built.path.stat().st_size / 1e6
    assert b"reading archive: " in shown and f"/ {size:.3g}MB (100%)".encode() in shown, shown
    assert shown.endswith(b"\r\x1b[K")  # the progress line is wiped at the end


def test_run_image_with_docker_run_rules_and_rm_leaves_nothing(cli: CLI, env: Env,
                                                               tmp_path: Path) -> None:
    before = held(env)
    name = new_image(cli, tmp_path, Env=["FOO=image", "BAR=image"], WorkingDir="/tmp",
                     User="nobody", Cmd=["sh", "-c", "echo default $FOO $(pwd) $(id -u)"])
    unpacked = held(env)
    assert cli.ok("run", "--rm", name) == "default image /tmp 65534\n"
    r = cli("run", "--rm", "-e", "FOO=cli", "-w", "/", "-u", "0", name, "sh", "-c",
            'echo "$FOO $BAR $(pwd) $(id -u)"; ls /bin/busybox')
    assert (r.returncode, r.stdout) == (0, b"cli image / 0\n/bin/busybox\n"), r.stderr
    r = cli("run", "-i", "--rm", name, "cat", input=b"through stdin\n")
    assert (r.returncode, r.stdout) == (0, b"through stdin\n")
    assert cli("run", "--rm", name, "sh", "-c", "exit 3").returncode == 3
    assert cli("run", "--rm", name, "nonexistent").returncode == 127
    r = cli("run", "--rm", "--pull", "never", "cli-img-missing:1")
    assert r.returncode == 125 and r.stderr.startswith(b"pylibctrd: Error: No such image: ")
    r = cli("run", "--rm", "-u", "nosuchuser", name, "true")
    assert r.returncode == 125 and b"unable to find user nosuchuser" in r.stderr
    # Every run above removed its container and released its rootfs.
    assert held(env) == unpacked and listed(env) == []
    assert cli.ok("rmi", name).startswith("Untagged: ")
    assert held(env) == before


def test_run_d_image_then_rm_from_other_processes_releases_the_rootfs(
        cli: CLI, env: Env, tmp_path: Path) -> None:
    name = new_image(cli, tmp_path)
    unpacked = held(env)
    id = cli.new_id()
    assert cli.ok("run", "-d", "--name", id, name, "sleep", "60") == f"{id}\n"
    row = cli.ps()[id]
    assert (row["image"], row["status"], row["command"]) == (name, "running", ["sleep", "60"])
    assert row["rootfs"] == f"{env.bundles}-images/rootfs/overlayfs/{id}"
    assert any(line.split()[:2] == [id, name] for line in cli.ok("ps").splitlines())
    assert held(env)["leases"] == [id] and held(env)["mounts"] == [row["rootfs"]]
    assert cli.ok("exec", id, "hostname") == f"{id}\n"
    # The id is taken: refused before anything is prepared for it.
    r = cli("run", "--name", id, name, "true")
    assert r.returncode == 125 and b"already in use" in r.stderr
    # The image is in use by a container that another process made.
    r = cli("rmi", name)
    assert r.returncode == 1 and b"(must force) - container " + id.encode() in r.stderr
    r = cli("rm", id)
    assert r.returncode == 1 and b"container is running" in r.stderr
    assert held(env)["leases"] == [id]
    assert cli.ok("rm", "-f", id) == f"{id}\n"  # a third process releases it
    assert held(env) == unpacked and listed(env) == []
    assert not os.path.exists(row["rootfs"])
    # Without --rm an exited container keeps its rootfs until `rm`.
    id = cli.new_id()
    assert cli.ok("run", "--name", id, name, "true") == ""
    assert cli.ps()[id]["status"] == "exited" and held(env)["leases"] == [id]
    assert cli.ok("rm", id) == f"{id}\n"
    assert held(env) == unpacked


def test_inspect_a_container_and_an_image(cli: CLI, env: Env, tmp_path: Path) -> None:
    id = cli.detached("sleep", "60")
    [ctr] = json.loads(cli.ok("inspect", id))
    assert ctr["id"] == id and ctr["status"] == "running" and ctr["pid"] > 0
    assert ctr["spec"]["process"]["args"] == ["sleep", "60"]  # containerd's record of it
    assert ctr["spec"]["root"]["path"] == str(env.rootfs)
    assert ctr["bundle_dir"] == str(env.bundles / id) and Path(ctr["bundle_dir"]).is_dir()
    # What the spec holds is read from it, not stored again as labels.
    assert not any(k.startswith("pylibctrd.") for k in ctr["labels"])
    name = new_image(cli, tmp_path)
    [img] = json.loads(cli.ok("inspect", name))
    assert img == [i for i in cli.json("images") if i["name"] == name][0]
    # docker's answer for names that match nothing: what was found, one line each, 1.
    r = cli("inspect", "--type", "container", name, id)
    assert r.returncode == 1 and [o["id"] for o in json.loads(r.stdout)] == [id]
    assert r.stderr == f"pylibctrd: Error: no such object: {name}\n".encode()
    r = cli("inspect", "--type", "image", id, "Not/A Reference")
    assert r.returncode == 1 and json.loads(r.stdout) == [] and r.stderr.count(b"\n") == 2
