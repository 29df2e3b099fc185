"""Mounts, volumes and logs with real containers (issue 20): Moby's
volume/mounts parser, its local volume driver and its log drivers."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import pylibctrd
from pylibctrd import aio, errors, stdio
from pylibctrd.services import health_config
from pylibctrd.testing import (
    ContainerFactory, Env, NotReady, Readiness, wait_for_log, wait_healthy,
)


@pytest.fixture
def rootfs(env: Env, tmp_path: Path) -> Path:
    """A private copy of the busybox rootfs: runc may make mount points in it."""
    root = tmp_path / "rootfs"
    shutil.copytree(env.rootfs, root, symlinks=True)
    (root / "srv" / "seed").mkdir(parents=True)
    (root / "srv" / "seed" / "hello").write_text("from the image\n")
    return root


@pytest.fixture
def volume_names(client: pylibctrd.Client,
                 make_container: ContainerFactory) -> Iterator[list[str]]:
    """Volumes a test makes, removed after it (their containers first)."""
    names: list[str] = []
    yield names
    make_container.cleanup()
    for name in names:
        try:
            client.remove_volume(name)
        except errors.NotFound:
            pass


class Run:
    """Containers on the private rootfs, removed by the session's factory."""

    def __init__(self, client: pylibctrd.Client, factory: ContainerFactory, rootfs: Path) -> None:
        self.client, self.factory, self.rootfs = client, factory, rootfs

    def create(self, args: list[str], **kw: Any) -> pylibctrd.Container:
        id = f"t-{uuid.uuid4().hex[:12]}"
        self.factory.made.append(id)
        kw.setdefault("cgroups_path", f"/pylibctrd-test/{id}")
        return self.client.new_container(id, pylibctrd.container_spec(self.rootfs, args, **kw))

    def run(self, args: list[str], attach: Any = None, **kw: Any) -> tuple[int, bytes, bytes]:
        """Run to the end: exit code, stdout, stderr."""
        ctr = self.create(args, **kw)
        cap = attach if attach is not None else stdio.Capture()
        task = ctr.new_task(attach_stdio=cap)
        task.start()
        code = task.wait(30).exit_code
        assert cap.wait(30)
        task.delete()
        if isinstance(cap, stdio.Capture):
            return code, cap.stdout, cap.stderr
        return code, b"", b""


@pytest.fixture
def run(client: pylibctrd.Client, make_container: ContainerFactory, rootfs: Path) -> Run:
    return Run(client, make_container, rootfs)


# Mounts


def test_bind_mounted_workspace_is_written_and_ro_refuses(run: Run, tmp_path: Path) -> None:
    work = tmp_path / "workspace"
    work.mkdir()
    (work / "input").write_text("in\n")
    code, out, err = run.run(["sh", "-c", "cat /work/input; echo built > /work/out"],
                             mounts=[f"{work}:/work"])
    assert (code, out) == (0, b"in\n"), err
    assert (work / "out").read_text() == "built\n"
    code, out, err = run.run(["sh", "-c", "cat /work/input && echo x > /work/out2"],
                             mounts=[{"Type": "bind", "Source": str(work), "Target": "/work",
                                      "ReadOnly": True}])
    assert code != 0 and out == b"in\n" and b"Read-only file system" in err
    assert not (work / "out2").exists()


def test_named_volume_keeps_data_and_gets_the_image_content(
        run: Run, client: pylibctrd.Client, volume_names: list[str]) -> None:
    name = f"vol-{uuid.uuid4().hex[:8]}"
    volume_names.append(name)
    code, out, err = run.run(["sh", "-c", "cat /srv/seed/hello; echo kept > /srv/seed/new"],
                             mounts=[f"{name}:/srv/seed"])
    assert (code, out) == (0, b"from the image\n"), err
    [vol] = [v for v in client.volumes() if v.name == name]
    assert vol.driver == "local" and vol.mountpoint == f"{client.state_dir}-images/volumes/{name}/_data"
    assert Path(vol.mountpoint, "new").read_text() == "kept\n"
    # A second container sees what the first wrote; the image's content is not copied again.
    (run.rootfs / "srv" / "seed" / "hello").write_text("changed image\n")
    code, out, err = run.run(["cat", "/srv/seed/hello", "/srv/seed/new"], mounts=[f"{name}:/srv/seed:ro"])
    assert (code, out) == (0, b"from the image\nkept\n"), err


def test_removing_a_volume_in_use_is_a_conflict(run: Run, client: pylibctrd.Client,
                                                volume_names: list[str]) -> None:
    vol = client.create_volume(f"vol-{uuid.uuid4().hex[:8]}", labels={"purpose": "test"})
    volume_names.append(vol.name)
    assert vol.labels == {"purpose": "test"} and vol.created_at is not None
    ctr = run.create(["true"], mounts=[f"{vol.name}:/data"])
    with pytest.raises(errors.Conflict) as raised:
        client.remove_volume(vol.name)
    assert str(raised.value) == f"remove {vol.name}: volume is in use - [{ctr.id}]"
    ctr.delete()
    client.remove_volume(vol.name)
    assert vol.name not in [v.name for v in client.volumes()]
    with pytest.raises(errors.NotFound, match=f"get {vol.name}: no such volume"):
        client.remove_volume(vol.name)


def test_tmpfs_is_empty_and_gone_after(run: Run) -> None:
    code, out, err = run.run(
        ["sh", "-c", "ls -A /scratch; echo x > /scratch/f; grep ' /scratch ' /proc/mounts"],
        tmpfs={"/scratch": "size=1m"})
    assert code == 0, err
    assert out.startswith(b"tmpfs /scratch tmpfs rw,nosuid,nodev,noexec"), out
    assert b"size=1024k" in out
    assert list((run.rootfs / "scratch").iterdir()) == []
    assert " /scratch " not in Path("/proc/mounts").read_text()


def test_read_only_rootfs(run: Run) -> None:
    code, _, err = run.run(["touch", "/x"], read_only=True)
    assert code != 0 and b"Read-only file system" in err


def test_bad_mounts_give_mobys_messages(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(errors.InvalidParameter) as raised:
        run.create(["true"], mounts=[{"Type": "bind", "Source": str(missing), "Target": "/w"}])
    assert str(raised.value) == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}')
    with pytest.raises(errors.InvalidParameter, match="mount path must be absolute"):
        run.create(["true"], mounts=[f"{tmp_path}:relative"])
    with pytest.raises(errors.InvalidParameter, match="destination can't be '/'"):
        run.create(["true"], mounts=[f"{tmp_path}:/a/.."])
    with pytest.raises(errors.NotFound) as nf:
        run.create(["true"], mounts=[{"Type": "volume", "Source": "v-nodriver", "Target": "/d",
                                      "VolumeOptions": {"DriverConfig": {"Name": "nosuch"}}}])
    assert str(nf.value) == "create v-nodriver: volume driver not found: nosuch"


# Logs


def log_files(client: pylibctrd.Client, id: str) -> list[Path]:
    return sorted(Path(f"{client.state_dir}-images/containers/{id}").glob(f"{id}-json.log*"))


def test_ten_mib_through_a_log_do_not_block_and_read_back_in_order(
        run: Run, client: pylibctrd.Client) -> None:
    ctr = run.create(["sh", "-c", "echo start >&2; seq 1 1500000; echo end >&2"])
    log = stdio.Log()
    task = ctr.new_task(attach_stdio=log)
    task.start()
    assert task.wait(60).exit_code == 0
    assert log.wait(30)
    lines = list(client.logs(ctr.id))
    out = b"".join(line.data for line in lines if line.stream == "stdout")
    expected = "".join(f"{i}\n" for i in range(1, 1500001)).encode()
    assert len(expected) > 10 << 20
    assert out == expected
    assert [line.data for line in lines if line.stream == "stderr"] == [b"start\n", b"end\n"]
    assert all(a.time <= b.time for a, b in zip(lines, lines[1:]) if a.stream == b.stream)
    tail = list(client.logs(ctr.id, tail=2, stderr=False, timestamps=True))
    assert [t.data.split(b" ", 1)[1] for t in tail] == [b"1499999\n", b"1500000\n"]
    assert tail[0].data[:4].isdigit() and tail[0].data.split(b" ")[0].endswith(b"Z")
    task.delete()
    ctr.delete()
    assert not Path(f"{client.state_dir}-images/containers/{ctr.id}").exists()


@pytest.mark.parametrize("driver", ["json-file", "local"])
def test_rotation_keeps_at_most_max_file_files(run: Run, client: pylibctrd.Client,
                                                driver: str) -> None:
    ctr = run.create(["seq", "1", "30000"])
    log = stdio.Log(driver, max_size="20k", max_file="3")
    task = ctr.new_task(attach_stdio=log)
    task.start()
    task.wait(30)
    assert log.wait(30)
    home = Path(f"{client.state_dir}-images/containers/{ctr.id}")
    files = [p for p in home.rglob("*") if p.is_file() and p.name != "hostconfig.json"]
    assert 1 < len(files) <= 3, files
    data = b"".join(line.data for line in client.logs(ctr.id))
    assert data.endswith(b"29999\n30000\n") and not data.startswith(b"1\n")
    task.delete()


def test_log_combined_with_capture_and_follow_ends_at_exit(run: Run, client: pylibctrd.Client) -> None:
    ctr = run.create(["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; echo bye >&2"])
    cap = stdio.Capture()
    log = stdio.Log("local", tee=cap)
    task = ctr.new_task(attach_stdio=log)
    task.start()
    got: list[pylibctrd.services.LogLine] = []
    follower = threading.Thread(target=lambda: got.extend(client.logs(ctr.id, follow=True)))
    follower.start()
    follower.join(20)
    assert not follower.is_alive(), "follow did not end when the container exited"
    assert [line.data for line in got if line.stream == "stdout"] == [
        b"line 1\n", b"line 2\n", b"line 3\n"]
    assert [line.data for line in got if line.stream == "stderr"] == [b"bye\n"]
    assert cap.wait(10) and cap.stdout == b"line 1\nline 2\nline 3\n" and cap.stderr == b"bye\n"
    task.wait(30)  # the log ends at the output's EOF, a moment before the exit is known
    task.delete()


def test_a_log_option_moby_rejects_fails_new_task_with_its_message(run: Run) -> None:
    ctr = run.create(["true"])
    with pytest.raises(errors.InvalidParameter, match="unknown log opt 'max-sise' for json-file log driver"):
        ctr.new_task(attach_stdio=stdio.Log(max_sise="1m"))
    with pytest.raises(errors.InvalidParameter, match="no log driver named 'syslog'"):
        ctr.new_task(attach_stdio=stdio.Log("syslog"))
    with pytest.raises(errors.NotFound):
        ctr.task()


def test_aio_volumes_and_logs(env: Env, run: Run, volume_names: list[str]) -> None:
    ctr = run.create(["sh", "-c", "echo one; echo two >&2"])
    log = stdio.Log()
    task = ctr.new_task(attach_stdio=log)
    task.start()
    task.wait(30)
    assert log.wait(30)

    async def main() -> None:
        async with await aio.Client.connect(env.address, namespace=env.namespace,
                                            state_dir=str(env.bundles)) as client:
            vol = await client.create_volume(f"vol-{uuid.uuid4().hex[:8]}")
            volume_names.append(vol.name)
            assert vol.name in [v.name for v in await client.volumes()]
            lines = [line async for line in client.logs(ctr.id)]
            # Each stream in its order; across the two, the order is the
            # copiers' (two FIFOs read apart), as under dockerd.
            assert sorted((line.stream, line.data) for line in lines) == [
                ("stderr", b"two\n"), ("stdout", b"one\n")]
            await client.remove_volume(vol.name)

    asyncio.run(main())
    task.delete()


# Readiness and health


def test_wait_for_log_returns_on_the_line_and_times_out_showing_the_last_lines(
        run: Run, pylibctrd_ready: Readiness) -> None:
    ctr = run.create(["sh", "-c", "echo starting; sleep 0.5; echo 'ready to accept connections';"
                      " echo warn >&2; sleep 60"])
    task = ctr.new_task(attach_stdio=stdio.Log())
    task.start()
    line = pylibctrd_ready.wait_for_log(ctr, r"ready to accept", timeout=20)
    assert line.data == b"ready to accept connections\n" and line.stream == "stdout"
    with pytest.raises(NotReady) as raised:
        wait_for_log(ctr, "never printed", timeout=1)
    assert isinstance(raised.value, TimeoutError)
    message = str(raised.value)
    assert "no line matched 'never printed' within 1 s" in message
    assert "stdout: ready to accept connections" in message and "stderr: warn" in message
    task.kill()
    task.wait(10)
    task.delete()


def test_health_goes_starting_healthy_unhealthy_with_a_marker_file(run: Run) -> None:
    ctr = run.create(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    marker = run.rootfs / "tmp" / "ready"
    # Failures within the start period do not count while starting (Moby).
    task.start_health(health_config("test -f /tmp/ready && echo ok", interval=0.2, timeout=5,
                                    retries=2, start_period=30))
    assert task.health().status == "starting"
    deadline = time.monotonic() + 10  # the first probes (an exec each: slower under load)
    while len(task.health().log) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    health = task.health()
    assert health.status == "starting" and health.failing_streak == 0
    assert health.log and all(r.exit_code == 1 for r in health.log)
    marker.touch()
    health = wait_healthy(ctr, timeout=10)
    assert health.failing_streak == 0 and health.log[-1].exit_code == 0
    assert health.log[-1].output == "ok\n"
    marker.unlink()
    deadline = time.monotonic() + 10
    while task.health().status != "unhealthy" and time.monotonic() < deadline:
        time.sleep(0.1)
    health = task.health()
    assert health.status == "unhealthy" and health.failing_streak >= 2
    assert 2 <= len(health.log) <= 5  # Moby keeps the last 5
    assert all(r.exit_code == 1 for r in health.log[-2:])
    with pytest.raises(NotReady, match="is unhealthy"):
        wait_healthy(ctr, timeout=5)
    # dockerd's health_status events: one per status change, none for the
    # initial "starting"; a watcher gets those after the seq it gives.
    update = task.watch_health(0, timeout=0)
    assert [e.action for e in update.events] == ["health_status: healthy",
                                                  "health_status: unhealthy"]
    assert update.seq >= update.events[-1].seq > update.events[0].seq >= 1
    assert update.docker["Status"] == "unhealthy" and len(update.docker["Log"]) == len(health.log)
    assert task.watch_health(update.events[-1].seq, timeout=0).events == []
    task.stop_health()
    assert [p.pid for p in task.pids()] == [task.pid]
    task.kill()
    task.wait(10)
    task.delete()


def test_a_hanging_health_command_times_out_and_leaves_no_exec(run: Run) -> None:
    ctr = run.create(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    task.start_health(health_config(["sleep", "100"], interval=0.2, timeout=0.5, retries=1))
    deadline = time.monotonic() + 15
    while task.health().status != "unhealthy" and time.monotonic() < deadline:
        time.sleep(0.1)
    health = task.health()
    assert health.status == "unhealthy"
    assert health.log[0].exit_code == -1
    assert health.log[0].output == "Health check exceeded timeout (500ms)"
    task.stop_health()
    assert [p.pid for p in task.pids()] == [task.pid]  # the probe was killed and deleted
    with pytest.raises(errors.NotFound):
        task.health()
    with pytest.raises(errors.InvalidParameter, match="unknown healthcheck type 'SHELL'"):
        task.start_health({"Test": ["SHELL", "true"]})
    task.kill()
    task.wait(10)
    task.delete()


def test_aio_watch_health_follows_each_result_and_is_cancellable(env: Env, run: Run) -> None:
    ctr = run.create(["sleep", "60"])

    async def main() -> None:
        async with await aio.Client.connect(env.address, namespace=env.namespace,
                                            state_dir=str(env.bundles)) as client:
            task = await (await client.load_container(ctr.id)).new_task()
            await task.start()
            await task.start_health(health_config("echo ok", interval=0.1, timeout=10))
            update = await task.watch_health(0, timeout=30)
            assert update.seq >= 1 and update.health.status == "healthy"
            assert [e.action for e in update.events] == ["health_status: healthy"]
            following = await task.watch_health(update.seq, timeout=30)
            assert following.seq > update.seq and following.events == []
            # A wait for a result that never comes ends when cancelled.
            never = asyncio.ensure_future(task.watch_health(10**12))
            await asyncio.sleep(0.3)
            never.cancel()
            with pytest.raises(asyncio.CancelledError):
                await never
            await task.stop_health()
            assert [p.pid for p in await task.pids()] == [task.pid]
            await task.kill(9)
            await task.wait(30)
            await task.delete()

    asyncio.run(main())
