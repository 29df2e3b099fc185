"""The one place that calls C.

Loads the native module lazily (the Go runtime must not be started before a
fork), checks every status, frees every Go allocation, owns native handles
(`Owned`), and dispatches the callbacks Go makes into Python (events, stdio
attach, log lines). The crossing is typed: pylibctrd/_native.pyi is written
from the C header by build_ffi.py.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import itertools
import json
import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from . import errors

if TYPE_CHECKING:
    # Checked only: at run time call() takes plain *args (no **kwargs to pack).
    from typing_extensions import TypeVarTuple, Unpack
    Ts = TypeVarTuple("Ts")
    from ._native import FFI, CData, Lib, Result

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


def call(fn: Callable[[Result, Unpack[Ts]], int], *args: Unpack[Ts]) -> tuple[int, bytes | None]:
    """Call `fn` (a function of `lib()`); return (number, data) or raise its error."""
    try:
        out: Result = _local.out
    except AttributeError:
        out = _local.out = _new_result()
    rc = fn(out, *args)
    if rc == 0 and not out.data:
        return out.number, None  # the common case, kept short
    return _check(ffi(), lib(), rc, out)


def _new_result() -> Result:
    out = ffi().new("pylibctrd_result *")
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C cancels the main thread's call in Go, so that Python's
        # KeyboardInterrupt is raised at once rather than after the call.
        out.flags = lib().PYLIBCTRD_INTERRUPTIBLE
    return out


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
            key = next(_closer_keys)
            _closers[key] = weakref.ref(self, lambda _: _closers.pop(key, None))

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
# they use, so they close first. Weak: a collected object was finalized (and
# drops out of the table).
_closers: dict[int, weakref.ref[Owned]] = {}
_closer_keys = itertools.count()


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


class _StdioToken:
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


def call_with_stdio(attach: StdioSink | None,
                    fn: Callable[[Result, int, Unpack[Ts]], int],
                    *args: Unpack[Ts]) -> tuple[int, bytes | None]:
    """call() for exports that take a stdio token (right after `out`):
    registers `attach` for the duration of the call and re-raises what it
    raised; no `attach` (token 0) drains output and closes stdin in Go."""
    if attach is None:
        return call(fn, 0, *args)
    stdio = _StdioToken(attach)
    try:
        return call(fn, stdio.token, *args)
    except errors.Error as err:
        raised = stdio.error(err)
        if raised is not err:
            raise raised from err
        raise
    finally:
        stdio.close()


T = TypeVar("T")
Decode = Callable[[int, "bytes | None"], T]


class Op(Generic[T]):
    """One call into C and how to read its answer. The sync API runs it now
    (`run()`); the asyncio API runs it in the background on a completion
    port. Arguments are checked when the Op is made, so both share them."""

    __slots__ = ("fn", "args", "decode", "stdio", "on_error")

    def __init__(self, decode: Decode[T], fn: Callable[..., int], args: tuple[object, ...],
                 stdio: StdioSink | None = None) -> None:
        self.fn = fn
        self.args = args
        self.decode = decode
        self.stdio = stdio  # set: fn takes a stdio token after `out`
        self.on_error: Callable[[], None] | None = None

    def run(self) -> T:
        try:
            if self.stdio is None:
                number, data = call(self.fn, *self.args)
            else:
                number, data = call_with_stdio(self.stdio, self.fn, *self.args)
        except BaseException:
            if self.on_error is not None:
                self.on_error()
            raise
        return self.decode(number, data)


def op(decode: Decode[T], fn: Callable[[Result, Unpack[Ts]], int], *args: Unpack[Ts]) -> Op[T]:
    """An Op calling `fn(out, *args)`; mypy checks args against the header."""
    return Op(decode, fn, args)


def stdio_op(decode: Decode[T], attach: StdioSink | None,
             fn: Callable[[Result, int, Unpack[Ts]], int], *args: Unpack[Ts]) -> Op[T]:
    """An Op calling `fn(out, token, *args)` with `attach` behind the token."""
    return Op(decode, fn, args, stdio=attach) if attach is not None else Op(decode, fn, (0, *args))


# Decoders for the wire format's kinds of result.
def no_result(number: int, data: bytes | None) -> None:
    return None


def number_result(number: int, data: bytes | None) -> int:
    return number


def text_result(number: int, data: bytes | None) -> list[str]:
    return (data or b"").decode().split("\0")


def json_result(number: int, data: bytes | None) -> Any:
    return json.loads(data) if data else None


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


_BATCH = 64  # completions read per call into Go


class _Pending:
    __slots__ = ("future", "op", "abandoned")

    def __init__(self, future: asyncio.Future[tuple[int, bytes | None]], op: Op[Any]) -> None:
        self.future = future
        self.op = op
        self.abandoned = False


class Port(Owned):
    """A completion port of one event loop: Ops run in the background on
    goroutines, and their completions wake the loop through one eventfd.
    No Python thread per call; cancelling the awaiting task cancels the
    call's Go context."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        handle, _ = call(lib().pylibctrd_port_open)
        super().__init__(handle)
        self._loop = loop
        self._fd, _ = call(lib().pylibctrd_port_fd, handle)
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._pending_status = lib().PYLIBCTRD_PENDING
        self._submit = ffi().new("pylibctrd_result *")  # used on the loop's thread only
        self._done = ffi().new("pylibctrd_completion[]", _BATCH)
        self._closed = False
        loop.add_reader(self._fd, self._drain)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def check_loop(self) -> None:
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
        stdio = _StdioToken(op.stdio) if op.stdio is not None else None
        args = (stdio.token, *op.args) if stdio is not None else op.args
        out = self._submit
        out.port, out.call = self._handle, call_id
        try:
            rc = op.fn(out, *args)
            if rc != self._pending_status:  # refused at once
                _check(ffi(), lib(), rc, out)
                raise errors.Unknown(f"call was neither started nor refused (status {rc})")
        except BaseException:
            if stdio is not None:
                stdio.close()
            if op.on_error is not None:
                op.on_error()
            raise
        finally:
            out.port = out.call = 0
        pending = _Pending(self._loop.create_future(), op)
        self._pending[call_id] = pending
        try:
            number, data = await pending.future
        except errors.Error as err:
            if op.on_error is not None:
                op.on_error()
            raised = stdio.error(err) if stdio is not None else err
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

    def _abandon(self, call_id: int, pending: _Pending) -> None:
        fut = pending.future
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
        ffi_, lib_ = ffi(), lib()
        while not self._closed:
            count, _ = call(lib_.pylibctrd_port_next, self._handle, self._done, _BATCH)
            for i in range(count):
                done = self._done[i]
                pending = self._pending.pop(done.call, None)
                try:
                    reply: tuple[int, bytes | None] | BaseException = _check(
                        ffi_, lib_, done.status, done.result)
                except errors.Error as err:
                    reply = err
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
            if count < _BATCH:
                return

    def close(self) -> None:
        """Cancel every call in flight and stop watching the fd."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
        finally:
            call(lib().pylibctrd_port_close, self._handle)
            for pending in self._pending.values():
                if not pending.future.done() and not self._loop.is_closed():
                    pending.future.set_exception(errors.Closed("client is closed"))
            self._pending.clear()

    def _finalize(self) -> None:
        self.close()


def set_log_level(level: int) -> None:
    """Forward Go log lines at `level` and above (Python logging numbers)."""
    call(lib().pylibctrd_set_log_level, level)


def live_handles() -> int:
    """How many Go objects Python holds (for leak checks)."""
    return call(lib().pylibctrd_live_handles)[0]


def goroutines() -> int:
    """How many goroutines the Go runtime has (for leak checks)."""
    return call(lib().pylibctrd_goroutines)[0]


def _at_exit() -> None:
    if _forked or _lib is None:
        return
    for ref in reversed(list(_closers.values())):
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
