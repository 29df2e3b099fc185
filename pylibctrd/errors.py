"""Exceptions mirroring Moby's errdefs classes (plus the binding's own).

Every error raised by a call into libcontainerd is a subclass of `Error`; each
also subclasses the natural builtin so that ordinary `except` clauses work
(`NotFound` is a `LookupError`, `Unavailable` a `ConnectionError`, ...).
The message is Moby's/containerd's own text.
"""

from __future__ import annotations

from typing import Callable, ClassVar


class Error(Exception):
    """Base class; `status` names the class in the C header's enum (whose
    values are read from the library, never retyped here)."""

    status: ClassVar[str] = "PYLIBCTRD_UNKNOWN"


class Unknown(Error):
    status = "PYLIBCTRD_UNKNOWN"


class NotFound(Error, LookupError):
    status = "PYLIBCTRD_NOT_FOUND"


class Conflict(Error):
    status = "PYLIBCTRD_CONFLICT"


class AlreadyExists(Error):
    """containerd's AlreadyExists where Moby does not turn it into Conflict."""

    status = "PYLIBCTRD_ALREADY_EXISTS"


class InvalidParameter(Error, ValueError):
    status = "PYLIBCTRD_INVALID_PARAMETER"


class FailedPrecondition(Error):
    status = "PYLIBCTRD_FAILED_PRECONDITION"


class Unavailable(Error, ConnectionError):
    status = "PYLIBCTRD_UNAVAILABLE"


class Deadline(Error, TimeoutError):
    status = "PYLIBCTRD_DEADLINE"


class Canceled(Error):
    status = "PYLIBCTRD_CANCELED"


class NotImplemented(Error, NotImplementedError):  # noqa: A001 - Moby's class name
    status = "PYLIBCTRD_NOT_IMPLEMENTED"


class System(Error, OSError):
    status = "PYLIBCTRD_SYSTEM"


class Forbidden(Error, PermissionError):
    status = "PYLIBCTRD_FORBIDDEN"


class Unauthorized(Error, PermissionError):
    """Moby's errdefs Unauthorized: a registry refused the credentials, or
    wanted some (HTTP 401)."""

    status = "PYLIBCTRD_UNAUTHORIZED"


class InvalidHandle(Error, ValueError):
    """A native object that was released (or never existed)."""

    status = "PYLIBCTRD_INVALID_HANDLE"


class Closed(Error):
    """The client (or the library) was closed."""

    status = "PYLIBCTRD_CLOSED"


class Panic(Error, SystemError):
    """Go panicked inside the call; the process is still fine."""

    status = "PYLIBCTRD_PANIC"


class ForkedChild(Error, RuntimeError):
    """The Go runtime does not survive fork(): use spawn/forkserver."""

    status = ""  # raised by the binding itself, never by Go


_FROM_GO = (
    Unknown, NotFound, Conflict, AlreadyExists, InvalidParameter, FailedPrecondition,
    Unavailable, Deadline, Canceled, NotImplemented, System, Forbidden, InvalidHandle,
    Closed, Panic, Unauthorized,
)


def classes_by_status(value_of: Callable[[str], int]) -> dict[int, type[Error]]:
    """The class for each status value; `value_of` reads an enum constant
    (e.g. PYLIBCTRD_NOT_FOUND) from the loaded library."""
    return {value_of(cls.status): cls for cls in _FROM_GO}
