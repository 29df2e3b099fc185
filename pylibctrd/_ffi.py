"""The one place that calls C.

Loads the native module lazily (the Go runtime must not be started before a
fork), checks every status, frees every Go allocation, and dispatches the
callbacks Go makes into Python (events, stdio attach, log lines).
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import json
import logging
import os
import threading
import weakref
from typing import Any, Callable, Protocol

from . import errors

logger = logging.getLogger("pylibctrd")

_lock = threading.Lock()
_native: Any = None  # the cffi module pylibctrd._native, once loaded
_forked = False


def _mark_forked() -> None:
    global _forked
    _forked = _native is not None


os.register_at_fork(after_in_child=_mark_forked)


def native() -> Any:
    """The loaded cffi module (ffi, lib); starts the Go runtime on first use."""
    global _native
    if _forked:
        raise errors.ForkedChild(
            "pylibctrd cannot be used in a child created by fork() after the Go runtime "
            "started in the parent; use multiprocessing's 'spawn' or 'forkserver'"
        )
    if _native is None:
        with _lock:
            if _native is None:
                mod = importlib.import_module("pylibctrd._native")
                _init(mod)
                _native = mod
    return _native


def _init(mod: Any) -> None:
    _define_callbacks(mod)
    out = mod.ffi.new("pylibctrd_result *")
    rc = mod.lib.pylibctrd_init(
        mod.lib._on_event, mod.lib._on_stdio, mod.lib._on_log, logger.getEffectiveLevel(), out
    )
    _check(mod, rc, out)
    atexit.register(_at_exit)


def _check(mod: Any, rc: int, out: Any) -> tuple[int, bytes | None]:
    data = None
    if out.data:
        data = mod.ffi.unpack(out.data, out.len)
        mod.lib.pylibctrd_free(out.data)
        out.data = mod.ffi.NULL
    if rc != 0:
        raise errors.from_status(rc, (data or b"").decode("utf-8", "replace"))
    return int(out.number), data


_functions: dict[str, Any] = {}
# One result struct per thread, reused: allocating one per call was most of a
# call's cost. Reentrant use (a callback calling back into Go on the same
# thread) is safe because Go writes the struct only when an export returns.
_local = threading.local()


def _function(name: str) -> Any:
    fn = _functions[name] = getattr(native().lib, "pylibctrd_" + name)
    return fn


def call(name: str, *args: Any) -> tuple[int, bytes | None]:
    """Call export `pylibctrd_<name>`; return (number, data) or raise its error."""
    if _forked:
        native()  # raises ForkedChild
    fn = _functions.get(name) or _function(name)
    try:
        out = _local.out
    except AttributeError:
        out = _local.out = native().ffi.new("pylibctrd_result *")
    rc = fn(*args, out)
    if rc == 0 and not out.data:
        return out.number, None  # the common case, kept short
    return _check(_native, rc, out)


def call_json(name: str, *args: Any) -> Any:
    """call() for exports that answer JSON."""
    _, data = call(name, *args)
    return json.loads(data) if data else None


def cstr(value: object, what: str) -> bytes:
    """A str argument as C text; NUL would silently truncate it, so refuse it."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise errors.InvalidParameter(f"{what} must not contain NUL characters")
    return value.encode()


def cjson(value: object, what: str) -> bytes:
    """A JSON argument; `value` must be JSON-serialisable."""
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None


def release(handle: int) -> None:
    """Drop a native handle (idempotent; quiet after a fork or at exit)."""
    if _native is None or _forked:
        return
    try:
        call("release", handle)
    except errors.Error:
        pass


# --- callbacks from Go -------------------------------------------------------

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


def _write_error(mod: Any, buf: Any, size: int, exc: BaseException) -> None:
    msg = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: size - 1]
    mod.ffi.memmove(buf, msg + b"\0", len(msg) + 1)


def call_with_stdio(attach: StdioSink | None, name: str, *args: Any) -> tuple[int, bytes | None]:
    """call() for exports taking a stdio token: registers `attach` for the
    duration of the call and re-raises whatever it raised."""
    if attach is None:
        return call(name, *args, 0)
    token = next(_tokens)
    _stdio_sinks[token] = attach
    try:
        return call(name, *args, token)
    except errors.Error as err:
        raised = _stdio_errors.pop(token, None)
        if raised is not None:
            raise raised from err
        raise
    finally:
        _stdio_sinks.pop(token, None)
        _stdio_errors.pop(token, None)


def _define_callbacks(mod: Any) -> None:
    ffi = mod.ffi

    def _on_event(key: int, data: Any, size: int, err: Any, errlen: int) -> int:
        sink = _event_sinks.get(key)
        if sink is None:
            return 0
        _in_callback.active = True
        try:
            sink(json.loads(ffi.unpack(data, size)))
            return 0
        except BaseException as exc:  # reported back to Go, which logs it like dockerd
            _write_error(mod, err, errlen, exc)
            return 1
        finally:
            _in_callback.active = False

    def _on_stdio(token: int, stdin: int, stdout: int, stderr: int, err: Any, errlen: int) -> int:
        sink = _stdio_sinks.get(token)
        try:
            if sink is None:
                raise errors.Closed("attach_stdio callback is no longer registered")
            sink(stdin, stdout, stderr)
            return 0
        except BaseException as exc:
            _stdio_errors[token] = exc
            _write_error(mod, err, errlen, exc)
            return 1

    def _on_log(level: int, msg: Any, size: int) -> None:
        try:
            logger.log(level, ffi.unpack(msg, size).decode("utf-8", "replace"))
        except Exception:  # logging must never break Go
            pass

    for fn in (_on_event, _on_stdio, _on_log):
        ffi.def_extern(name=fn.__name__)(fn)


def set_log_level(level: int) -> None:
    """Forward Go log lines at `level` and above (Python logging numbers)."""
    call("set_log_level", level)


class Closeable(Protocol):
    def close(self) -> None: ...


# Objects to close at exit, newest first, before Python finalizes: clients are
# made after the daemons they use, so they close first. Weak: a collected
# object was already closed by its finalizer.
_closers: list[weakref.ref[Closeable]] = []


def close_at_exit(obj: Closeable) -> None:
    _closers.append(weakref.ref(obj))


def _at_exit() -> None:
    if _forked or _native is None:
        return
    for ref in reversed(_closers):
        obj = ref()
        if obj is None:
            continue
        try:
            obj.close()
        except Exception:
            logger.exception("pylibctrd: cleanup at exit failed")
    try:
        call("shutdown", 5000)
    except errors.Error:
        logger.warning("pylibctrd: callbacks still running at exit")
