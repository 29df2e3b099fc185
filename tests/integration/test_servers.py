"""Which containerd and which OCI runtime: `Daemon.start(containerd=...)`,
`pylibctrd daemon --containerd-binary`, the server version check at connect,
and crun chosen per container through the runc shim's BinaryName (dockerd's
`--add-runtime`), proven by crun's own state."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import EventType, errors, stdio
from pylibctrd.testing import Env, MakeContainer, crun_runtime, remove_container, unknown_suffix

ROOT = Path(__file__).resolve().parents[2]
#: The shim's default --root for runc and crun alike (runc shim option Root).
RUNTIME_ROOT = Path("/run/containerd/runc")
CRUN = shutil.which("crun")
needs_crun = pytest.mark.skipif(CRUN is None, reason="crun is not installed (make system)")
#: Debian 12's crun 1.8.1 refuses Moby's spec version (1.2.0: "unknown version
#: specified"); these tests give crun specs at 1.1.0 (COMPATIBILITY.md).
CRUN_OCI_VERSION = "1.1.0"
#: What dockerd reports for `docker run --runtime crun` there (containers/crun#1485),
#: before its class's suffix (testing.unknown_suffix: none for v28 on containerd 2.x).
CRUN_REFUSES = ("failed to create task for container: failed to create shim task:"
                " OCI runtime create failed: unknown version specified")


def crun_refuses(version: str) -> bool:
    """Whether this host's crun refuses specs at `version`: crun took only
    1.0.x and 1.1.x up to 1.14.1 (podman#27272: 1.14.1 refuses 1.2.1), until
    containers/crun#1417 dropped the check."""
    assert CRUN is not None
    line = subprocess.run([CRUN, "--version"], capture_output=True, text=True, check=True,
                          timeout=30).stdout.splitlines()[0]  # "crun version 1.8.1"
    crun = tuple(int(n) for n in re.findall(r"\d+", line.split()[-1])[:3])
    return crun <= (1, 14, 1) and not version.startswith(("1.0.", "1.1."))


def crun_spec(env: Env, id: str, args: list[str]) -> dict[str, object]:
    spec = env.spec(id, args)
    spec["ociVersion"] = CRUN_OCI_VERSION
    return spec


def chosen_containerd() -> str:
    """The binary this session runs (the matrix's switch, else PATH's)."""
    binary = os.environ.get("PYLIBCTRD_TEST_CONTAINERD") or shutil.which("containerd")
    assert binary is not None
    return os.path.abspath(binary)


def binary_version(binary: str) -> str:
    """`containerd --version`: "containerd <pkg> <version> <revision>"."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True,
                         timeout=30).stdout.split()
    return out[2]


def built_containerds() -> list[str]:
    """The containerds `make containerd-matrix` built (build/containerd/*/bin)."""
    return sorted(str(p) for p in (ROOT / "build" / "containerd").glob("*/bin/containerd"))


def shim_of(pid: int) -> str:
    """The executable of the process's parent: the shim that started it."""
    ppid = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("PPid:")))
    return os.path.realpath(f"/proc/{ppid}/exe")


def test_the_session_runs_the_chosen_containerd(client: pylibctrd.Client,
                                                make_container: MakeContainer) -> None:
    binary = chosen_containerd()
    assert client.version().version == binary_version(binary)
    task = make_container(["sleep", "30"]).new_task()
    try:
        shim = os.path.join(os.path.dirname(binary), "containerd-shim-runc-v2")
        if os.path.exists(shim):  # its own shim, not Debian's, for a built containerd
            assert shim_of(task.pid) == os.path.realpath(shim)
    finally:
        task.force_delete()


def daemon_dirs() -> tuple[str, str, str]:
    base = tempfile.mkdtemp(prefix="pylibctrd-d-")  # short: the socket path has a limit
    return base, os.path.join(base, "root"), os.path.join(base, "state")


def test_daemon_start_runs_the_given_binary(env: Env) -> None:
    binary = chosen_containerd()
    base, root, state = daemon_dirs()
    try:
        with pylibctrd.Daemon.start(root, state, containerd=binary) as daemon:
            with pylibctrd.Client.connect(daemon.address, namespace="t", state_dir=state) as c:
                assert c.version().version == binary_version(binary)
            assert os.readlink(os.path.join(state, "bin", "containerd")) == binary
            # While it runs, a containerd from elsewhere cannot be supervised too
            # (PATH is one per process).
            others = [b for b in ["/usr/bin/containerd", *built_containerds()]
                      if os.path.realpath(b) != os.path.realpath(binary) and os.path.exists(b)]
            if not others:
                pytest.skip("only one containerd here (make containerd-matrix builds others)")
            base2, root2, state2 = daemon_dirs()
            try:
                with pytest.raises(errors.Conflict, match="one per process"):
                    pylibctrd.Daemon.start(root2, state2, containerd=others[0])
            finally:
                shutil.rmtree(base2, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("binary,match", [
    ("containerd", "must be an absolute path"),
    ("/nonexistent/containerd", "no such file or directory"),
    ("/etc", "not an executable file"),
])
def test_daemon_start_refuses_a_bad_binary(binary: str, match: str, env: Env) -> None:
    base, root, state = daemon_dirs()
    try:
        with pytest.raises(errors.InvalidParameter, match=match):
            pylibctrd.Daemon.start(root, state, containerd=binary)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_cli_daemon_containerd_binary(env: Env) -> None:
    binary = chosen_containerd()
    base, root, state = daemon_dirs()
    proc = subprocess.Popen([sys.executable, "-m", "pylibctrd", "daemon", "--root", root,
                             "--state", state, "--containerd-binary", binary],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address == os.path.join(state, "containerd.sock")
        out = subprocess.run([sys.executable, "-m", "pylibctrd", "--address", address,
                              "version", "--format", "json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["server"]["containerd"] == binary_version(binary)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        shutil.rmtree(base, ignore_errors=True)


# crun, per container, as dockerd's --add-runtime crun=/usr/bin/crun.

def crun_state(namespace: str, id: str) -> dict[str, object]:
    """crun's own view of the container (fails for a runc container)."""
    out = subprocess.run([crun_runtime()["path"], "--root", str(RUNTIME_ROOT / namespace), "state", id],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


@needs_crun
def test_crun_lifecycle_exec_stdio_events(env: Env, client: pylibctrd.Client,
                                          recorder: pylibctrd.Recorder) -> None:
    id = f"crun-{uuid.uuid4().hex[:8]}"
    assert client.runtimes.get("crun").shim == pylibctrd.RUNC_V2
    shim, options = pylibctrd.Runtimes({"crun": crun_runtime()}).get("crun")
    try:
        spec = crun_spec(env, id, ["sh", "-c", "read x; echo got $x; exit 7"])
        ctr = client.new_container(id, spec, shim, options)
        out = stdio.Capture()
        task = ctr.new_task(with_stdin=True, attach_stdio=out)
        state = crun_state(env.namespace, id)
        assert state["status"] == "created" and state["pid"] == task.pid
        # runc keeps state.json there; crun its own files, never state.json.
        assert not (RUNTIME_ROOT / env.namespace / id / "state.json").exists()
        task.start()
        assert crun_state(env.namespace, id)["status"] == "running"
        ex = stdio.Capture()
        proc = task.exec("e1", pylibctrd.process_spec(
            spec, ["sh", "-c", "echo exec-out; echo err >&2; exit 3"]), attach_stdio=ex)
        assert proc.wait(30).exit_code == 3
        assert ex.wait(30) and ex.stdout == b"exec-out\n" and ex.stderr == b"err\n"
        proc.delete()
        task.pause()
        assert crun_state(env.namespace, id)["status"] == "paused"
        task.resume()
        assert out.stdin is not None
        out.stdin.write(b"hello\n")
        out.stdin.close()
        assert task.wait(30).exit_code == 7
        assert out.wait(30) and out.stdout == b"got hello\n"
        assert task.delete().exit_code == 7
        seen = [event for event, _ in recorder.of(id)]
        for want in (EventType.CREATE, EventType.START, EventType.EXEC_ADDED,
                     EventType.EXEC_STARTED, EventType.PAUSED, EventType.RESUMED, EventType.EXIT):
            assert want in seen, (want, seen)
        ctr.delete()
    finally:
        remove_container(client, id)


@needs_crun
def test_default_runtime_from_daemon_json(env: Env, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """daemon.json's default-runtime applies to new_container without options."""
    config = tmp_path / "daemon.json"
    entry = crun_runtime(CRUN or "crun")
    config.write_text(json.dumps({"runtimes": {"mycrun": entry}, "default-runtime": "mycrun"}))
    monkeypatch.setenv("PYLIBCTRD_CONFIG", str(config))
    id = f"crun-{uuid.uuid4().hex[:8]}"
    with env.connect() as client:
        assert client.runtimes.get() == (pylibctrd.RUNC_V2, {"BinaryName": entry["path"]})
        try:
            task = client.new_container(id, crun_spec(env, id, ["sleep", "30"])).new_task()
            assert crun_state(env.namespace, id)["pid"] == task.pid
            task.force_delete()
        finally:
            remove_container(client, id)


@needs_crun
def test_bare_crun_refuses_mobys_spec_version_as_dockerd_reports_it(
        env: Env, client: pylibctrd.Client) -> None:
    """Moby's own spec (not Env.spec's: PYLIBCTRD_TEST_OCI_VERSION may lower
    its version) under crun as dockerd's --add-runtime gives it, without the
    matrix's version switch: Debian 12's crun 1.8.1 refuses it at create,
    with dockerd's error; a crun that takes it runs it."""
    id = f"crun-{uuid.uuid4().hex[:8]}"
    spec = pylibctrd.container_spec(env.rootfs, ["sleep", "30"],
                                    cgroups_path=f"/pylibctrd-test/{id}")
    shim, options = pylibctrd.Runtimes({"crun": crun_runtime()}).get("crun")
    try:
        ctr = client.new_container(id, spec, shim, options)
        if crun_refuses(spec["ociVersion"]):
            with pytest.raises(errors.Unknown) as caught:
                ctr.new_task()
            assert str(caught.value) == CRUN_REFUSES + unknown_suffix(client.version().version)
            with pytest.raises(errors.NotFound):
                ctr.task()
        else:
            task = ctr.new_task()
            assert crun_state(env.namespace, id)["pid"] == task.pid
            task.force_delete()
        ctr.delete()
    finally:
        remove_container(client, id)


@pytest.mark.parametrize("binary", ["/nonexistent/crun", "crun-not-installed"])
def test_missing_runtime_fails_new_task_with_mobys_message(binary: str, env: Env,
                                                           client: pylibctrd.Client) -> None:
    id = f"nocrun-{uuid.uuid4().hex[:8]}"
    try:
        ctr = client.new_container(id, env.spec(id, ["true"]), pylibctrd.RUNC_V2,
                                   {"BinaryName": binary})
        with pytest.raises(errors.Error) as caught:
            ctr.new_task()
        # libcontainerd's error as dockerd gets it: the shim could not run the runtime.
        message = str(caught.value)
        assert "failed to create shim task: OCI runtime create failed" in message, message
        # The shim's words for it: fork/exec /x: no such file or directory
        # (1.6), exec: "/x": stat /x: ... (1.7, 2.x); exec: "x": executable
        # file not found in $PATH.
        reason = ("no such file or directory" if binary.startswith("/")
                  else "executable file not found in $PATH")
        assert binary in message and reason in message, message
        with pytest.raises(errors.NotFound):
            ctr.task()
        ctr.delete()
    finally:
        remove_container(client, id)


@needs_crun
def test_cli_run_runtime(env: Env, tmp_path: Path) -> None:
    """`run --runtime crun` runs crun: with Moby's spec, Debian 12's crun 1.8.1
    refuses its version (crun's own words, so crun ran); a crun that takes
    it runs the container, which crun then knows."""
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"runtimes": {"crun": crun_runtime()}}))
    base = [sys.executable, "-m", "pylibctrd", "--address", env.address, "--namespace",
            env.namespace, "--state-dir", str(env.bundles)]
    cli_env = {**os.environ, "PYLIBCTRD_CONFIG": str(config)}
    id = f"cli-crun-{uuid.uuid4().hex[:8]}"
    try:
        r = subprocess.run([*base, "run", "-d", "--cgroup-parent", "/pylibctrd-test", "--name", id,
                            "--runtime", "crun", "--rootfs", str(env.rootfs), "sleep", "30"],
                           capture_output=True, text=True, timeout=60, env=cli_env)
        if crun_refuses(pylibctrd.default_spec()["ociVersion"]):
            assert r.returncode == 125, (r.returncode, r.stderr)
            with env.connect() as client:
                refused = CRUN_REFUSES + unknown_suffix(client.version().version)
            assert r.stderr.endswith(f"{refused}\n"), r.stderr
        else:
            assert r.returncode == 0, r.stderr
            assert crun_state(env.namespace, id)["status"] == "running"
        bad = subprocess.run([*base, "run", "--runtime", "nope", "--rootfs", str(env.rootfs),
                              "true"], capture_output=True, text=True, timeout=60, env=cli_env)
        assert bad.returncode == 125
        assert "unknown or invalid runtime name: nope" in bad.stderr
    finally:
        with env.connect() as client:
            remove_container(client, id)
