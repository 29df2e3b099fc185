"""Where a client's events go: libcontainerd delivers each event once, on a
Go thread, in its per-container order; the hub records exits (for
`wait()`), hands the event to `events()` subscribers, then to the Backend."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, Coroutine

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
        self._subscribers: list[Subscriber] = []
        self._closed = False

    def __call__(self, p: dict[str, Any]) -> None:
        """The event sink Go calls."""
        event = EventType(p["type"])
        info = EventInfo(p["container_id"], p["process_id"], p["pid"], p["exit_code"],
                         from_unix_nanos(p["exited_at"]), p["error"])
        with self._cond:
            if event is EventType.EXIT:
                self._exits[(info.container_id, info.process_id)] = info
                self._cond.notify_all()
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
                    raise errors.Deadline(f"no exit event for {container_id}/{process_id}"
                                          f" within {timeout}s")
                self._cond.wait(SLICE if left is None else min(left, SLICE))

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
            self._cond.notify_all()
        for deliver in subscribers:
            deliver(None)
