"""Leak checks for tests: the Go handles Python holds and the goroutines Go
runs, told apart from background work that has not finished yet.

Goroutines are compared by id (the Go runtime never reuses one), not counted.
A count taken while a goroutine is about to end reads one too many: after
`task.start()` libcontainerd's per-container event queue may still be handing
the START event to Python (`queue.(*Queue).Append.func1` in
`pylibctrd_call_event`), and the count then never comes back to that baseline
(issue 22's `[5, 13] == [5, 14]`). A count can also hide a leak behind a
goroutine that ended. So a leak here is a goroutine that did not exist at the
baseline and is still alive once background work has had time to end.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time

from . import _ffi

_HEAD = re.compile(r"goroutine (\d+) \[")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    handles: int  # Go objects Python holds
    goroutines: dict[int, str]  # id -> stack, but the snapshot's own

    def __repr__(self) -> str:
        return f"Snapshot(handles={self.handles}, goroutines={len(self.goroutines)})"


def snapshot() -> Snapshot:
    """The handles held and the goroutines alive now (after a GC, so that
    dropped Python objects have given their handles back)."""
    gc.collect()
    stacks = {}
    for block in _ffi.goroutine_stacks().strip().split("\n\n"):
        m = _HEAD.match(block)
        if m:
            stacks[int(m.group(1))] = block
    return Snapshot(_ffi.live_handles(), stacks)


def leaks(before: Snapshot, now: Snapshot) -> list[str]:
    """What `now` holds that `before` did not: a different handle count, and
    each goroutine begun since `before` (with its stack). Empty: nothing."""
    found = []
    if now.handles != before.handles:
        found.append(f"{now.handles} live handles, {before.handles} before")
    found += [stack for id, stack in sorted(now.goroutines.items()) if id not in before.goroutines]
    return found


def settle(before: Snapshot, timeout: float = 10.0) -> list[str]:
    """leaks() once background work has wound down: polls until nothing is
    left or `timeout` s have passed (a margin for a machine at 2x load; only a
    real leak waits that long)."""
    deadline = time.monotonic() + timeout
    while (found := leaks(before, snapshot())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def check(before: Snapshot, timeout: float = 10.0) -> None:
    """settle(), failing with what was left (each goroutine's stack)."""
    if found := settle(before, timeout):
        raise AssertionError("handles or goroutines leaked:\n\n" + "\n\n".join(found))
