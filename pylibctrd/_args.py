"""Argument checks before a call crosses into Go: each kind checked here once.

Python checks what Go cannot see (types, NUL in text, JSON-serialisability,
integer ranges of the C types); Go checks values (ids, paths, timeouts) with
Moby's and containerd's own rules.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from . import errors


def text(value: object, what: str) -> bytes:
    """A str argument as C text; NUL would silently truncate it, so refuse it."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise errors.InvalidParameter(f"{what} must not contain NUL characters")
    return value.encode()


def path(value: object, what: str) -> str:
    """A str or os.PathLike argument."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path, not {type(value).__name__}")
    result = os.fspath(value)
    if not isinstance(result, str):
        raise TypeError(f"{what} must be a str path, not bytes")
    return result


def json_bytes(value: object, what: str) -> bytes:
    """A JSON argument; `value` must be JSON-serialisable."""
    try:
        return json.dumps(value, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    return value


def json_object(value: object, what: str) -> bytes:
    """A dict argument as JSON."""
    return json_bytes(mapping(value, what), what)


def flag(value: object, what: str) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be bool, not {type(value).__name__}")
    return int(value)


def _integer(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not low <= value <= high:
        raise errors.InvalidParameter(f"{what} must be between {low} and {high}, got {value}")
    return int(value)


def uint32(value: object, what: str) -> int:
    return _integer(value, what, 0, 2**32 - 1)


def c_int(value: object, what: str) -> int:
    return _integer(value, what, -(2**31), 2**31 - 1)


def millis(value: object, what: str) -> int:
    """Seconds (int or float) as the int64 milliseconds of the C ABI."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not -(2**53) < value < 2**53:
        raise errors.InvalidParameter(f"{what} is out of range: {value}")
    return int(value * 1000)
