"""Where a client's events go: libcontainerd delivers each event once, on a
Go thread, in its per-container order; the hub records exits (for
`wait()`, sync or async), hands the event to `events()` streams, then to the
Backend."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from typing import Any, AsyncIterator, Callable, Coroutine, Iterator

from . import errors
from .events import SLICE, Backend
from .types import Event, EventInfo, EventType, from_unix_nanos

logger = logging.getLogger("pylibctrd")

Subscriber = Callable[[Event | None], None]  # None: the stream ended


class Hub:
    def __init__(self, backend: Backend | None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._backend = backend
        self._loop = loop  # set: an async backend runs there
        self._cond = threading.Condition()
        self._exits: dict[tuple[str, str], EventInfo] = {}
        self._async_waiters: dict[tuple[str, str], list[_Waiter]] = {}
        self._subscribers: list[Subscriber] = []
        self._closed = False

    def __call__(self, p: dict[str, Any]) -> None:
        """The event sink Go calls."""
        event = EventType(p["type"])
        info = EventInfo(p["container_id"], p["process_id"], p["pid"], p["exit_code"],
                         from_unix_nanos(p["exited_at"]), p["error"])
        with self._cond:
            if event is EventType.EXIT:
                key = (info.container_id, info.process_id)
                self._exits[key] = info
                self._cond.notify_all()
                for waiter in self._async_waiters.pop(key, ()):
                    waiter.settle(info)
            subscribers = list(self._subscribers)
        for deliver in subscribers:
            try:
                deliver(Event(event, info))
            except Exception:  # a gone subscriber must not stop the Backend's events
                logger.exception("pylibctrd: events() subscriber failed")
        if self._backend is not None:
            if self._loop is None:
                self._backend.process_event(p["container_id"], event, info)
            else:
                handler: Callable[..., Coroutine[Any, Any, None]] = getattr(
                    self._backend, "process_event")
                self._await(handler(p["container_id"], event, info))

    def _await(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run an async backend's coroutine on the client's loop and wait for it:
        libcontainerd's queue for this container waits too (Moby's back-pressure)."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        while True:
            try:
                future.result(timeout=1.0)
                return
            except concurrent.futures.TimeoutError:
                if not self._loop.is_running():
                    future.cancel()
                    raise RuntimeError("the client's event loop stopped") from None

    # --- exits, for Task.wait() / Process.wait() ------------------------------

    def forget_exit(self, container_id: str, process_id: str) -> None:
        """A new process under this key: its exit is yet to come."""
        with self._cond:
            self._exits.pop((container_id, process_id), None)

    def exit_of(self, container_id: str, process_id: str) -> EventInfo | None:
        with self._cond:
            return self._exits.get((container_id, process_id))

    def wait_exit(self, container_id: str, process_id: str, timeout: float | None) -> EventInfo:
        """The process's EXIT event, waiting for it (`Deadline` after `timeout`
        seconds, `Closed` when the client closes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                info = self._exits.get((container_id, process_id))
                if info is not None:
                    return info
                if self._closed:
                    raise errors.Closed("client is closed")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise _no_exit(container_id, process_id, timeout)
                self._cond.wait(SLICE if left is None else min(left, SLICE))

    async def wait_exit_async(self, container_id: str, process_id: str,
                              timeout: float | None) -> EventInfo:
        """wait_exit() for a coroutine: the same event, on the running loop."""
        key = (container_id, process_id)
        waiter = _Waiter(asyncio.get_running_loop())
        with self._cond:
            info = self._exits.get(key)
            if info is not None:
                return info
            if self._closed:
                raise errors.Closed("client is closed")
            self._async_waiters.setdefault(key, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            raise _no_exit(container_id, process_id, timeout) from None
        finally:
            with self._cond:
                waiters = self._async_waiters.get(key, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        del self._async_waiters[key]

    # --- subscribers ----------------------------------------------------------

    def subscribe(self, deliver: Subscriber) -> None:
        with self._cond:
            if self._closed:
                deliver(None)
                return
            self._subscribers.append(deliver)

    def unsubscribe(self, deliver: Subscriber) -> None:
        with self._cond:
            if deliver in self._subscribers:
                self._subscribers.remove(deliver)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            subscribers, self._subscribers = self._subscribers, []
            waiters = [w for ws in self._async_waiters.values() for w in ws]
            self._async_waiters.clear()
            self._cond.notify_all()
        for deliver in subscribers:
            deliver(None)
        for waiter in waiters:
            waiter.settle(None)


def _no_exit(container_id: str, process_id: str, timeout: float | None) -> errors.Deadline:
    return errors.Deadline(f"no exit event for {container_id}/{process_id} within {timeout}s")


class _Waiter:
    """One coroutine's wait for an exit, settled from Go's event thread."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[EventInfo] = loop.create_future()

    def settle(self, info: EventInfo | None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._settle, info)

    def _settle(self, info: EventInfo | None) -> None:
        if self.future.done():
            return
        if info is None:
            self.future.set_exception(errors.Closed("client is closed"))
        else:
            self.future.set_result(info)


class EventStream:
    """`client.events()`: libcontainerd's events from now on, in its order,
    as `Event(type, info)`. Iterate it (`for`) from the sync client, or
    `async for` from the asyncio client, whose loop it delivers to. Ended by
    `close()`/`aclose()` (from any thread) or by closing the client.
    Unbounded: consume it or close it."""

    def __init__(self, hub: Hub, container_id: str | None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._hub = hub
        self._container_id = container_id
        self._loop = loop
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._aqueue: asyncio.Queue[Event | None] | None = (
            asyncio.Queue() if loop is not None else None)
        self._ended = False
        hub.subscribe(self._deliver)

    def _deliver(self, event: Event | None) -> None:  # on Go's event thread
        if event is not None and self._container_id not in (None, event.info.container_id):
            return
        if self._aqueue is None:
            self._queue.put(event)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._aqueue.put_nowait, event)

    def _end(self, event: Event | None) -> Event:
        if event is None:
            self._ended = True
            raise StopIteration
        return event

    def __iter__(self) -> Iterator[Event]:
        if self._aqueue is not None:
            raise TypeError("this stream belongs to an asyncio client: use `async for`")
        return self

    def __next__(self) -> Event:
        if self._ended:
            raise StopIteration
        return self._end(self._queue.get())

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._aqueue is None:
            raise TypeError("this stream belongs to a sync client: use `for`")
        return self

    async def __anext__(self) -> Event:
        if self._ended or self._aqueue is None:
            raise StopAsyncIteration
        try:
            return self._end(await self._aqueue.get())
        except StopIteration:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._hub.unsubscribe(self._deliver)
        if self._aqueue is None:
            self._queue.put(None)
        else:
            self._ended = True

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
