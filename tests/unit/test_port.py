"""The completion port's bookkeeping, root-free and daemon-free: calls into Go
that block on a socket that never answers, completed, cancelled and cut off
by close, leave nothing pending in Python and no handle or goroutine in Go."""

from __future__ import annotations

import asyncio
import time

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
        port = _ffi.Port(asyncio.get_running_loop())
        before = [_ffi.live_handles() - 1, _ffi.goroutines()]  # without the port itself

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
