"""libcontainerd's event stream, delivered through the Go -> C -> Python trampoline."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import pylibctrd
from pylibctrd import EventInfo, EventType
from pylibctrd.testing import Env, MakeContainer


def test_event_order_per_container(make_container: MakeContainer,
                                   recorder: pylibctrd.Recorder) -> None:
    ctr = make_container(["sh", "-c", "sleep 1; exit 2"])
    task = ctr.new_task()
    task.start()
    spec = pylibctrd.process_spec(pylibctrd.container_spec("/", ["sh"]), ["sh", "-c", "exit 4"])
    proc = task.exec("e1", spec)
    recorder.wait_for(ctr.id, EventType.EXIT, process_id="e1")
    recorder.wait_for(ctr.id, EventType.EXIT, process_id=ctr.id)
    trace = [(e, i.process_id) for e, i in recorder.of(ctr.id)]
    assert trace == [
        (EventType.CREATE, ctr.id), (EventType.START, ctr.id),
        (EventType.EXEC_ADDED, "e1"), (EventType.EXEC_STARTED, "e1"),
        (EventType.EXIT, "e1"), (EventType.EXIT, ctr.id),
    ]
    infos = dict(((e, i.process_id), i) for e, i in recorder.of(ctr.id))
    assert infos[(EventType.CREATE, ctr.id)].pid == task.pid
    assert infos[(EventType.EXEC_STARTED, "e1")].pid == proc.pid
    assert infos[(EventType.EXIT, "e1")].exit_code == 4
    assert infos[(EventType.EXIT, ctr.id)].exit_code == 2
    assert infos[(EventType.CREATE, ctr.id)].exited_at is None
    proc.delete()
    task.delete()
    ctr.delete()


class SlowFor:
    """Blocks events of one container until released."""

    def __init__(self, slow_id: str) -> None:
        self.slow_id = slow_id
        self.release = threading.Event()
        self.recorder = pylibctrd.Recorder()

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        if container_id == self.slow_id:
            self.release.wait(30)
        self.recorder.process_event(container_id, event, info)


def test_slow_callback_for_one_container_does_not_hold_up_another(env: Env) -> None:
    backend = SlowFor("t-slow")
    with env.connect(backend=backend) as client:
        slow = client.new_container("t-slow", env.spec("t-slow", ["true"]))
        fast = client.new_container("t-fast", env.spec("t-fast", ["true"]))
        try:
            t1 = slow.new_task()
            t1.start()
            t2 = fast.new_task()
            t2.start()
            # The fast container's whole lifecycle arrives while the slow one is stuck.
            backend.recorder.wait_for("t-fast", EventType.EXIT, timeout=20)
            assert backend.recorder.of("t-slow") == []
            backend.release.set()
            backend.recorder.wait_for("t-slow", EventType.EXIT, timeout=20)
            kinds = [e for e, _ in backend.recorder.of("t-slow")]
            assert kinds == [EventType.CREATE, EventType.START, EventType.EXIT]
            t1.delete()
            t2.delete()
        finally:
            backend.release.set()
            for c in (slow, fast):
                try:
                    c.task().force_delete()
                except pylibctrd.errors.NotFound:
                    pass
                c.delete()


class Raising:
    def __init__(self) -> None:
        self.calls = 0

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        self.calls += 1
        raise RuntimeError(f"backend failure on {event.value}")


def test_callback_that_raises_is_logged_and_stream_goes_on(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    backend = Raising()
    caplog.set_level(logging.ERROR, logger="pylibctrd")
    with env.connect(backend=backend) as client:
        ctr = client.new_container("t-raise", env.spec("t-raise", ["true"]))
        task = ctr.new_task()
        task.start()
        deadline = time.monotonic() + 20
        while backend.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.calls == 3  # create, start, exit: one failure did not stop the stream
        task.delete()
        ctr.delete()
    failures = [r for r in caplog.records if "failed to process event" in r.getMessage()]
    assert len(failures) == 3
    assert "backend failure on exit" in " ".join(r.getMessage() for r in failures)


def test_no_callback_after_close_returns(env: Env) -> None:
    seen: list[float] = []
    entered = threading.Event()
    closed_at: list[float] = []

    class Slow:
        def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
            entered.set()
            time.sleep(0.5)
            seen.append(time.monotonic())

    client = env.connect(backend=Slow())
    ctr = client.new_container("t-close", env.spec("t-close", ["sleep", "60"]))
    task = ctr.new_task()
    task.start()
    assert entered.wait(10)
    client.close()
    closed_at.append(time.monotonic())
    assert client.closed
    with pytest.raises(pylibctrd.errors.Closed):
        client.version()
    with pytest.raises(pylibctrd.errors.Closed):
        task.status()
    time.sleep(1.0)
    assert seen and all(t <= closed_at[0] for t in seen)
    count = len(seen)
    with env.connect() as other:
        c = other.load_container("t-close")
        c.task().force_delete()
        c.delete()
    time.sleep(0.5)
    assert len(seen) == count


def test_close_from_inside_a_callback_does_not_deadlock(env: Env) -> None:
    done = threading.Event()
    holder: list[pylibctrd.Client] = []

    class Closer:
        def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
            if event is EventType.EXIT:
                holder[0].close()
                done.set()

    holder.append(env.connect(backend=Closer()))
    try:
        ctr = holder[0].new_container("t-selfclose", env.spec("t-selfclose", ["sleep", "60"]))
        task = ctr.new_task()
        task.start()
        # The exit is caused from another client, so that no call of the closing
        # client is in flight (close() cancels those, by design).
        with env.connect() as other:
            other.load_container("t-selfclose").task().kill(9)
            assert done.wait(10)
            assert holder[0].closed
            with pytest.raises(pylibctrd.errors.Closed):
                task.status()
    finally:
        holder[0].close()
        with env.connect() as cleaner:
            c = cleaner.load_container("t-selfclose")
            c.task().force_delete()
            c.delete()
