"""pylibctrd.aio against the real containerd: every coroutine, events,
cancellation (against a containerd stopped with SIGSTOP), and the loop rules."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

import pylibctrd
from pylibctrd import EventType, _leaks, aio, errors, stdio
from pylibctrd.types import Event, EventInfo
from pylibctrd.testing import PROMPT, Env, frozen


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), 60))


def new_id() -> str:
    return f"a-{uuid.uuid4().hex[:12]}"


async def connect(env: Env, backend: Any = None, timeout: float = 30.0) -> aio.Client:
    return await aio.Client.connect(env.address, namespace=env.namespace,
                                    state_dir=str(env.bundles), backend=backend, timeout=timeout)


async def remove(client: aio.Client, id: str) -> None:
    try:
        ctr = await client.load_container(id)
    except errors.NotFound:
        return
    try:
        await (await ctr.task()).force_delete()
    except errors.NotFound:
        pass
    await ctr.delete()


@contextmanager
def containerd_stopped(env: Env) -> Iterator[None]:
    """containerd frozen with SIGSTOP: calls reach it and hang."""
    assert env.daemon is not None, "needs the containerd this session started"
    with frozen(int((Path(env.daemon.state_dir) / "containerd.pid").read_text())):
        yield


def test_every_coroutine_on_a_real_container(env: Env) -> None:
    async def main() -> None:
        async with await connect(env) as client:
            assert (await client.version()).version
            id = new_id()
            ctr = await client.new_container(id, env.spec(id, ["sh", "-c", "read x; echo got $x; exit 5"]),
                                             labels={"k": "v"})
            try:
                records = {r.id: r for r in await client.list_containers()}
                assert records[id].labels["k"] == "v"
                assert records[id].runtime == pylibctrd.RUNC_V2
                again = await client.load_container(id)
                assert again.id == id
                io = aio.Stdio()
                task = await ctr.new_task(with_stdin=True, attach_stdio=io)
                assert (await task.status()) is pylibctrd.Status.CREATED
                await task.start()
                assert task.pid > 0
                assert (await (await ctr.task()).status()) is pylibctrd.Status.RUNNING
                await task.pause()
                assert (await task.status()) is pylibctrd.Status.PAUSED
                await task.resume()
                await task.update_resources({"pids": {"limit": 50}})
                stats = await task.stats()
                assert stats.metrics
                assert [p.pid for p in await task.pids()] == [task.pid]
                with pytest.raises(errors.Error):
                    await task.summary()  # fails on Linux/runc, as in Go
                exec_io = aio.Stdio()
                proc = await task.exec("e1", pylibctrd.process_spec(env.spec(id, ["sh"]), ["sh", "-c", "echo exec; exit 4"]),
                                       attach_stdio=exec_io)
                assert exec_io.stdout is not None
                assert await exec_io.stdout.readall() == b"exec\n"
                assert (await proc.wait()).exit_code == 4
                assert (await proc.delete()).exit_code == 4
                assert io.stdin is not None and io.stdout is not None
                await io.stdin.write(b"hello\n")
                await io.stdin.close()
                assert await io.stdout.readall() == b"got hello\n"
                info = await task.wait()
                assert info.exit_code == 5 and info.process_id == id
                assert (await task.delete()).exit_code == 5
                with pytest.raises(errors.NotFound):
                    await ctr.task()
            finally:
                await remove(client, id)
            replaced = await client.replace_container(id, env.spec(id, ["true"]))
            await replaced.delete()
            with pytest.raises(errors.NotFound, match="no such container"):
                await client.load_container(id)

    run(main)


START_ELSEWHERE = r"""
import sys
import pylibctrd
address, namespace, bundles, rootfs, id = sys.argv[1:6]
with pylibctrd.Client.connect(address, namespace=namespace, state_dir=bundles) as client:
    spec = pylibctrd.container_spec(rootfs, ["sh", "-c", "while true; do echo tick; sleep 0.1; done"],
                                    cgroups_path=f"/pylibctrd-test/{id}")
    client.new_container(id, spec).new_task().start()
"""


def test_attach_task_and_kill_through_aio(env: Env) -> None:
    """As dockerd's restore: the task was started by a process that is gone,
    so this client is its only reader (libcontainerd allows one)."""
    id = new_id()
    subprocess.run([sys.executable, "-c", START_ELSEWHERE, env.address, env.namespace,
                    str(env.bundles), str(env.rootfs), id], check=True, timeout=60)

    async def main() -> None:
        async with await connect(env) as client:
            try:
                ctr = await client.load_container(id)
                io = aio.Stdio()
                attached = await ctr.attach_task(attach_stdio=io)
                assert io.stdout is not None
                assert b"tick" in await io.stdout.read()
                await attached.kill(signal.SIGKILL)
                assert (await attached.wait(timeout=10)).exit_code == 128 + signal.SIGKILL
                await attached.delete()
            finally:
                await remove(client, id)

    run(main)


def test_thousand_concurrent_versions_complete(env: Env) -> None:
    async def main() -> None:
        async with await connect(env) as client:
            versions = await asyncio.gather(*[client.version() for _ in range(1000)])
            assert len({v.version for v in versions}) == 1

    run(main)


def test_cancelling_version_new_task_and_exec_on_a_stopped_containerd(env: Env) -> None:
    """Each cancelled call returns within 100 ms and leaves no handle or goroutine."""

    async def main() -> None:
        async with await connect(env, timeout=30) as client:
            id = new_id()
            ctr = await client.new_container(id, env.spec(id, ["sleep", "60"]))
            running_id = new_id()
            running = await client.new_container(running_id, env.spec(running_id, ["sleep", "60"]))
            task = await running.new_task()
            await task.start()
            try:
                before = _leaks.snapshot()
                calls: list[Callable[[], Awaitable[object]]] = [
                    client.version,
                    lambda: ctr.new_task(attach_stdio=stdio.Capture()),
                    lambda: task.exec("e-cancel", pylibctrd.process_spec(env.spec(id, ["sh"]), ["true"])),
                ]
                with containerd_stopped(env):
                    for make in calls:
                        pending = asyncio.ensure_future(make())
                        await asyncio.sleep(0.2)
                        assert not pending.done(), "containerd is stopped: the call must hang"
                        started = time.monotonic()
                        pending.cancel()
                        with pytest.raises(asyncio.CancelledError):
                            await pending
                        assert time.monotonic() - started < PROMPT
                _leaks.check(before)
                assert (await client.version()).version  # the client goes on
            finally:
                # containerd may have acted on a request it had read before it stopped
                await remove(client, id)
                await remove(client, running_id)

    run(main)


def test_timeout_cancels_like_cancellation(env: Env) -> None:
    async def main() -> None:
        async with await connect(env) as client:
            before = _leaks.snapshot()
            with containerd_stopped(env):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(client.version(), 0.2)
            _leaks.check(before)

    run(main)


def test_loop_closed_with_calls_in_flight(env: Env) -> None:
    """asyncio.run cancels what is pending when its coroutine ends: the Go
    calls are cancelled too, and nothing is left behind."""
    before = _leaks.snapshot()

    async def main() -> None:
        client = await connect(env)
        with containerd_stopped(env):
            for _ in range(5):
                asyncio.ensure_future(client.version())
            await asyncio.sleep(0.1)
        # returning with the calls (and the client) still open

    asyncio.run(main())
    _leaks.check(before)


class SleepyBackend:
    """An async backend that sleeps, to show that the per-container queue waits."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, EventType, str]] = []
        self.running = 0
        self.overlapped = False

    async def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        self.running += 1
        self.overlapped |= self.running > 1
        await asyncio.sleep(0.05)
        self.seen.append((container_id, event, info.process_id))
        self.running -= 1


def test_async_backend_keeps_libcontainerds_order(env: Env) -> None:
    backend = SleepyBackend()

    async def main() -> None:
        async with await connect(env, backend=backend) as client:
            id = new_id()
            ctr = await client.new_container(id, env.spec(id, ["sh", "-c", "exit 2"]))
            try:
                task = await ctr.new_task()
                await task.start()
                await task.wait()
                for _ in range(100):  # the EXIT reaches the backend after its sleep
                    if len([e for e in backend.seen if e[0] == id]) == 3:
                        break
                    await asyncio.sleep(0.05)
                await task.delete()
            finally:
                await remove(client, id)
            ours = [(e, p) for c, e, p in backend.seen if c == id]
            assert ours[:3] == [(EventType.CREATE, id), (EventType.START, id), (EventType.EXIT, id)]
            assert not backend.overlapped  # one container: one event at a time

    run(main)


class RaisingBackend:
    def __init__(self) -> None:
        self.calls = 0

    async def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        self.calls += 1
        raise RuntimeError("backend failure")


def test_async_backend_that_raises_is_logged_and_events_go_on(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    backend = RaisingBackend()
    caplog.set_level(logging.ERROR, logger="pylibctrd")

    async def main() -> None:
        async with await connect(env, backend=backend) as client:
            id = new_id()
            ctr = await client.new_container(id, env.spec(id, ["true"]))
            try:
                task = await ctr.new_task()
                await task.start()
                assert (await task.wait(timeout=10)).exit_code == 0
                await task.delete()
            finally:
                await remove(client, id)

    run(main)
    assert backend.calls >= 3
    assert any("failed to process event" in r.getMessage() and "backend failure" in r.getMessage()
               for r in caplog.records)


def test_events_with_two_consumers(env: Env) -> None:
    async def main() -> None:
        async with await connect(env) as client:
            id = new_id()

            async def consume() -> list[Event]:
                got = []
                async with client.events(container_id=id) as events:
                    async for ev in events:
                        got.append(ev)
                        if ev.type is EventType.EXIT:
                            return got
                return got

            consumers = [asyncio.ensure_future(consume()) for _ in range(2)]
            await asyncio.sleep(0)
            ctr = await client.new_container(id, env.spec(id, ["true"]))
            try:
                task = await ctr.new_task()
                await task.start()
                first, second = await asyncio.gather(*consumers)
                await task.delete()
            finally:
                await remove(client, id)
            types = [e.type for e in first]
            assert types == [EventType.CREATE, EventType.START, EventType.EXIT]
            assert first == second

    run(main)


def test_client_belongs_to_its_loop(env: Env) -> None:
    holder: list[aio.Client] = []

    async def first() -> None:
        holder.append(await connect(env))

    async def second() -> None:
        with pytest.raises(RuntimeError, match="another loop"):
            await holder[0].version()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(first())
        asyncio.run(second())
        loop.run_until_complete(holder[0].close())
    finally:
        loop.close()


def test_sync_client_rejects_an_async_backend(env: Env) -> None:
    with pytest.raises(TypeError, match="aio"):
        env.connect(backend=SleepyBackend())  # type: ignore[arg-type]


def test_sync_wait_and_event_iterator(env: Env) -> None:
    with env.connect() as client:
        id = new_id()
        ctr = client.new_container(id, env.spec(id, ["sh", "-c", "sleep 2; exit 6"]))
        try:
            with client.events(container_id=id) as events:
                task = ctr.new_task()
                task.start()
                with pytest.raises(errors.Deadline):
                    task.wait(timeout=0.05)
                assert task.wait(timeout=10).exit_code == 6
                got = []
                for ev in events:
                    got.append(ev.type)
                    if ev.type is EventType.EXIT:
                        break
                assert got == [EventType.CREATE, EventType.START, EventType.EXIT]
            task.delete()
        finally:
            ctr.delete()


def test_sync_event_iterator_ends_when_closed_from_another_thread(env: Env) -> None:
    with env.connect() as client:
        events = client.events()
        threading.Timer(0.2, events.close).start()
        started = time.monotonic()
        assert list(events) == []
        assert time.monotonic() - started < 1.0


def test_capture_and_passthrough_work_with_aio(env: Env, tmp_path: Path) -> None:
    async def main() -> None:
        async with await connect(env) as client:
            id = new_id()
            ctr = await client.new_container(id, env.spec(id, ["sh", "-c", "echo out; echo err >&2"]))
            try:
                cap = stdio.Capture()
                task = await ctr.new_task(attach_stdio=cap)
                await task.start()
                await task.wait(timeout=10)
                assert await asyncio.to_thread(cap.wait, 10)
                assert (cap.stdout, cap.stderr) == (b"out\n", b"err\n")
                await task.delete()
                with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
                    passthrough = stdio.PassThrough(stdout=out, stderr=err)
                    task = await ctr.new_task(attach_stdio=passthrough)
                    await task.start()
                    await task.wait(timeout=10)
                    assert await asyncio.to_thread(passthrough.wait, 10)
                    await task.delete()
                assert (tmp_path / "out").read_bytes() == b"out\n"
                assert (tmp_path / "err").read_bytes() == b"err\n"
            finally:
                await remove(client, id)

    run(main)
