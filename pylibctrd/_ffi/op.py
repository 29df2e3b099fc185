"""`Op`: one call into C and how to read its answer. The sync API runs it now
(`run()`); the asyncio API runs it in the background on a completion port
(port.py). Arguments are checked when an Op is made, so both share them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from .. import errors
from .callbacks import StdioSink, StdioToken
from .native import call

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack
    Ts = TypeVarTuple("Ts")
    from .._native import Result

T = TypeVar("T")
Decode = Callable[[int, "bytes | None"], T]


def call_with_stdio(attach: StdioSink | None,
                    fn: Callable[[Result, int, Unpack[Ts]], int],
                    *args: Unpack[Ts]) -> tuple[int, bytes | None]:
    """call() for exports that take a stdio token (right after `out`):
    registers `attach` for the duration of the call and re-raises what it
    raised; no `attach` (token 0) drains output and closes stdin in Go."""
    if attach is None:
        return call(fn, 0, *args)
    stdio = StdioToken(attach)
    try:
        return call(fn, stdio.token, *args)
    except errors.Error as err:
        raised = stdio.error(err)
        if raised is not err:
            raise raised from err
        raise
    finally:
        stdio.close()


class Op(Generic[T]):
    """One call into C and how to read its answer."""

    __slots__ = ("fn", "args", "decode", "stdio", "on_error", "raised")

    def __init__(self, decode: Decode[T], fn: Callable[..., int], args: tuple[object, ...],
                 stdio: StdioSink | None = None) -> None:
        self.fn = fn
        self.args = args
        self.decode = decode
        self.stdio = stdio  # set: fn takes a stdio token after `out`
        self.on_error: Callable[[], None] | None = None
        # What to raise for a Go error instead (e.g. what a progress callback raised).
        self.raised: Callable[[errors.Error], BaseException] | None = None

    def run(self) -> T:
        try:
            if self.stdio is None:
                number, data = call(self.fn, *self.args)
            else:
                number, data = call_with_stdio(self.stdio, self.fn, *self.args)
        except errors.Error as err:
            if self.on_error is not None:
                self.on_error()
            raised = self.raised(err) if self.raised is not None else err
            if raised is not err:
                raise raised from err
            raise
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
