"""The completion port of one event loop, for pylibctrd.aio: Ops run in the
background on the port's worker goroutines, and their completions wake the
loop through one eventfd. No Python thread per call; cancelling the awaiting
task cancels the call's Go context.

Per pass of the loop: the calls made during it are submitted together.
Calls whose only argument is a handle (version, a task's status, ...) are
queued in the port's submission ring, in C, without entering Go: the port's
dispatcher goroutine starts them. Others cross into Go each, back to back.
The completions waiting are taken from C memory (pylibctrd_ring_take), all
at once, packed into one buffer (docs/performance.md has why)."""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from .. import errors
from .callbacks import StdioToken
from .handles import Owned
from .native import call, check, check_status, ffi, lib
from .op import Op

if TYPE_CHECKING:
    from .._native import CData

T = TypeVar("T")

# Calls queued before they are submitted without waiting for the end of the
# pass (measured: 4, 8 and 16 against the end of the pass only; 16 was best).
_SUBMIT_EVERY = 16
# pylibctrd_port_take's record header (pylibctrd.h): call, number, status, len.
_RECORD = struct.Struct("=QQqQ")
_NO_DATA = 0xFFFFFFFFFFFFFFFF


def _records(count: int, packed: bytes | None) -> Iterator[tuple[int, int, int, bytes | None]]:
    """The `count` completion records of a take's buffer: (call id, number,
    status, data), each record's data padded to 8 bytes."""
    records, offset = packed or b"", 0
    for _ in range(count):
        call_id, number, status, size = _RECORD.unpack_from(records, offset)
        offset += _RECORD.size
        data = None
        if size != _NO_DATA:
            data = records[offset:offset + size]
            offset += (size + 7) & ~7
        yield call_id, number, status, data


def _ring_refusal(status: int) -> bytes:
    """The message of a pylibctrd_ring_submit refusal (as Go words them)."""
    native = lib()
    return {native.PYLIBCTRD_CLOSED: b"completion port is closed",
            native.PYLIBCTRD_SYSTEM: b"out of memory"}.get(status, b"submission refused")


def _error(status: int, data: bytes | None) -> BaseException:
    """A failed call's error, as check() raises it."""
    try:
        check_status(status, data)
    except errors.Error as err:
        return err
    return errors.Unknown(f"status {status} without an error")


class _Pending:
    __slots__ = ("future", "op", "args", "abandoned", "submitted")

    def __init__(self, future: asyncio.Future[tuple[int, bytes | None]], op: Op[Any],
                 args: tuple[object, ...]) -> None:
        self.future = future
        self.op = op
        self.args = args  # kept alive until submitted (Go copies what it keeps)
        self.abandoned = False
        self.submitted = False


class Port(Owned):
    """A completion port of one event loop: Ops run in the background on
    worker goroutines, and their completions wake the loop through one
    eventfd. No Python thread per call; cancelling the awaiting task cancels
    the call's Go context."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        handle, _ = call(lib().pylibctrd_port_open)
        super().__init__(handle)
        self._loop = loop
        self._fd, _ = call(lib().pylibctrd_port_fd, handle)
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._pending_status = lib().PYLIBCTRD_PENDING
        self._submit = ffi().new("pylibctrd_result *")  # used on the loop's thread only
        self._closed = False
        # Calls made during one pass of the loop, submitted together by
        # _submit_queued (call_soon): back-to-back crossings into Go find the
        # Go scheduler's P still theirs instead of waiting for one each time.
        self._queued: list[tuple[int, _Pending]] = []
        # The submission ring, made with the port (its dispatcher goroutine
        # lives as long as the port: a leak check that begins after connect
        # does not see it begin), and per export its index in the ring (-1:
        # not a ring call). None once closed: Go frees the ring then.
        try:
            address, names = call(lib().pylibctrd_port_ring, handle)
        except BaseException:
            call(lib().pylibctrd_port_close, handle)
            raise
        self._ring: CData | None = ffi().cast("pylibctrd_ring *", address)
        self._ring_names = {name: i for i, name in enumerate((names or b"").decode().split("\0"))}
        self._ring_slots: dict[Callable[..., int], int] = {}
        loop.add_reader(self._fd, self._drain)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def check_loop(self) -> None:
        # Fast path: asyncio's loops record the thread running them, and a
        # thread runs one loop at a time (asyncio.get_running_loop() costs a
        # getpid() system call per call on CPython 3.11).
        if getattr(self._loop, "_thread_id", None) == threading.get_ident():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            raise RuntimeError("this pylibctrd.aio object belongs to the event loop that "
                               "connected its client; it cannot be used from another loop")

    async def run(self, op: Op[T]) -> T:
        """Run `op` in the background; its Go context is cancelled if this
        coroutine is (or is closed with its loop)."""
        self.check_loop()
        if self._closed:
            raise errors.Closed("client is closed")
        call_id = next(self._ids)
        stdio = StdioToken(op.stdio) if op.stdio is not None else None
        args = (stdio.token, *op.args) if stdio is not None else op.args
        pending = _Pending(self._loop.create_future(), op, args)
        self._pending[call_id] = pending
        if not self._queued:
            self._loop.call_soon(self._submit_queued)
        self._queued.append((call_id, pending))
        try:
            if len(self._queued) >= _SUBMIT_EVERY:
                # A batch of completions wakes many tasks at once: hand Go
                # their next calls as they come rather than after the last
                # one, so that Go does not run dry while this loop works
                # through the batch.
                self._submit_queued()
            number, data = await pending.future
        except errors.Error as err:  # refused at once, or failed in Go
            if op.on_error is not None:
                op.on_error()
            raised = stdio.error(err) if stdio is not None else err
            if raised is err and op.raised is not None:
                raised = op.raised(err)
            if raised is not err:
                raise raised from err
            raise
        except BaseException:  # cancelled, or closed with the loop
            self._abandon(call_id, pending)
            if op.on_error is not None:
                op.on_error()
            raise
        finally:
            if stdio is not None:
                stdio.close()
        return op.decode(number, data)

    def _ring_slot(self, fn: Callable[..., int]) -> int:
        """fn's index in the submission ring, -1 if the ring does not take it."""
        slot = self._ring_names.get(getattr(fn, "__name__", ""), -1)
        self._ring_slots[fn] = slot
        return slot

    def _submit_queued(self) -> None:
        """Start the calls queued since the last pass: into the ring, or one
        crossing each, back to back; a call refused at once fails its future."""
        queued, self._queued = self._queued, []
        if self._closed:
            return
        out, started = self._submit, self._pending_status
        pending_calls, slots = self._pending, self._ring_slots
        ring_submit = lib().pylibctrd_ring_submit
        done = 0
        try:
            out.port = self._handle
            for call_id, pending in queued:
                done += 1
                if pending_calls.get(call_id) is not pending:
                    continue  # abandoned before it was submitted
                op, args = pending.op, pending.args
                slot = -1
                if len(args) == 1 and op.stdio is None:
                    slot = slots.get(op.fn, -2)
                    if slot == -2:
                        slot = self._ring_slot(op.fn)
                pending.submitted = True
                if slot >= 0:
                    rc = ring_submit(self._ring, call_id, slot, args[0])  # type: ignore[arg-type]
                    pending.args = ()
                    if rc != 0:
                        pending_calls.pop(call_id, None)
                        reply: BaseException = _error(rc, _ring_refusal(rc))
                        if not pending.future.done():
                            pending.future.set_exception(reply)
                    continue
                out.call = call_id
                rc = op.fn(out, *args)
                pending.args = ()
                if rc != started:
                    pending_calls.pop(call_id, None)
                    try:
                        check(ffi(), lib(), rc, out)
                        reply = errors.Unknown(
                            f"call was neither started nor refused (status {rc})")
                    except errors.Error as err:
                        reply = err
                    if not pending.future.done():
                        pending.future.set_exception(reply)
        finally:
            out.port = out.call = 0
            if self._ring is not None:  # None once closed
                lib().pylibctrd_ring_kick(self._ring)  # the dispatcher starts what is queued
            if done < len(queued):  # interrupted (KeyboardInterrupt): the rest on the next pass
                if not self._queued:
                    self._loop.call_soon(self._submit_queued)
                self._queued[:0] = queued[done:]

    def _abandon(self, call_id: int, pending: _Pending) -> None:
        fut = pending.future
        if not pending.submitted:  # still queued: _submit_queued skips it
            self._pending.pop(call_id, None)
            return
        if fut.done() and not fut.cancelled():
            # It completed, but nobody will read it: decoding makes the
            # objects it returned, which release their handles when dropped.
            self._pending.pop(call_id, None)
            if fut.exception() is None:
                pending.op.decode(*fut.result())
            return
        if self._closed or self._handle == 0:
            self._pending.pop(call_id, None)
            return
        in_flight, _ = call(lib().pylibctrd_port_cancel, self._handle, call_id)
        if in_flight:  # Go drops its completion and releases what it made
            self._pending.pop(call_id, None)
        else:  # already completed: _drain decodes and drops it
            pending.abandoned = True

    def _drain(self) -> None:
        try:
            os.read(self._fd, 8)
        except (BlockingIOError, OSError):
            pass
        ring = self._ring
        if ring is not None and not self._closed:  # plain C: the loop's thread does not enter Go
            self._complete(*call(lib().pylibctrd_ring_take, ring))

    def _complete(self, count: int, packed: bytes | None) -> None:
        """Resolve the futures of `count` completion records."""
        pop = self._pending.pop
        for call_id, number, status, data in _records(count, packed):
            pending = pop(call_id, None)
            reply: tuple[int, bytes | None] | BaseException = number, data
            if status != 0:
                reply = _error(status, data)
            if pending is None:
                continue
            if pending.abandoned:
                if not isinstance(reply, BaseException):
                    pending.op.decode(*reply)
            elif not pending.future.done():
                if isinstance(reply, BaseException):
                    pending.future.set_exception(reply)
                else:
                    pending.future.set_result(reply)

    def close(self) -> None:
        """Cancel every call in flight and stop watching the fd."""
        if self._closed:
            return
        self._closed = True
        self._ring = None  # freed by pylibctrd_port_close
        try:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
        finally:
            count, left = call(lib().pylibctrd_port_close, self._handle)
            self._release(count, left)
            for pending in self._pending.values():
                if not pending.future.done() and not self._loop.is_closed():
                    pending.future.set_exception(errors.Closed("client is closed"))
            self._pending.clear()
            self._queued.clear()

    def _release(self, count: int, packed: bytes | None) -> None:
        """Decode and drop the completions nobody will receive (the ring's
        at close), so that what they made (a handle) is released."""
        for call_id, number, status, data in _records(count, packed):
            pending = self._pending.get(call_id)
            if pending is not None and status == 0:
                try:
                    pending.op.decode(number, data)
                except Exception:
                    pass

    def _finalize(self) -> None:
        self.close()
