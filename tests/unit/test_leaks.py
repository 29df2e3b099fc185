"""The suite's leak and freeze helpers (pylibctrd._leaks, testing.freeze),
daemon-free: goroutines come from a connect to a socket that never answers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import _ffi, _leaks, errors, testing


def connecting(address: str, timeout: float) -> threading.Thread:
    """A thread whose connect blocks in Go (gRPC's goroutines) for `timeout` s."""
    def connect() -> None:
        with pytest.raises((errors.Deadline, errors.Unavailable)):
            pylibctrd.Client.connect(address, timeout=timeout)

    thread = threading.Thread(target=connect)
    thread.start()
    time.sleep(0.3)  # well into the connect
    return thread


def test_a_goroutine_begun_since_the_snapshot_is_a_leak_until_it_ends(silent_socket: str) -> None:
    before = _leaks.snapshot()
    thread = connecting(silent_socket, 2.0)
    found = _leaks.leaks(before, _leaks.snapshot())
    assert found and all(s.startswith("goroutine ") for s in found)
    thread.join()
    assert _leaks.settle(before) == []


def test_a_goroutine_of_the_snapshot_that_ends_is_no_leak(silent_socket: str) -> None:
    """What a count got wrong (issue 22): the baseline was taken while a
    goroutine was about to end, and the count never came back to it."""
    thread = connecting(silent_socket, 1.0)
    before = _leaks.snapshot()
    thread.join()
    now = _leaks.snapshot()
    assert [s for id, s in before.goroutines.items() if id not in now.goroutines]
    assert _leaks.leaks(before, now) == []


def test_a_handle_held_since_the_snapshot_is_a_leak() -> None:
    before = _leaks.snapshot()
    handle, _ = _ffi.call(_ffi.lib().pylibctrd_port_open)
    try:
        assert _leaks.leaks(before, _leaks.snapshot()) == [
            f"{before.handles + 1} live handles, {before.handles} before"]
    finally:
        _ffi.call(_ffi.lib().pylibctrd_port_close, handle)
        _ffi.release(handle)
    assert _leaks.leaks(before, _leaks.snapshot()) == []


def test_freeze_returns_once_every_thread_is_stopped() -> None:
    busy = ("import threading\n"
            "for _ in range(8): threading.Thread(target=lambda: [0 for _ in iter(int, 1)]).start()\n")
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        time.sleep(0.3)
        with testing.frozen(child.pid):
            for stat in Path(f"/proc/{child.pid}/task").glob("*/stat"):
                assert stat.read_text().rpartition(")")[2].split()[0] in "tT"
        time.sleep(0.1)
        states = [s.read_text().rpartition(")")[2].split()[0]
                  for s in Path(f"/proc/{child.pid}/task").glob("*/stat")]
        assert not all(s in "tT" for s in states)  # running again
    finally:
        child.kill()
        child.wait()
