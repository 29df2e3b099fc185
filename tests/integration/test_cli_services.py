"""The CLI's mounts, volumes and logs (issue 20), against the session's containerd."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import pylibctrd
from pylibctrd import imagebuild, monitor
from pylibctrd.healthrecord import HealthRecord, read_health
from pylibctrd.testing import (
    Env, drops_tasks_that_exited_while_down, remove_container, remove_runc_root, wait_healthy,
)


class CLI:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.ids: list[str] = []
        self.volumes: list[str] = []
        self.base = [sys.executable, "-m", "pylibctrd", "--address", env.address,
                     "--namespace", env.namespace, "--state-dir", str(env.bundles)]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        if args[0] == "run":
            id = f"cli-{uuid.uuid4().hex[:10]}"
            self.ids.append(id)
            args = ("run", "--cgroup-parent", "/pylibctrd-test", "--name", id,
                    "--rootfs", str(self.env.rootfs), *args[1:])
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=60)


def record(env: Env, id: str) -> dict[str, Any]:
    """The monitor's record of container id (its file)."""
    data: dict[str, Any] = json.loads(
        Path(f"{env.bundles}-images/containers/{id}/monitor.json").read_text())
    return data


def until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Wait on a state (never a fixed sleep): check()'s first true value."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)
    return value


def monitor_ended(env: Env, id: str) -> bool:
    try:
        data = record(env, id)
    except (OSError, ValueError):
        return False
    return data["status"] == "exited" and not Path(f"/proc/{data['pid']}").exists()


@pytest.fixture
def cli(env: Env) -> Iterator[CLI]:
    c = CLI(env)
    yield c
    monitors = []
    for id in c.ids:
        try:
            monitors.append(record(env, id)["pid"])
        except (OSError, ValueError):
            pass
    with env.connect() as client:
        for id in c.ids:
            remove_container(client, id)
        for name in c.volumes:
            try:
                client.remove_volume(name)
            except Exception:
                pass
    for pid in monitors:  # a removed container's monitor ends with it
        until(f"monitor {pid} ended", lambda: not is_monitor(pid))


def is_monitor(pid: int) -> bool:
    try:
        return b"pylibctrd.monitor" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_run_with_bind_tmpfs_and_volume_then_volume_commands(cli: CLI, tmp_path: Path) -> None:
    vol = f"clivol-{uuid.uuid4().hex[:8]}"
    cli.volumes.append(vol)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "in").write_text("hi\n")
    (tmp_path / "rw").mkdir()
    # Mount points only where the shared rootfs has dirs, or inside the tmpfs.
    r = cli("run", "-v", f"{tmp_path}/ro:/root:ro", "--tmpfs", "/tmp:size=1m", "-v", f"{vol}:/etc",
            "--mount", f"type=bind,src={tmp_path}/rw,dst=/tmp/rw", "--read-only", "sh", "-c",
            "cat /root/in; echo out > /tmp/rw/out; grep ' /tmp ' /proc/mounts | cut -d' ' -f3;"
            " touch /x 2>&1; ls /etc/passwd")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hi" and lines[1] == "tmpfs" and "Read-only file system" in lines[2]
    assert lines[3] == "/etc/passwd"  # the rootfs' /etc copied into the new volume
    assert (tmp_path / "rw" / "out").read_text() == "out\n"
    assert cli("volume", "ls", "-q").stdout.split().count(vol) == 1
    [info] = json.loads(cli("volume", "inspect", vol).stdout)
    assert info["Driver"] == "local" and info["Mountpoint"].endswith(f"/volumes/{vol}/_data")
    r = cli("volume", "rm", vol)
    assert r.returncode == 1 and f"remove {vol}: volume is in use - [{cli.ids[0]}]" in r.stderr
    r = cli("run", "--mount", f"type=bind,src={tmp_path}/nope,dst=/w", "true")
    assert r.returncode == 125
    assert r.stderr.strip().endswith(
        f'invalid mount config for type "bind": bind source path does not exist: {tmp_path}/nope')


def test_logs_of_an_attached_run(cli: CLI) -> None:
    r = cli("run", "--log-opt", "max-size=1m", "sh", "-c", "echo one; echo two >&2; echo three")
    assert (r.returncode, r.stdout, r.stderr) == (0, "one\nthree\n", "two\n")
    id = cli.ids[0]
    r = cli("logs", id)
    assert (r.returncode, r.stdout, r.stderr) == (0, "one\nthree\n", "two\n")
    r = cli("logs", "--tail", "1", "-t", id)  # the last line of both streams
    [line] = (r.stdout + r.stderr).splitlines()
    stamp, text = line.split(" ", 1)
    assert stamp[:4].isdigit() and stamp.endswith("Z") and text in ("two", "three")
    r = cli("logs", "--since", "1h", id)
    assert r.stdout == "one\nthree\n"
    r = cli("run", "--log-opt", "max-sise=1m", "true")
    assert r.returncode == 125 and "unknown log opt 'max-sise' for json-file log driver" in r.stderr
    r = cli("logs", "no-such-container")
    assert r.returncode == 1 and "no logs for container no-such-container" in r.stderr


def test_run_d_is_held_by_its_monitor_which_records_the_exit(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "sh", "-c", "seq 1 300000; echo done >&2; exit 3")
    id = cli.ids[-1]
    assert (r.returncode, r.stdout) == (0, f"{id}\n"), r.stderr
    r = cli("wait", id)
    assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr
    # 2 MB: far beyond a pipe, so the container finished only because the monitor read it.
    r = cli("logs", id)
    assert r.stdout == "".join(f"{i}\n" for i in range(1, 300001)) and r.stderr == "done\n"
    [row] = [json.loads(line) for line in cli("ps", "-a", "--json").stdout.splitlines()
             if json.loads(line)["id"] == id]
    assert row["exit_code"] == 3 and row["finished"]
    assert "Exited (3) " in cli("ps", "-a").stdout
    state = json.loads(Path(f"{env.bundles}-images/containers/{id}/monitor.json").read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{state['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{state['pid']}").exists(), "the monitor outlived its container"


def test_logs_follow_from_another_shell_until_the_container_exits(cli: CLI) -> None:
    """`logs -f` in a later shell follows through the container's monitor
    (the log's writer) and ends when the container exits."""
    r = cli("run", "-d", "--tmpfs", "/tmp", "sh", "-c",
            "echo first; echo err >&2; until [ -f /tmp/stop ]; do sleep 0.1; done; echo last")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    follow = subprocess.Popen([*cli.base, "logs", "-f", "-t", id], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        stdout = follow.stdout
        assert stdout is not None
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(60)
        assert first and first[0].endswith(" first\n"), first  # -t: time, space, line
        # Still following: "last" is written only after this.
        assert cli("exec", id, "touch", "/tmp/stop").returncode == 0
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert [line.split(" ", 1)[1] for line in out.splitlines()] == ["last"]
    assert [line.split(" ", 1)[1] for line in err.splitlines()] == ["err"]
    r = cli("logs", "-f", id)  # exited: the whole log, then the end
    assert (r.returncode, r.stdout, r.stderr) == (0, "first\nlast\n", "err\n")


def test_a_killed_monitor_is_noticed_and_rm_still_cleans_up(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "sleep", "60")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    home = Path(f"{env.bundles}-images/containers/{id}")
    pid = json.loads((home / "monitor.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    r = cli("wait", id)
    assert r.returncode == 1 and "has no monitor any more" in r.stderr
    assert "running (monitor gone)" in cli("ps").stdout
    assert cli("rm", "-f", id).returncode == 0
    assert not home.exists()
    assert "@" + monitor.socket_name(str(env.bundles), env.namespace, id)[1:].decode() \
        not in Path("/proc/net/unix").read_text(), "the killed monitor's socket stayed"


def test_restart_gives_a_container_whose_monitor_was_killed_a_new_one(
        cli: CLI, env: Env) -> None:
    cli("run", "-d", "sh", "-c", "echo up; sleep 60")
    id = cli.ids[-1]
    old = record(env, id)["pid"]
    os.kill(old, signal.SIGKILL)
    until("the monitor gone", lambda: not Path(f"/proc/{old}").exists())
    r = cli("restart", "-t", "1", id)
    assert (r.returncode, r.stdout) == (0, f"{id}\n"), r.stderr
    new = record(env, id)["pid"]
    row = row_of(cli, id)
    assert new != old and row["status"] == "running" and row.get("monitor") == "running"
    until("ran again", lambda: cli("logs", id).stdout == "up\nup\n")


def test_attach_after_the_monitor_was_killed_reattaches_a_new_one(cli: CLI, env: Env) -> None:
    cli("run", "-d", "-i", "sh", "-c", "echo one; read x; echo got $x; exit 6")
    id = cli.ids[-1]
    until("running", lambda: cli("logs", id).stdout == "one\n")
    old = record(env, id)["pid"]
    os.kill(old, signal.SIGKILL)
    until("the monitor gone", lambda: not Path(f"/proc/{old}").exists())
    a = subprocess.run([*cli.base, "attach", id], input="two\n", capture_output=True, text=True,
                       timeout=60)
    assert (a.returncode, a.stdout) == (6, "got two\n"), a.stderr
    assert "a new one took over" in a.stderr
    until("the exit recorded by the new monitor", lambda: monitor_ended(env, id))
    assert record(env, id)["exit_code"] == 6 and record(env, id)["pid"] != old
    assert cli("logs", id).stdout == "one\ngot two\n"  # one log, across both monitors


def row_of(cli: CLI, id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [json.loads(line) for line in
                                  cli("ps", "-a", "--json").stdout.splitlines()]
    [row] = [r for r in rows if r["id"] == id]
    return row


def test_restart_on_failure_with_mobys_backoff_and_count(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "--restart", "on-failure:2", "sh", "-c", "echo ran; exit 3")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    until("the policy gave up", lambda: monitor_ended(env, id))
    data = record(env, id)
    assert (data["exit_code"], data["restart_count"], data["restart_policy"]) == (3, 2, "on-failure:2")
    assert cli("logs", id).stdout == "ran\n" * 3  # the first run and two restarts, one log
    row = row_of(cli, id)
    assert (row["restart_count"], row["exit_code"]) == (2, 3)
    assert "Exited (3) " in cli("ps", "-a").stdout
    # Exit 0 is no failure: on-failure does not restart it.
    cli("run", "-d", "--restart", "on-failure", "true")
    ok = cli.ids[-1]
    until("exit 0 recorded", lambda: monitor_ended(env, ok))
    assert record(env, ok)["restart_count"] == 0


def test_always_restarts_until_killed_by_hand_and_unless_stopped_stays_stopped(
        cli: CLI, env: Env) -> None:
    cli("run", "-d", "--restart", "always", "sh", "-c", "echo up; exit 0")
    id = cli.ids[-1]
    until("two restarts", lambda: record(env, id)["restart_count"] >= 2)
    # A kill counts as a stop by hand (dockerd's killWithSignal): no more restarts.
    assert cli("kill", id).returncode == 0
    until("stopped for good", lambda: monitor_ended(env, id))
    count = record(env, id)["restart_count"]
    r = cli("run", "-d", "--restart", "unless-stopped", "sleep", "60")
    keep = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    assert cli("kill", keep).stdout == f"{keep}\n"
    until("stopped by hand, not restarted", lambda: monitor_ended(env, keep))
    assert (record(env, keep)["exit_code"], record(env, keep)["restart_count"]) == (137, 0)
    assert "Exited (137) " in cli("ps", "-a").stdout
    assert record(env, id)["restart_count"] == count
    # rm -f of an always-restarting container: its monitor stands down first.
    cli("run", "-d", "--restart", "always", "sh", "-c", "exit 1")
    busy = cli.ids[-1]
    until("restarting", lambda: record(env, busy)["restart_count"] >= 1)
    pid = record(env, busy)["pid"]
    assert cli("rm", "-f", busy).returncode == 0
    until("its monitor ended", lambda: not Path(f"/proc/{pid}").exists())
    assert not Path(f"{env.bundles}-images/containers/{busy}").exists()
    assert busy not in cli("ps", "-a", "-q").stdout.split()


def test_restart_command_stops_and_starts_through_the_monitor(cli: CLI, env: Env) -> None:
    cli("run", "-d", "sh", "-c", "echo start; trap 'echo term; exit 5' TERM; sleep 60 & wait")
    id = cli.ids[-1]
    until("started", lambda: cli("logs", id).stdout == "start\n")
    first = row_of(cli, id)["pid"]
    r = cli("restart", "-t", "5", id)
    assert (r.returncode, r.stdout) == (0, f"{id}\n"), r.stderr
    row = row_of(cli, id)
    assert row["status"] == "running" and row["pid"] != first and row["restart_count"] == 0
    until("started again", lambda: cli("logs", id).stdout == "start\nterm\nstart\n")
    # A container whose monitor ended: `restart` gives it a new one.
    cli("run", "-d", "sh", "-c", "echo once; exit 2")
    done = cli.ids[-1]
    until("exited", lambda: monitor_ended(env, done))
    assert cli("restart", done).returncode == 0
    until("ran again", lambda: monitor_ended(env, done) and cli("logs", done).stdout == "once\n" * 2)
    r = cli("restart", "no-such-container")
    assert r.returncode == 1 and "no-such-container" in r.stderr


def test_attach_to_a_detached_container_with_its_stdin(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "-i", "sh", "-c",
            "echo ready; while read l; do echo got $l; echo err $l >&2;"
            " [ $l = bye ] && exit 4; done")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    until("ready", lambda: cli("logs", id).stdout == "ready\n")
    a = subprocess.run([*cli.base, "attach", id], input="hello\nbye\n", capture_output=True,
                       text=True, timeout=60)
    assert (a.returncode, a.stdout, a.stderr) == (4, "got hello\ngot bye\n", "err hello\nerr bye\n")
    until("exited", lambda: monitor_ended(env, id))
    assert cli("logs", id).stdout == "ready\ngot hello\ngot bye\n"
    r = cli("attach", id)
    assert r.returncode == 1 and "You cannot attach to a stopped container" in r.stderr


def test_the_monitor_outlives_the_python_session_that_spawned_it(cli: CLI, env: Env) -> None:
    id = f"cli-{uuid.uuid4().hex[:10]}"
    cli.ids.append(id)
    code = (
        "import sys, pylibctrd\n"
        "from pylibctrd import monitor\n"
        "c = pylibctrd.Client.connect(sys.argv[1], namespace=sys.argv[2], state_dir=sys.argv[3])\n"
        "c.new_container(sys.argv[4], pylibctrd.container_spec(sys.argv[5],"
        " ['sh', '-c', 'echo hi; sleep 60'], cgroups_path='/pylibctrd-test/' + sys.argv[4]))\n"
        "print(monitor.spawn(c.address, c.namespace, c.state_dir, sys.argv[4]))\n")
    r = subprocess.run([sys.executable, "-c", code, env.address, env.namespace, str(env.bundles),
                        id, str(env.rootfs)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout)
    assert Path(f"/proc/{pid}").exists() and row_of(cli, id)["status"] == "running"
    until("its output logged", lambda: cli("logs", id).stdout == "hi\n")
    assert cli("kill", id).returncode == 0
    until("exit recorded", lambda: monitor_ended(env, id))
    assert record(env, id)["exit_code"] == 137


def test_disk_full_while_logging_is_counted_and_the_container_runs_on(
        cli: CLI, env: Env) -> None:
    id = f"cli-{uuid.uuid4().hex[:10]}"
    home = Path(f"{env.bundles}-images/containers/{id}")
    home.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(home)], check=True)
    try:
        cli.ids.append(id)
        r = subprocess.run([*cli.base, "run", "-d", "--cgroup-parent", "/pylibctrd-test",
                            "--name", id, "--rootfs", str(env.rootfs), "sh", "-c",
                            "seq 1 20000; echo written >&2; sleep 60"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        # The log fills the disk; Moby's copier drops the lines and goes on.
        row = until("failures counted", lambda: (row := row_of(cli, id)).get("log_failures")
                    and row["log_failures"]["count"] > 1000 and row)
        assert "no space left on device" in row["log_failures"]["last_error"]
        assert row["status"] == "running"
        [info] = json.loads(cli("inspect", id).stdout)
        assert info["log_failures"]["count"] >= row["log_failures"]["count"]
        assert cli("kill", id).returncode == 0
        until("exited", lambda: row_of(cli, id).get("exit_code") == 137)
    finally:
        subprocess.run(["umount", "-l", str(home)], check=True)


def test_the_monitor_survives_a_containerd_restart(env: Env, tmp_path: Path) -> None:
    """containerd is SIGKILLed (its supervisor, in this process, starts it
    again) while the container runs, and the container exits while it is
    down: the monitor keeps the output and finds the exit as dockerd's
    restore does (the task STOPPED; delete gives the exit), the event or not.
    containerd 1.7 and 2.x delete such a task when they start, exit status
    and all (testing.drops_tasks_that_exited_while_down): the exit is then
    255, as dockerd's restore records a task it does not find."""
    daemon = pylibctrd.Daemon.start(tmp_path / "root", tmp_path / "state")
    namespace, id = f"monitor-{os.getpid()}", "survivor"
    bundles = tmp_path / "bundles"
    work = tmp_path / "work"
    work.mkdir()
    base = [sys.executable, "-m", "pylibctrd", "--address", daemon.address, "--namespace",
            namespace, "--state-dir", str(bundles)]
    home = Path(f"{bundles}-images/containers/{id}")
    try:
        r = subprocess.run([*base, "run", "-d", "--cgroup-parent", "/pylibctrd-test", "--name", id,
                            "--rootfs", str(env.rootfs), "-v", f"{work}:/root", "sh", "-c",
                            "echo before; until [ -e /root/go ]; do sleep 0.05; done;"
                            " echo after; exit 5"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        monitor_pid = json.loads((home / "monitor.json").read_text())["pid"]
        pidfile = Path(daemon.state_dir) / "containerd.pid"
        old = int(pidfile.read_text())
        os.kill(old, signal.SIGKILL)
        until("containerd gone", lambda: not Path(f"/proc/{old}").exists())
        (work / "go").touch()  # the container exits now, most likely while containerd is down
        until("containerd restarted", lambda: pidfile.exists() and pidfile.read_text().strip()
              and int(pidfile.read_text()) != old, timeout=60)
        data = until("the exit recorded", lambda: (d := json.loads(
            (home / "monitor.json").read_text()))["status"] == "exited" and d, timeout=60)
        with pylibctrd.Client.connect(daemon.address) as client:
            server = client.version().version
        expected = {5, 255} if drops_tasks_that_exited_while_down(server) else {5}
        assert data["exit_code"] in expected and data["pid"] == monitor_pid
        until("the monitor ended", lambda: not Path(f"/proc/{monitor_pid}").exists())
        r = subprocess.run([*base, "logs", id], capture_output=True, text=True, timeout=60)
        assert r.stdout == "before\nafter\n", r.stderr
    finally:
        with pylibctrd.Client.connect(daemon.address, namespace=namespace,
                                      state_dir=str(bundles)) as client:
            remove_container(client, id)
        daemon.stop()
        remove_runc_root(namespace)


# Health checks of detached containers (their monitor probes and records)


def ps_line(cli: CLI, id: str) -> str:
    r = cli("ps", "-a")
    assert r.returncode == 0, r.stderr
    return next((line for line in r.stdout.splitlines() if line.split()[:1] == [id]), "")


def wait_ps(cli: CLI, id: str, text: str, timeout: float = 30.0) -> str:
    """ps (a new CLI process each time) until the container's line shows text."""
    deadline = time.monotonic() + timeout
    while text not in (line := ps_line(cli, id)):
        assert time.monotonic() < deadline, f"no {text!r} in ps after {timeout} s: {line!r}"
        time.sleep(0.2)
    return line


def wait_record(env: Env, id: str, results: int, timeout: float = 30.0) -> HealthRecord:
    """The monitor's record once it holds `results` probe results."""
    deadline = time.monotonic() + timeout
    while (rec := read_health(str(env.bundles), id)) is None or rec.seq < results:
        assert time.monotonic() < deadline, f"fewer than {results} probes after {timeout} s"
        time.sleep(0.1)
    return rec


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts, killed if it did not end them."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_detached_health_goes_starting_healthy_unhealthy_as_ps_and_inspect_show(
        cli: CLI, env: Env, background: list[subprocess.Popen[str]]) -> None:
    # Failures within the start period do not count while starting (Moby):
    # "starting" holds until the marker appears, however slow the probes are.
    r = cli("run", "-d", "--tmpfs", "/tmp", "--health-cmd", "test -f /tmp/ready && echo ok",
            "--health-interval", "200ms", "--health-timeout", "10s", "--health-retries", "2",
            "--health-start-period", "10m", "sleep", "300")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    # Recorded before run -d returned: ps in another process sees it at once.
    assert re.search(r" Up (Less than a second|\d+ seconds?) \(health: starting\) ", ps_line(cli, id))
    events = subprocess.Popen([*cli.base, "events", "--json", "--filter", "type=health_status",
                               "--filter", f"container={id}"], stdout=subprocess.PIPE, text=True)
    background.append(events)
    rec = wait_record(env, id, 2)
    assert (rec.health.status, rec.health.failing_streak) == ("starting", 0)
    assert all(r.exit_code == 1 for r in rec.health.log)
    assert cli("exec", id, "touch", "/tmp/ready").returncode == 0
    with env.connect() as client:  # this process does not probe it: the monitor's record
        health = wait_healthy(client.load_container(id), timeout=30)
    assert health.log[-1].exit_code == 0 and health.log[-1].output == "ok\n"
    assert re.search(r" Up \S.* \(healthy\) ", wait_ps(cli, id, "(healthy)"))
    assert cli("exec", id, "rm", "/tmp/ready").returncode == 0
    wait_ps(cli, id, "(unhealthy)")
    [info] = json.loads(cli("inspect", id).stdout)
    health_json = info["State"]["Health"]  # docker inspect's, Moby's JSON
    assert health_json["Status"] == "unhealthy" and health_json["FailingStreak"] >= 2
    assert 2 <= len(health_json["Log"]) <= 5
    assert set(health_json["Log"][-1]) == {"Start", "End", "ExitCode", "Output"}
    assert [p["ExitCode"] for p in health_json["Log"][-2:]] == [1, 1]
    assert info["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /tmp/ready && echo ok"],
                                   "Interval": 200_000_000, "Timeout": 10 * 10**9,
                                   "StartPeriod": 600 * 10**9, "Retries": 2}
    [row] = [json.loads(line) for line in cli("ps", "--json").stdout.splitlines()
             if json.loads(line)["id"] == id]
    assert row["health"] == "unhealthy" and row["status"] == "running"
    # dockerd's health_status events: in `events` (which started before
    # them), and as the monitor recorded them.
    events.terminate()
    out, _ = events.communicate(timeout=30)
    assert [(e["type"], e["container_id"], e["action"]) for e in map(json.loads, out.splitlines())
            ] == [("health_status", id, "health_status: healthy"),
                  ("health_status", id, "health_status: unhealthy")]
    final = read_health(str(env.bundles), id)
    assert final is not None
    assert [e.action for e in final.events] == ["health_status: healthy", "health_status: unhealthy"]
    assert cli("rm", "-f", id).returncode == 0
    assert read_health(str(env.bundles), id) is None


def test_a_hanging_health_command_is_a_timeout_and_leaves_no_exec(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "--health-cmd", "sleep 100", "--health-interval", "100ms",
            "--health-timeout", "300ms", "--health-retries", "1", "sleep", "300")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    wait_ps(cli, id, "(unhealthy)")
    rec = wait_record(env, id, 5)
    assert all((r.exit_code, r.output) == (-1, "Health check exceeded timeout (300ms)")
               for r in rec.health.log)
    with env.connect() as client:
        # containerd's processes of the task: its own and at most the probe in
        # flight (five probes hung: each was killed and deleted).
        pids = client.load_container(id).task().pids()
    assert 1 <= len(pids) <= 2, pids
    assert cli("rm", "-f", id).returncode == 0


def test_the_images_healthcheck_runs_unless_no_healthcheck_and_flags_override_it(
        cli: CLI, env: Env, tmp_path: Path) -> None:
    name = f"cli-health-{uuid.uuid4().hex[:8]}:1"
    built = imagebuild.busybox_image(tmp_path / "img.tar", name=name, config={"Healthcheck": {
        "Test": ["CMD-SHELL", "echo from-image"], "Interval": 100_000_000, "Retries": 1}})
    assert subprocess.run([*cli.base, "import", str(built.path)], capture_output=True,
                          timeout=60).returncode == 0
    ids = {flags: f"cli-{uuid.uuid4().hex[:10]}" for flags in ("", "--no-healthcheck",
                                                               "--health-cmd=echo from-flag")}
    try:
        for flags, id in ids.items():
            r = subprocess.run([*cli.base, "run", "-d", "--cgroup-parent", "/pylibctrd-test",
                                "--name", id, *([flags] if flags else []), name, "sleep", "300"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        image_id, none_id, flag_id = ids.values()
        for id in (image_id, flag_id):
            wait_ps(cli, id, "(healthy)")
        [image_run, none_run, flag_run] = json.loads(cli("inspect", *ids.values()).stdout)
        assert image_run["State"]["Health"]["Log"][-1]["Output"] == "from-image\n"
        assert image_run["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "echo from-image"],
                                            "Interval": 100_000_000, "Retries": 1}
        # The flag's test with the image's interval and retries (dockerd's merge).
        assert flag_run["State"]["Health"]["Log"][-1]["Output"] == "from-flag\n"
        assert flag_run["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "echo from-flag"],
                                           "Interval": 100_000_000, "Retries": 1}
        assert "State" not in none_run and "Config" not in none_run
        assert "(health" not in ps_line(cli, none_id) and read_health(str(env.bundles), none_id) is None
        assert ps_line(cli, none_id)
    finally:
        for id in ids.values():
            subprocess.run([*cli.base, "rm", "-f", id], capture_output=True, timeout=60)
        with env.connect() as client:
            client.remove_image(name)


def test_an_attached_run_probes_its_container_itself(
        cli: CLI, env: Env, background: list[subprocess.Popen[str]]) -> None:
    id = f"cli-{uuid.uuid4().hex[:10]}"
    cli.ids.append(id)
    run = subprocess.Popen([*cli.base, "run", "--name", id, "--cgroup-parent", "/pylibctrd-test",
                            "--rootfs", str(env.rootfs), "--tmpfs", "/tmp",
                            "--health-cmd", "echo fine", "--health-interval", "100ms",
                            "sh", "-c", "until [ -f /tmp/stop ]; do sleep 0.1; done; echo bye"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    background.append(run)
    wait_ps(cli, id, "(healthy)")
    rec = read_health(str(env.bundles), id)
    assert rec is not None and rec.pid == run.pid and rec.health.log[-1].output == "fine\n"
    assert cli("exec", id, "touch", "/tmp/stop").returncode == 0
    out, err = run.communicate(timeout=60)
    assert (run.returncode, out) == (0, "bye\n"), err
    final = read_health(str(env.bundles), id)
    assert final is not None and final.ended  # probing stopped with the container
    assert "(health" not in ps_line(cli, id)


def test_health_is_probed_again_after_a_policy_restart(cli: CLI, env: Env) -> None:
    r = cli("run", "-d", "--restart", "on-failure:1", "--health-cmd", "true",
            "--health-interval", "100ms", "sh", "-c", "sleep 5; exit 1")
    id = cli.ids[-1]
    assert r.returncode == 0, r.stderr
    until("restarted once", lambda: record(env, id)["restart_count"] == 1)
    rec = read_health(str(env.bundles), id)
    assert rec is not None
    after = wait_record(env, id, rec.seq + 2)  # probes of the new task, numbered on
    assert after.health.status == "healthy"
    until("the policy gave up", lambda: monitor_ended(env, id), timeout=60)
    assert record(env, id)["exit_code"] == 1
