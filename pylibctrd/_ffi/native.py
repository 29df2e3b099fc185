"""Loading the native module (lazily: the Go runtime must not start before a
fork), the fork guard, and the one call path: every status checked, every Go
allocation freed. The crossing is typed: pylibctrd/_native.pyi is written
from the C header by build_ffi.py."""

from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Callable

from .. import errors

if TYPE_CHECKING:
    # Checked only: at run time call() takes plain *args (no **kwargs to pack).
    from typing_extensions import TypeVarTuple, Unpack
    Ts = TypeVarTuple("Ts")
    from .._native import FFI, Lib, Result

logger = logging.getLogger("pylibctrd")

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


def loaded() -> bool:
    """Whether the Go runtime runs in this process (usable: not a forked child)."""
    return _lib is not None and not _forked


def _init(ffi: FFI, lib: Lib) -> None:
    from . import callbacks, handles  # they call back into this module

    _error_classes.update(errors.classes_by_status(lambda name: int(getattr(lib, name))))
    callbacks.define(ffi)
    out = ffi.new("pylibctrd_result *")
    check(ffi, lib, lib.pylibctrd_init(out, lib._on_event, lib._on_stdio, lib._on_log,
                                       logger.getEffectiveLevel()), out)
    handles.close_all_at_exit()


def check(ffi: FFI, lib: Lib, rc: int, out: Result) -> tuple[int, bytes | None]:
    """A call's answer: (number, data), or its error raised as its class."""
    data = None
    if out.data:
        data = ffi.unpack(out.data, out.len)
        lib.free(out.data)  # libc's: no second crossing into Go
        out.data = ffi.NULL
    check_status(rc, data)
    return out.number, data


def check_status(rc: int, data: bytes | None) -> None:
    """Raise status `rc`'s error class with message `data` (nothing for 0)."""
    if rc != 0:
        cls = _error_classes.get(rc, errors.Unknown)
        raise cls((data or b"").decode("utf-8", "replace"))


# One result struct per thread, reused: allocating one per call was most of a
# call's cost. Reentrant use (a callback calling back into Go on the same
# thread) is safe because Go writes the struct only when an export returns.
_local = threading.local()


def call(fn: Callable[[Result, Unpack[Ts]], int], *args: Unpack[Ts]) -> tuple[int, bytes | None]:
    """Call `fn` (a function of `lib()`); return (number, data) or raise its error."""
    try:
        out: Result = _local.out
    except AttributeError:
        out = _local.out = _new_result()
    rc = fn(out, *args)
    if rc == 0:  # the common cases, kept short
        data = out.data
        if not data:
            return out.number, None
        ffi_, lib_ = _ffi, _lib
        if ffi_ is not None and lib_ is not None:  # loaded: fn came from lib()
            answer = out.number, ffi_.unpack(data, out.len)
            lib_.free(data)  # libc's: no second crossing into Go
            out.data = ffi_.NULL
            return answer
    return check(ffi(), lib(), rc, out)


def _new_result() -> Result:
    out = ffi().new("pylibctrd_result *")
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C cancels the main thread's call in Go, so that Python's
        # KeyboardInterrupt is raised at once rather than after the call.
        out.flags = lib().PYLIBCTRD_INTERRUPTIBLE
    return out


def set_log_level(level: int) -> None:
    """Forward Go log lines at `level` and above (Python logging numbers)."""
    call(lib().pylibctrd_set_log_level, level)


def live_handles() -> int:
    """How many Go objects Python holds (for leak checks)."""
    return call(lib().pylibctrd_live_handles)[0]


def goroutines() -> int:
    """How many goroutines the Go runtime has (for leak checks)."""
    return call(lib().pylibctrd_goroutines)[0]


def goroutine_stacks() -> str:
    """Every goroutine's id, state and stack as a Go panic prints them, but
    the caller's own (for leak checks: see pylibctrd._leaks)."""
    return (call(lib().pylibctrd_goroutine_stacks)[1] or b"").decode("utf-8", "replace")
