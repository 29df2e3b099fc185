"""The CLI's mounts, volumes and logs (issue 20), against the session's containerd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from pylibctrd.testing import Env, remove_container


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


@pytest.fixture
def cli(env: Env) -> Iterator[CLI]:
    c = CLI(env)
    yield c
    with env.connect() as client:
        for id in c.ids:
            remove_container(client, id)
        for name in c.volumes:
            try:
                client.remove_volume(name)
            except Exception:
                pass


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
