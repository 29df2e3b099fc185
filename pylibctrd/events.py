"""The Backend protocol and a ready-made recording backend."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from .types import EventInfo, EventType

# Waits are cut into slices this long (seconds): a SIGINT often lands on one of
# Go's threads, and then only a wake-up lets the main thread raise
# KeyboardInterrupt.
SLICE = 0.05


class Backend(Protocol):
    """libcontainerd's types.Backend. Called from Go threads, in order per
    container (libcontainerd queues events per container) and concurrently
    across containers. An exception is logged by libcontainerd as
    "failed to process event" and the stream goes on."""

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None: ...


class Recorder:
    """A Backend that keeps every event and lets you wait for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[tuple[EventType, EventInfo]] = []

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        with self._cond:
            self.events.append((event, info))
            self._cond.notify_all()

    def of(self, container_id: str) -> list[tuple[EventType, EventInfo]]:
        """The events so far for one container, in delivery order."""
        with self._cond:
            return [(e, i) for e, i in self.events if i.container_id == container_id]

    def wait_for(self, container_id: str, event: EventType, process_id: str | None = None,
                 timeout: float = 30.0) -> EventInfo:
        """The first matching event, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e, info in self.events:
                    if (e == event and info.container_id == container_id
                            and (process_id is None or info.process_id == process_id)):
                        return info
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {event.value} event for {container_id}"
                                       f"{'/' + process_id if process_id else ''} within {timeout}s")
                self._cond.wait(min(left, SLICE))
