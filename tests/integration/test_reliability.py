"""What dockerd promises must hold when a Python process embeds libcontainerd:
calls never hang on a containerd that is down, exits are not lost across a
containerd restart, a timed-out attach leaves nothing, and the embedded
containerd is root-only."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

import pylibctrd
from pylibctrd import EventType, _leaks, errors, stdio
from pylibctrd.testing import (
    Env, drops_tasks_that_exited_while_down, frozen, remove_container, remove_runc_root,
)


def containerd_pid(daemon: pylibctrd.Daemon) -> int:
    return int((Path(daemon.state_dir) / "containerd.pid").read_text())


@contextmanager
def stopped(daemon: pylibctrd.Daemon) -> Iterator[None]:
    with frozen(containerd_pid(daemon)):
        yield


def session_daemon(env: Env) -> pylibctrd.Daemon:
    if env.daemon is None:
        pytest.skip("needs the containerd this session started (not --pylibctrd-address)")
    return env.daemon


def test_calls_fail_within_the_timeout_while_containerd_is_stopped_and_recover(env: Env) -> None:
    client = pylibctrd.Client.connect(env.address, namespace=env.namespace,
                                      state_dir=str(env.bundles), timeout=1.0)
    try:
        with stopped(session_daemon(env)):
            for call in (client.version, lambda: client.load_container("nothing-here")):
                started = time.monotonic()
                with pytest.raises((errors.Deadline, errors.Unavailable)):
                    call()
                assert time.monotonic() - started < 2.0
        assert client.version().version  # the same client works again
    finally:
        client.close()


def test_a_timed_out_attach_leaves_nothing_behind(env: Env) -> None:
    id = f"r-{uuid.uuid4().hex[:12]}"
    with env.connect() as owner:
        ctr = owner.new_container(id, env.spec(id, ["sleep", "60"]))
        task = ctr.new_task()
        task.start()
        try:
            before = _leaks.snapshot()
            short = pylibctrd.Client.connect(env.address, namespace=env.namespace,
                                             state_dir=str(env.bundles), timeout=0.5)
            loaded = short.load_container(id)
            with stopped(session_daemon(env)):
                with pytest.raises(errors.Deadline):
                    loaded.attach_task(stdio.Capture())
            short.close()
            del loaded, short
            _leaks.check(before)
        finally:
            task.force_delete()
            ctr.delete()


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[pylibctrd.Daemon]:
    """A containerd of this test's own, since the test kills it."""
    daemon = pylibctrd.Daemon.start(tmp_path / "root", tmp_path / "state")
    yield daemon
    daemon.stop()


def test_an_exit_while_containerd_is_down_is_recovered_as_dockerds_restore_does(
        own_daemon: pylibctrd.Daemon, tmp_path: Path) -> None:
    """Moby's supervisor restarts a killed containerd. An exit that happened
    while it was down may never arrive as an event (containerd 1.6 may drop
    the shim's publish, and libcontainerd only resubscribes), exactly as under
    dockerd; on 1.6 the task's state and exit code are recoverable the way
    dockerd's restore reads them: status() is STOPPED, delete() returns the
    exit. containerd 1.7 and 2.x delete such a task when they start, exit
    status and all (testing.drops_tasks_that_exited_while_down): the task is
    NotFound, with no exit event, unless containerd was back before the exit."""
    namespace = f"reliability-{os.getpid()}"
    recorder = pylibctrd.Recorder()
    rootfs = pylibctrd.busybox_rootfs(tmp_path / "rootfs")
    client = pylibctrd.Client.connect(own_daemon.address, namespace=namespace,
                                      state_dir=str(tmp_path / "bundles"), backend=recorder)
    id = "exits-while-down"
    try:
        ctr = client.new_container(id, pylibctrd.container_spec(
            rootfs, ["sh", "-c", "sleep 1; exit 3"], cgroups_path=f"/pylibctrd-test/{namespace}/{id}"))
        task = ctr.new_task()
        task.start()
        old = containerd_pid(own_daemon)
        os.kill(old, signal.SIGKILL)
        time.sleep(2)  # the container exits while containerd is down
        deadline = time.monotonic() + 60
        while True:  # until the supervisor has restarted containerd
            try:
                status = task.status()
                if status is not pylibctrd.Status.RUNNING:  # back before the exit: wait for it
                    break
                time.sleep(0.1)
            except (errors.Unavailable, errors.Deadline):
                assert time.monotonic() < deadline, "containerd was not restarted"
                time.sleep(0.5)
            except errors.NotFound:
                status = None
                break
        assert containerd_pid(own_daemon) != old
        if status is None:
            assert drops_tasks_that_exited_while_down(client.version().version)
            with pytest.raises(errors.NotFound):
                task.delete()
            time.sleep(1.0)  # an exit event, if one were coming, would have arrived
            assert [e for e, _ in recorder.of(id)] == [EventType.CREATE, EventType.START]
            ctr.delete()
            return
        assert status is pylibctrd.Status.STOPPED
        exit_status = task.delete()
        assert exit_status.exit_code == 3 and exit_status.exited_at is not None
        # Whether containerd replays the exit after its restart is a race
        # (the shim's publish against containerd's reload); when it does, it
        # carries the real exit code.
        events = recorder.of(id)
        assert [e for e, _ in events[:2]] == [EventType.CREATE, EventType.START]
        assert [(e, i.exit_code) for e, i in events[2:]] in ([], [(EventType.EXIT, 3)]), events
        ctr.delete()
    finally:
        remove_container(client, id)
        client.close()
        remove_runc_root(namespace)


def test_the_embedded_containerd_is_root_only(env: Env) -> None:
    daemon = session_daemon(env)
    sock = Path(daemon.address)
    st = sock.stat()
    assert stat.S_ISSOCK(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) & 0o007 == 0, oct(st.st_mode)
    for d in (Path(daemon.root_dir), Path(daemon.state_dir)):
        assert stat.S_IMODE(d.stat().st_mode) & 0o066 == 0, (d, oct(d.stat().st_mode))
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    refused = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
         "ctr", "-a", str(sock), "version"], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    assert "permission denied" in refused.stderr.lower()
