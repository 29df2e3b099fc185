"""Errors: the header's enum is the one table; Go's failures arrive classed."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import _args, _ffi, errors

HEADER = Path(__file__).resolve().parents[2] / "go" / "include" / "pylibctrd.h"


def header_statuses() -> dict[str, int]:
    enum = re.search(r"enum pylibctrd_status \{(.*?)\}", HEADER.read_text(), re.S)
    assert enum
    return {name: int(v) for name, v in re.findall(r"(PYLIBCTRD_\w+)\s*=\s*(\d+)", enum.group(1))}


def test_every_error_status_of_the_header_has_its_own_class() -> None:
    statuses = header_statuses()
    lib = _ffi.lib()
    for name, value in statuses.items():
        assert getattr(lib, name) == value, name  # the loaded library agrees with the header
    by_status = errors.classes_by_status(lambda name: int(getattr(lib, name)))
    errors_in_header = {v for n, v in statuses.items() if n not in ("PYLIBCTRD_OK", "PYLIBCTRD_PENDING")}
    assert set(by_status) == errors_in_header
    assert len(set(by_status.values())) == len(by_status)


@pytest.mark.parametrize(("cls", "builtin"), [
    (errors.NotFound, LookupError), (errors.InvalidParameter, ValueError),
    (errors.Unavailable, ConnectionError), (errors.Deadline, TimeoutError),
    (errors.System, OSError), (errors.Forbidden, PermissionError),
    (errors.NotImplemented, NotImplementedError), (errors.Panic, SystemError),
    (errors.ForkedChild, RuntimeError),
])
def test_classes_are_also_the_natural_builtin(cls: type[errors.Error], builtin: type[Exception]) -> None:
    assert issubclass(cls, errors.Error) and issubclass(cls, builtin)


def test_go_panic_becomes_an_exception() -> None:
    with pytest.raises(errors.Panic, match="assignment to entry in nil map"):
        _ffi.call(_ffi.lib().pylibctrd_panic_for_test)
    _ffi.call(_ffi.lib().pylibctrd_nop)  # and the library still works


def test_json_round_trip_through_the_abi() -> None:
    value = {"a": [1, 2.5, None, True], "b": "\u00e9\u4e2d"}
    data = _args.json_bytes(value, "value")
    assert _ffi.op(_ffi.json_result, _ffi.lib().pylibctrd_echo, data, len(data)).run() == value
    with pytest.raises(errors.InvalidParameter):
        _ffi.call(_ffi.lib().pylibctrd_echo, b"{not json", 9)


def test_unknown_handles_are_invalid_handle_and_release_is_idempotent() -> None:
    with pytest.raises(errors.InvalidHandle):
        _ffi.call(_ffi.lib().pylibctrd_process_pid, 2**63)
    _ffi.release(2**63)
    _ffi.release(2**63)


def test_unreachable_daemon_is_unavailable(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(errors.Unavailable) as exc:
        pylibctrd.Client.connect(str(tmp_path / "nothing.sock"), state_dir=str(tmp_path))
    assert isinstance(exc.value, ConnectionError)
    assert time.monotonic() - start < 5
