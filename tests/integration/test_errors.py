"""Bad input and failures become clear Python exceptions of Moby's classes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import _ffi, errors
from pylibctrd.testing import Env, MakeContainer


def test_duplicate_id_is_conflict(env: Env, make_container: MakeContainer,
                                  client: pylibctrd.Client) -> None:
    ctr = make_container(["true"])
    with pytest.raises(errors.Conflict) as exc:
        client.new_container(ctr.id, env.spec(ctr.id, ["true"]))
    assert str(exc.value) == "id already in use"
    ctr.delete()


def test_missing_container_is_not_found(client: pylibctrd.Client) -> None:
    with pytest.raises(errors.NotFound) as exc:
        client.load_container("t-does-not-exist")
    assert str(exc.value) == "no such container"
    assert isinstance(exc.value, LookupError)


def test_deleted_container_and_task_are_not_found(make_container: MakeContainer) -> None:
    ctr = make_container(["true"])
    with pytest.raises(errors.NotFound):
        ctr.task()
    with pytest.raises(errors.NotFound):
        ctr.attach_task()
    ctr.delete()
    # libcontainerd uses the cached metadata here and fails creating the
    # FIFOs in the removed bundle dir: Moby gives no errdefs class for that.
    with pytest.raises(errors.Error, match="no such file or directory"):
        ctr.new_task()
    with pytest.raises(errors.NotFound):
        ctr.delete()


def test_wrong_types_raise_type_error(env: Env, client: pylibctrd.Client,
                                      make_container: MakeContainer) -> None:
    with pytest.raises(TypeError, match="id must be str"):
        client.new_container(123, env.spec("x", ["true"]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spec must be a dict"):
        client.new_container("t-x", "not a spec")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        client.new_container("t-x", {"ociVersion": object()})
    with pytest.raises(TypeError, match="with_stdin must be bool"):
        make_container(["true"]).new_task(with_stdin="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pylibctrd.Client.connect(env.address, namespace=5)  # type: ignore[arg-type]


def test_spec_that_is_not_oci_is_invalid_parameter(env: Env, client: pylibctrd.Client) -> None:
    with pytest.raises(errors.InvalidParameter, match="unknown field"):
        client.new_container("t-bad", {"hello": "world"})
    spec = env.spec("t-bad", ["true"])
    del spec["root"]
    with pytest.raises(errors.InvalidParameter, match="root is missing"):
        client.new_container("t-bad", spec)
    with pytest.raises(ValueError):  # InvalidParameter is a ValueError
        client.new_container("t-bad", {"ociVersion": "1.0.2", "process": "nope"})
    with pytest.raises(errors.InvalidParameter):
        client.new_container("bad id/with slash", env.spec("x", ["true"]))
    with pytest.raises(errors.InvalidParameter, match="NUL"):
        client.new_container("t-\0nul", env.spec("x", ["true"]))
    with pytest.raises(errors.NotFound):
        client.load_container("t-bad")


def test_bad_process_arguments(make_container: MakeContainer) -> None:
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    with pytest.raises(TypeError, match="signal must be int"):
        task.kill("KILL")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidParameter):
        task.resize(-1, 10)
    with pytest.raises(errors.InvalidParameter, match="unknown field"):
        task.exec("e", {"argz": ["true"]})
    with pytest.raises(errors.InvalidParameter):
        task.update_resources({"memory": {"limit": "lots"}})
    task.force_delete()
    ctr.delete()


def test_released_or_unknown_handles_are_invalid_handle(make_container: MakeContainer) -> None:
    ctr = make_container(["true"])
    task = ctr.new_task()
    _ffi.release(task._ops.handle)
    _ffi.release(task._ops.handle)  # idempotent
    with pytest.raises(errors.InvalidHandle):
        task.start()
    with pytest.raises(errors.InvalidHandle):
        _ffi.call(_ffi.lib().pylibctrd_task_status, 2**63)
    with pytest.raises(errors.InvalidHandle, match="not a"):
        _ffi.call(_ffi.lib().pylibctrd_task_status, ctr._ops.handle)  # a container handle is not a task
    ctr.task().force_delete()
    ctr.delete()


def test_daemon_going_away_gives_errors_not_hangs(tmp_path_factory: pytest.TempPathFactory,
                                                   env: Env) -> None:
    work = tmp_path_factory.mktemp("gone")
    daemon = pylibctrd.Daemon.start(work / "root", work / "state")
    client = pylibctrd.Client.connect(daemon.address, namespace="gone",
                                      state_dir=str(work / "bundles"), timeout=5)
    assert client.version().version
    daemon.stop()
    start = time.monotonic()
    with pytest.raises((errors.Unavailable, errors.Deadline, errors.Canceled)):
        client.version()
    assert time.monotonic() - start < 10
    client.close()


def test_checkpoint_fails_clearly_without_criu(make_container: MakeContainer,
                                               tmp_path: Path) -> None:
    if _criu_works():
        pytest.skip("CRIU works here: the failure path cannot be provoked")
    ctr = make_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    with pytest.raises(errors.Error, match="(?i)criu|checkpoint"):
        task.create_checkpoint(str(tmp_path / "cp"))
    # The task survives a failed checkpoint.
    assert task.status() is pylibctrd.Status.RUNNING
    task.force_delete()
    ctr.delete()


def _criu_works() -> bool:
    if shutil.which("criu") is None:
        return False
    return subprocess.run(["criu", "check"], capture_output=True).returncode == 0


def test_checkpoint_and_restore(make_container: MakeContainer, tmp_path: Path,
                                recorder: pylibctrd.Recorder) -> None:
    if not _criu_works():
        reason = ("CRIU is not installed" if shutil.which("criu") is None
                  else "`criu check` fails on this kernel")
        print(f"SKIP checkpoint success path: {reason}")
        pytest.skip(f"checkpoint/restore needs a working CRIU: {reason}")
    ctr = make_container(["sh", "-c", "i=0; while true; do i=$((i+1)); sleep 0.1; done"])
    task = ctr.new_task()
    task.start()
    task.create_checkpoint(str(tmp_path / "cp"), exit=True)
    recorder.wait_for(ctr.id, pylibctrd.EventType.EXIT)
    task.delete()
    restored = ctr.new_task(checkpoint_dir=str(tmp_path / "cp"))
    restored.start()
    assert restored.status() is pylibctrd.Status.RUNNING
    restored.kill(signal.SIGKILL)
    restored.force_delete()
    ctr.delete()
