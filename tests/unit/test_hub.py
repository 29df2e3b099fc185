"""The hub's bookkeeping without Go: exits recorded for wait() (sync and
async), events fanned out to streams in order, and everything ended by close."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pylibctrd import errors
from pylibctrd._hub import EventStream, Hub
from pylibctrd.types import EventType


def event(kind: str, cid: str = "c", pid: str = "c", code: int = 0) -> dict[str, Any]:
    return {"type": kind, "container_id": cid, "process_id": pid, "pid": 7, "exit_code": code,
            "exited_at": 1_700_000_000_000_000_000 if kind == "exit" else None, "error": ""}


def test_wait_returns_an_exit_that_came_before_or_after() -> None:
    hub = Hub(None)
    hub(event("exit", code=3))
    assert hub.wait_exit("c", "c", 0).exit_code == 3
    threading.Timer(0.05, hub, [event("exit", pid="e1", code=4)]).start()
    assert hub.wait_exit("c", "e1", 30).exit_code == 4


def test_forget_exit_makes_a_reused_id_wait_again() -> None:
    hub = Hub(None)
    hub(event("exit"))
    hub.forget_exit("c", "c")
    with pytest.raises(errors.Deadline, match="no exit event for c/c within 0.01s"):
        hub.wait_exit("c", "c", 0.01)


def test_close_ends_a_sync_wait() -> None:
    hub = Hub(None)
    threading.Timer(0.05, hub.close).start()
    with pytest.raises(errors.Closed):
        hub.wait_exit("c", "c", 30)


def test_async_wait_sees_the_same_exits_and_the_same_errors() -> None:
    async def main() -> None:
        hub = Hub(None)
        hub(event("exit", code=1))
        assert (await hub.wait_exit_async("c", "c", None)).exit_code == 1
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: threading.Thread(
            target=hub, args=(event("exit", pid="e", code=2),)).start())
        assert (await hub.wait_exit_async("c", "e", 30)).exit_code == 2
        with pytest.raises(errors.Deadline, match="no exit event for c/x within 0.01s"):
            await hub.wait_exit_async("c", "x", 0.01)
        assert not hub._async_waiters, "a timed-out waiter stayed registered"
        waiting = asyncio.ensure_future(hub.wait_exit_async("c", "y", 30))
        await asyncio.sleep(0)
        hub.close()
        with pytest.raises(errors.Closed):
            await waiting
        with pytest.raises(errors.Closed):
            await hub.wait_exit_async("c", "z", 30)

    asyncio.run(main())


def test_streams_get_events_in_order_filtered_and_end_on_close() -> None:
    hub = Hub(None)
    every, mine = EventStream(hub, None), EventStream(hub, "c2")
    hub(event("start"))
    hub(event("start", cid="c2", pid="c2"))
    hub(event("exit", cid="c2", pid="c2"))
    hub.close()
    assert [(e.type, e.info.container_id) for e in every] == [
        (EventType.START, "c"), (EventType.START, "c2"), (EventType.EXIT, "c2")]
    assert [e.type for e in mine] == [EventType.START, EventType.EXIT]
    with pytest.raises(TypeError, match="use `for`"):
        aiter(every)


def test_async_stream_is_fed_from_another_thread_and_ended_by_aclose() -> None:
    async def main() -> list[EventType]:
        hub = Hub(None)
        got = []
        async with EventStream(hub, None, asyncio.get_running_loop()) as stream:
            def feed() -> None:
                for kind in ("create", "start"):
                    hub(event(kind))

            threading.Thread(target=feed).start()
            async for ev in stream:
                got.append(ev.type)
                if len(got) == 2:
                    break
        hub(event("exit"))  # after aclose: not delivered, no error
        with pytest.raises(TypeError, match="use `async for`"):
            iter(stream)
        return got

    assert asyncio.run(main()) == [EventType.CREATE, EventType.START]


def test_a_failing_stream_does_not_stop_the_backend() -> None:
    seen = []

    class Backend:
        def process_event(self, container_id: str, event: EventType, info: Any) -> None:
            seen.append(event)

    hub = Hub(Backend())
    def fail(ev: object) -> None:
        raise RuntimeError("gone")

    hub.subscribe(fail)
    hub(event("start"))
    assert seen == [EventType.START]
