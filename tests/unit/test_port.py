"""The completion port's bookkeeping, root-free and daemon-free: calls into Go
that block on a socket that never answers, completed, cancelled and cut off
by close, leave nothing pending in Python and no handle or goroutine in Go;
and its submission ring (calls queued in C, started by a dispatcher
goroutine, completed through C memory)."""

from __future__ import annotations

import asyncio
import gc
import json
import select
import threading
import time
from typing import Any

import pytest

from pylibctrd import _ffi, errors
from pylibctrd._ops import ClientOps


def connect(address: str, timeout: float) -> _ffi.Op[ClientOps]:
    return ClientOps.connect(address, "unit", "/nonexistent-state", None, timeout, None)


def settled(before: list[int]) -> list[int]:
    # Goroutines of a cancelled call end just after its completion is dropped.
    deadline = time.monotonic() + 10
    while (now := [_ffi.live_handles(), _ffi.goroutines()]) != before:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return now


def test_completed_cancelled_and_closed_calls_leave_nothing(silent_socket: str) -> None:
    async def main() -> None:
        before = counts()  # without the port, nor its dispatcher goroutine
        port = _ffi.Port(asyncio.get_running_loop())

        with pytest.raises((errors.Deadline, errors.Unavailable)):
            await port.run(connect(silent_socket, 0.2))  # completes with an error
        assert not port._pending

        call = asyncio.ensure_future(port.run(connect(silent_socket, 30)))
        await asyncio.sleep(0.1)
        assert len(port._pending) == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not port._pending

        call = asyncio.ensure_future(port.run(connect(silent_socket, 30)))
        await asyncio.sleep(0.1)
        port.close()
        with pytest.raises(errors.Closed):
            await call
        with pytest.raises(errors.Closed):
            await port.run(connect(silent_socket, 30))
        _ffi.release(port.handle)
        assert settled(before) == before

    asyncio.run(main())


def test_a_port_belongs_to_its_loop(silent_socket: str) -> None:
    async def make() -> _ffi.Port:
        return _ffi.Port(asyncio.get_running_loop())

    port = asyncio.run(make())
    with pytest.raises(RuntimeError, match="belongs to the event loop"):
        asyncio.run(port.run(connect(silent_socket, 1)))


# The submission ring: calls that take one handle are queued in C without
# entering Go, started by the port's dispatcher goroutine, and complete
# through C memory (pylibctrd_ring_take). pylibctrd_sleep_for_test is a ring
# call (its argument is a number of ms), pylibctrd_echo is not.

def counts() -> list[int]:
    """Live handles and goroutines, once earlier tests' ports are released
    (collected now, not in the middle) and their idle workers ended (500 ms)."""
    gc.collect()
    time.sleep(0.7)
    return [_ffi.live_handles(), _ffi.goroutines()]


def port_pending(future: asyncio.Future[tuple[int, bytes | None]]) -> Any:
    from pylibctrd._ffi.port import _Pending
    return _Pending(future, sleep_op(0), ())


def sleep_op(ms: int, seen: list[int] | None = None) -> _ffi.Op[int]:
    def decode(number: int, data: bytes | None) -> int:
        if seen is not None:
            seen.append(number)
        return number

    return _ffi.Op(decode, _ffi.lib().pylibctrd_sleep_for_test, (ms,))


def echo_op(value: int) -> _ffi.Op[int]:
    def decode(number: int, data: bytes | None) -> int:
        return int(json.loads(data or b"null"))

    return _ffi.Op(decode, _ffi.lib().pylibctrd_echo, (str(value).encode(), len(str(value))))


def test_ring_calls_complete_with_their_own_answers() -> None:
    async def main() -> None:
        before = counts()
        port = _ffi.Port(asyncio.get_running_loop())
        # Ring calls and crossing calls, interleaved, many in flight: every
        # answer reaches its own awaiter (no submission left without a
        # wake-up, no completion lost or misrouted between the two paths).
        for _ in range(3):
            calls = [port.run(sleep_op(i % 7)) if i % 3 else port.run(echo_op(i))
                     for i in range(600)]
            answers = await asyncio.wait_for(asyncio.gather(*calls), 60)
            assert answers == [i % 7 if i % 3 else i for i in range(600)]
            assert not port._pending
        # One at a time: the dispatcher sleeps between them and each kick wakes it.
        for i in range(50):
            assert await asyncio.wait_for(port.run(sleep_op(i % 2)), 30) == i % 2
        port.close()
        _ffi.release(port.handle)
        assert settled(before) == before  # the dispatcher ended with the port

    asyncio.run(main())


def test_ring_calls_are_refused_with_go_errors() -> None:
    async def main() -> None:
        port = _ffi.Port(asyncio.get_running_loop())
        status = _ffi.Op(lambda n, _: n, _ffi.lib().pylibctrd_task_status, (999_999_999,))
        with pytest.raises(errors.InvalidHandle, match="invalid handle 999999999: unknown or released"):
            await port.run(status)
        wrong = _ffi.Op(lambda n, _: n, _ffi.lib().pylibctrd_task_status, (port.handle,))
        with pytest.raises(errors.InvalidHandle, match=r"a \*bridge.Port, not a \*core.Task"):
            await port.run(wrong)
        assert await port.run(sleep_op(0)) == 0  # the ring still serves
        port.close()

    asyncio.run(main())


def test_cancelling_a_ring_call_cancels_it_in_go() -> None:
    async def main() -> None:
        port = _ffi.Port(asyncio.get_running_loop())
        await port.run(sleep_op(0))
        before = counts()
        for i in range(40):
            call = asyncio.ensure_future(port.run(sleep_op(60_000)))
            # Cancelled while still queued in the ring (i even: before the
            # loop's pass submits it or right after) or once running in Go.
            await asyncio.sleep(0 if i % 2 == 0 else 0.005)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert not port._pending
        # Nothing still sleeps in Go: every call's context was cancelled.
        assert settled(before) == before
        assert await port.run(sleep_op(1)) == 1
        port.close()

    asyncio.run(main())


def test_closing_a_port_with_ring_calls_queued_running_and_completed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = counts()
        port = _ffi.Port(loop)
        await port.run(sleep_op(0))
        running = [asyncio.ensure_future(port.run(sleep_op(60_000))) for _ in range(5)]
        await asyncio.sleep(0.05)
        # Completed in Go but not yet taken when the port closes: the loop is
        # kept busy (no pass reads the eventfd) until close, which takes them
        # back and decodes them, so that what they made is released.
        seen: list[int] = []
        done = [asyncio.ensure_future(port.run(sleep_op(0, seen))) for _ in range(5)]
        await asyncio.sleep(0)  # submitted at the end of this pass
        await asyncio.sleep(0)
        # The loop's thread stays here (no pass reads the eventfd) until Go
        # has put the first completion in C memory, and a little longer.
        assert select.select([port._fd], [], [], 30)[0]
        time.sleep(0.2)
        port.close()
        assert seen and seen == [0] * len(seen) and len(seen) <= 5
        for call in running + done:
            with pytest.raises(errors.Closed):
                await call
        with pytest.raises(errors.Closed):
            await port.run(sleep_op(0))
        _ffi.release(port.handle)
        assert settled(before) == before

    asyncio.run(main())


def test_a_ring_entry_for_no_export_is_refused() -> None:
    async def main() -> None:
        port = _ffi.Port(asyncio.get_running_loop())
        # What Python never sends: an index past the ring's exports. The
        # dispatcher refuses it through the completion path.
        lib, call_id = _ffi.lib(), 1 << 40
        fut = asyncio.get_running_loop().create_future()
        port._pending[call_id] = port_pending(fut)
        assert lib.pylibctrd_ring_submit(port._ring, call_id, 10_000, 0) == 0  # type: ignore[arg-type]
        assert lib.pylibctrd_ring_kick(port._ring) == 0  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidParameter, match="no ring call 10000"):
            await asyncio.wait_for(fut, 30)
        port.close()
        assert lib.pylibctrd_ring_submit(_ffi.ffi().NULL, 1, 0, 0) == lib.PYLIBCTRD_INVALID_PARAMETER

    asyncio.run(main())



def test_ring_calls_from_many_loops_on_many_threads() -> None:
    before = counts()

    async def one(k: int) -> list[int]:
        port = _ffi.Port(asyncio.get_running_loop())
        try:
            calls = [port.run(sleep_op((i + k) % 3)) if i % 2 else port.run(echo_op(i + k))
                     for i in range(300)]
            return await asyncio.wait_for(asyncio.gather(*calls), 60)
        finally:
            port.close()

    results: dict[int, list[int]] = {}

    def thread(k: int) -> None:
        results[k] = asyncio.run(one(k))

    threads = [threading.Thread(target=thread, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # Each loop's port has its own ring: every answer reached its own loop.
    assert results == {k: [(i + k) % 3 if i % 2 else i + k for i in range(300)] for k in range(4)}
    gc.collect()  # the ports' handles, should a cycle hold one
    assert settled(before) == before
