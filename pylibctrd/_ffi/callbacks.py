"""The callbacks Go makes into Python: a client's events, a call's stdio
attach, log lines. Sinks are registered under integer keys that cross the
C ABI; no Python object does."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable

from .. import errors

if TYPE_CHECKING:
    from .._native import FFI, CData

logger = logging.getLogger("pylibctrd")

EventSink = Callable[[dict[str, Any]], None]
StdioSink = Callable[[int, int, int], None]

_event_sinks: dict[int, EventSink] = {}
_stdio_sinks: dict[int, StdioSink] = {}
_stdio_errors: dict[int, BaseException] = {}
_tokens = itertools.count(1)
_in_callback = threading.local()


def register_events(sink: EventSink) -> int:
    """Register a client's event sink; the key goes to client_connect."""
    key = next(_tokens)
    _event_sinks[key] = sink
    return key


def unregister_events(key: int) -> None:
    _event_sinks.pop(key, None)


def in_event_callback() -> bool:
    """True on a thread that is running an event callback right now."""
    return bool(getattr(_in_callback, "active", False))


class StdioToken:
    """Registers an attach callback under a token for as long as its call runs
    (a sync call, or a background call until it completes or is cancelled)."""

    __slots__ = ("token",)

    def __init__(self, sink: StdioSink) -> None:
        self.token = next(_tokens)
        _stdio_sinks[self.token] = sink

    def error(self, err: errors.Error) -> BaseException:
        """What the call should raise: what the callback raised, if it did."""
        return _stdio_errors.pop(self.token, None) or err

    def close(self) -> None:
        _stdio_sinks.pop(self.token, None)
        _stdio_errors.pop(self.token, None)


def _write_error(ffi: FFI, buf: CData, size: int, exc: BaseException) -> None:
    msg = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: size - 1]
    ffi.memmove(buf, msg + b"\0", len(msg) + 1)


def define(ffi: FFI) -> None:
    """Define the `extern "Python"` functions the header declares."""

    @ffi.def_extern(name="_on_event")
    def _on_event(key: int, data: CData, size: int, err: CData, errlen: int) -> int:
        sink = _event_sinks.get(key)
        if sink is None:
            return 0
        _in_callback.active = True
        try:
            sink(json.loads(ffi.unpack(data, size)))
            return 0
        except BaseException as exc:  # reported back to Go, which logs it like dockerd
            _write_error(ffi, err, errlen, exc)
            return 1
        finally:
            _in_callback.active = False

    @ffi.def_extern(name="_on_stdio")
    def _on_stdio(token: int, stdin: int, stdout: int, stderr: int, err: CData,
                  errlen: int) -> int:
        sink = _stdio_sinks.get(token)
        try:
            if sink is None:
                raise errors.Closed("attach_stdio callback is no longer registered")
            sink(stdin, stdout, stderr)
            return 0
        except BaseException as exc:
            _stdio_errors[token] = exc
            _write_error(ffi, err, errlen, exc)
            return 1

    @ffi.def_extern(name="_on_log")
    def _on_log(level: int, msg: CData, size: int) -> None:
        try:
            logger.log(level, ffi.unpack(msg, size).decode("utf-8", "replace"))
        except Exception:  # logging must never break Go
            pass
