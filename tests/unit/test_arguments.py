"""Argument checks: wrong types are TypeError, bad values InvalidParameter,
and the public API refuses them before anything crosses into Go."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Callable

import pytest

import pylibctrd
from pylibctrd import _args, errors


@pytest.mark.parametrize(("check", "value", "exc", "message"), [
    (_args.text, 5, TypeError, "x must be str, not int"),
    (_args.text, "a\0b", errors.InvalidParameter, "x must not contain NUL"),
    (_args.path, b"/tmp", TypeError, "x must be a path, not bytes"),
    (_args.flag, 1, TypeError, "x must be bool, not int"),
    (_args.uint32, -1, errors.InvalidParameter, "between 0 and 4294967295, got -1"),
    (_args.uint32, 2**32, errors.InvalidParameter, "got 4294967296"),
    (_args.uint32, True, TypeError, "x must be int, not bool"),
    (_args.c_int, 2**31, errors.InvalidParameter, "got 2147483648"),
    (_args.millis, "5", TypeError, "number of seconds, not str"),
    (_args.millis, float("inf"), errors.InvalidParameter, "out of range"),
    (_args.mapping, [], TypeError, "x must be a dict, not list"),
    (_args.json_bytes, {"a": object()}, TypeError, "not JSON-serialisable"),
    (_args.json_object, "{}", TypeError, "x must be a dict, not str"),
])
def test_checks_refuse(check: Callable[[object, str], Any], value: object,
                       exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        check(value, "x")


def test_checks_convert() -> None:
    assert _args.text("é", "x") == "é".encode()
    assert _args.flag(True, "x") == 1
    assert _args.uint32(2**32 - 1, "x") == 2**32 - 1
    assert _args.millis(1.5, "x") == 1500
    assert _args.json_object({"a": [1]}, "x") == b'{"a":[1]}'


def refused_before_go_starts(cases: str) -> None:
    """Runs `cases` (a script defining `cases`, a list of (call, exception))
    in a fresh interpreter, so that "Go never started" can be checked."""
    script = cases + textwrap.dedent("""
        from pylibctrd import _ffi
        for i, (call, exc) in enumerate(cases):
            try:
                call()
            except exc:
                pass
            else:
                raise SystemExit(f"case {i}: no {exc.__name__}")
            assert not _ffi.loaded(), f"case {i}: a check crossed into Go"
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_public_api_refuses_bad_arguments_before_go_starts() -> None:
    script = textwrap.dedent("""
        import pylibctrd
        from pylibctrd import _ffi, errors

        class AsyncBackend:
            async def process_event(self, container_id, event, info): ...

        cases = [
            (lambda: pylibctrd.Client.connect("/x.sock", namespace=5), TypeError),
            (lambda: pylibctrd.Client.connect("/x.sock", namespace="a\\0b"), errors.InvalidParameter),
            (lambda: pylibctrd.Client.connect(b"/x.sock"), TypeError),
            (lambda: pylibctrd.Client.connect("/x.sock", backend=object()), TypeError),
            (lambda: pylibctrd.Client.connect("/x.sock", backend=AsyncBackend()), TypeError),
            (lambda: pylibctrd.Client.connect("/x.sock", timeout="1"), TypeError),
        ]
    """)
    refused_before_go_starts(script)


def test_relative_daemon_dirs_are_invalid_parameter() -> None:
    # Paths are values: Go checks them (before starting anything).
    with pytest.raises(errors.InvalidParameter, match="root_dir must be an absolute path"):
        pylibctrd.Daemon.start("relative", "/tmp/never-made")


def test_every_operation_checks_its_arguments_before_go_starts() -> None:
    # The one description per operation (pylibctrd/_ops.py) is where both
    # faces' arguments are checked: made here on no handle, in a fresh
    # interpreter, so that a check that needed Go would show.
    script = textwrap.dedent("""
        from pylibctrd import _ffi, errors
        from pylibctrd._hub import Hub
        from pylibctrd._ops import RUNC_V2, ClientOps, ContainerOps, TaskOps
        from pylibctrd.daemon import start_op

        client = ClientOps(0, address="", namespace="", state_dir="", daemon=None,
                           hub=Hub(None), events_key=0)
        ctr = ContainerOps(0, client, "c")
        task = TaskOps(0, ctr)
        cases = [
            (lambda: client.load_container(None), TypeError),
            (lambda: client.new_container(5, {}, RUNC_V2, None, None, False), TypeError),
            (lambda: client.new_container("c", [], RUNC_V2, None, None, False), TypeError),
            (lambda: client.new_container("c", {}, b"shim", None, None, False), TypeError),
            (lambda: client.new_container("c", {}, RUNC_V2, "x", None, False), TypeError),
            (lambda: client.new_container("c", {}, RUNC_V2, None, {"a": object()}, False),
             TypeError),
            (lambda: client.get_image(5), TypeError),
            (lambda: client.remove_image("a\\0b"), errors.InvalidParameter),
            (lambda: client.prepare_rootfs("c", 5), TypeError),
            (lambda: client.release_rootfs(None), TypeError),
            (lambda: client.import_image(5, None), TypeError),
            (lambda: client.import_image("/x.tar", 5), TypeError),
            (lambda: ctr.new_task(5, False, None), TypeError),
            (lambda: ctr.new_task("", 1, None), TypeError),
            (lambda: task.kill("9"), TypeError),
            (lambda: task.kill(2**31), errors.InvalidParameter),
            (lambda: task.resize(-1, 1), errors.InvalidParameter),
            (lambda: task.exec(5, {}, False, None), TypeError),
            (lambda: task.exec("e", [], False, None), TypeError),
            (lambda: task.exec("e", {}, None, None), TypeError),
            (lambda: task.update_resources([]), TypeError),
            (lambda: task.create_checkpoint(5, False), TypeError),
            (lambda: task.create_checkpoint("/d", "yes"), TypeError),
            (lambda: start_op(5, "/s", None), TypeError),
            (lambda: start_op("/r", "/s", 5), TypeError),
        ]
    """)
    refused_before_go_starts(script)
