"""The one place that calls C.

Loads the native module lazily (the Go runtime must not be started before a
fork), checks every status, frees every Go allocation, owns native handles
(`Owned`), and dispatches the callbacks Go makes into Python (events, stdio
attach, log lines). The crossing is typed: pylibctrd/_native.pyi is written
from the C header by build_ffi.py.
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
from typing import TYPE_CHECKING, Any, Callable, Concatenate, ParamSpec

from . import errors

if TYPE_CHECKING:
    from ._native import FFI, CData, Lib, Result

logger = logging.getLogger("pylibctrd")

P = ParamSpec("P")

_lock = threading.Lock()
_ffi: FFI | None = None  # pylibctrd._native's ffi and lib, once loaded and initialised
_lib: Lib | None = None
_forked = False
_error_classes: dict[int, type[errors.Error]] = {}


def _mark_forked() -> None:
    global _forked
    _forked = _lib is not None


os.register_at_fork(after_in_child=_mark_forked)


def _load() -> tuple[FFI, Lib]:
    global _ffi, _lib
    if _forked:
        raise errors.ForkedChild(
            "pylibctrd cannot be used in a child created by fork() after the Go runtime "
            "started in the parent; use multiprocessing's 'spawn' or 'forkserver'"
        )
    with _lock:
        if _ffi is None or _lib is None:
            mod = importlib.import_module("pylibctrd._native")
            _init(mod.ffi, mod.lib)
            _ffi, _lib = mod.ffi, mod.lib
        return _ffi, _lib


def lib() -> Lib:
    """The C functions; starts the Go runtime on first use."""
    if _lib is None or _forked:
        return _load()[1]
    return _lib


def ffi() -> FFI:
    if _ffi is None or _forked:
        return _load()[0]
    return _ffi


def _init(ffi: FFI, lib: Lib) -> None:
    _error_classes.update(errors.classes_by_status(lambda name: int(getattr(lib, name))))
    _define_callbacks(ffi)
    out = ffi.new("pylibctrd_result *")
    _check(ffi, lib, lib.pylibctrd_init(out, lib._on_event, lib._on_stdio, lib._on_log,
                                        logger.getEffectiveLevel()), out)
    atexit.register(_at_exit)


def _check(ffi: FFI, lib: Lib, rc: int, out: Result) -> tuple[int, bytes | None]:
    data = None
    if out.data:
        data = ffi.unpack(out.data, out.len)
        lib.pylibctrd_free(out.data)
        out.data = ffi.NULL
    if rc != 0:
        cls = _error_classes.get(rc, errors.Unknown)
        raise cls((data or b"").decode("utf-8", "replace"))
    return out.number, data


# One result struct per thread, reused: allocating one per call was most of a
# call's cost. Reentrant use (a callback calling back into Go on the same
# thread) is safe because Go writes the struct only when an export returns.
_local = threading.local()


def call(fn: Callable[Concatenate[Result, P], int], *args: P.args,
         **kwargs: P.kwargs) -> tuple[int, bytes | None]:
    """Call `fn` (a function of `lib()`); return (number, data) or raise its error."""
    try:
        out: Result = _local.out
    except AttributeError:
        out = _local.out = ffi().new("pylibctrd_result *")
    rc = fn(out, *args, **kwargs)
    if rc == 0 and not out.data:
        return out.number, None  # the common case, kept short
    return _check(ffi(), lib(), rc, out)


def call_json(fn: Callable[Concatenate[Result, P], int], *args: P.args,
              **kwargs: P.kwargs) -> Any:
    """call() for exports that answer a JSON record."""
    _, data = call(fn, *args, **kwargs)
    return json.loads(data) if data else None


def call_text(fn: Callable[Concatenate[Result, P], int], *args: P.args,
              **kwargs: P.kwargs) -> list[str]:
    """call() for exports that answer text: its NUL-separated fields."""
    _, data = call(fn, *args, **kwargs)
    return (data or b"").decode().split("\0")


def release(handle: int) -> None:
    """Drop a native handle (idempotent; quiet after a fork or at exit)."""
    if _lib is None or _forked:
        return
    try:
        call(_lib.pylibctrd_release, handle)
    except errors.Error:
        pass


class Owned:
    """Base of every object that owns a native handle (Client, Daemon,
    Container, Task, Process, streams): the handle is released when the
    object is collected, after `_finalize()` (a client closes, a daemon
    stops). Objects made with `close_at_exit=True` are closed at interpreter
    exit, newest first, before Python finalizes."""

    _handle = 0  # 0 until a handle is owned

    def __init__(self, handle: int, *, close_at_exit: bool = False) -> None:
        self._handle = handle
        if close_at_exit:
            _closers.append(weakref.ref(self))

    def _finalize(self) -> None:
        """What collection does before the handle is released."""

    def close(self) -> None:
        """What exit does (for objects made with close_at_exit)."""

    def __del__(self) -> None:
        # __del__ rather than weakref.finalize: a quarter of the cost, and these
        # objects are made on every load/new_task/exec.
        if not self._handle:
            return
        try:
            self._finalize()
        except Exception:
            pass
        release(self._handle)


# Objects to close at exit, newest first: clients are made after the daemons
# they use, so they close first. Weak: a collected object was finalized.
_closers: list[weakref.ref[Owned]] = []


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


def _write_error(ffi: FFI, buf: CData, size: int, exc: BaseException) -> None:
    msg = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: size - 1]
    ffi.memmove(buf, msg + b"\0", len(msg) + 1)


def call_with_stdio(attach: StdioSink | None,
                    fn: Callable[Concatenate[Result, int, P], int], *args: P.args,
                    **kwargs: P.kwargs) -> tuple[int, bytes | None]:
    """call() for exports that take a stdio token (right after `out`):
    registers `attach` for the duration of the call and re-raises what it
    raised; no `attach` (token 0) drains output and closes stdin in Go."""
    if attach is None:
        return call(fn, 0, *args, **kwargs)
    token = next(_tokens)
    _stdio_sinks[token] = attach
    try:
        return call(fn, token, *args, **kwargs)
    except errors.Error as err:
        raised = _stdio_errors.pop(token, None)
        if raised is not None:
            raise raised from err
        raise
    finally:
        _stdio_sinks.pop(token, None)
        _stdio_errors.pop(token, None)


def _define_callbacks(ffi: FFI) -> None:
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


def set_log_level(level: int) -> None:
    """Forward Go log lines at `level` and above (Python logging numbers)."""
    call(lib().pylibctrd_set_log_level, level)


def live_handles() -> int:
    """How many Go objects Python holds (for leak checks)."""
    return call(lib().pylibctrd_live_handles)[0]


def _at_exit() -> None:
    if _forked or _lib is None:
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
        call(_lib.pylibctrd_shutdown, 5000)
    except errors.Error:
        logger.warning("pylibctrd: callbacks still running at exit")
