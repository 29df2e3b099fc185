"""Exceptions mirroring Moby's errdefs classes (plus the binding's own).

Every error raised by a call into libcontainerd is a subclass of `Error`; each
also subclasses the natural builtin so that ordinary `except` clauses work
(`NotFound` is a `LookupError`, `Unavailable` a `ConnectionError`, ...).
The message is Moby's/containerd's own text.
"""

from __future__ import annotations

from typing import ClassVar


class Error(Exception):
    """Base class; `code` is the status number of the C ABI."""

    code: ClassVar[int] = 1


class Unknown(Error):
    code = 1


class NotFound(Error, LookupError):
    code = 2


class Conflict(Error):
    code = 3


class AlreadyExists(Error):
    """containerd's AlreadyExists where Moby does not turn it into Conflict."""

    code = 4


class InvalidParameter(Error, ValueError):
    code = 5


class FailedPrecondition(Error):
    code = 6


class Unavailable(Error, ConnectionError):
    code = 7


class Deadline(Error, TimeoutError):
    code = 8


class Canceled(Error):
    code = 9


class NotImplemented(Error, NotImplementedError):  # noqa: A001 - Moby's class name
    code = 10


class System(Error, OSError):
    code = 11


class Forbidden(Error, PermissionError):
    code = 12


class InvalidHandle(Error, ValueError):
    """A native object that was released (or never existed)."""

    code = 13


class Closed(Error):
    """The client (or the library) was closed."""

    code = 14


class Panic(Error, SystemError):
    """Go panicked inside the call; the process is still fine."""

    code = 15


class ForkedChild(Error, RuntimeError):
    """The Go runtime does not survive fork(): use spawn/forkserver."""

    code = -1


_BY_CODE: dict[int, type[Error]] = {
    cls.code: cls
    for cls in (
        Unknown, NotFound, Conflict, AlreadyExists, InvalidParameter, FailedPrecondition,
        Unavailable, Deadline, Canceled, NotImplemented, System, Forbidden, InvalidHandle,
        Closed, Panic,
    )
}


def from_status(code: int, message: str) -> Error:
    """The exception for a non-zero status of the C ABI."""
    return _BY_CODE.get(code, Unknown)(message)
