"""Our suite's names for the pylibctrd pytest plugin's fixtures
(pylibctrd/pytest_plugin.py: one containerd per session started by the
library itself, a busybox rootfs, containers that are always cleaned up).
Helpers live in pylibctrd.testing, not here: tests import nothing from conftest."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import pylibctrd
from pylibctrd.testing import RUNTIME_ENV, ContainerFactory, Env, crun_runtime, oci_version

pytest_plugins = ["pytester"]  # tests/integration/test_pytest_plugin.py

# The matrix's switches (make test-matrix, matrix/run.py), read before the Go
# library loads (it copies the environment then):
# - PYLIBCTRD_TEST_CONTAINERD=/path/to/containerd: its dir goes first on PATH,
#   so every containerd of the session (the plugin's, a test's own, a CLI
#   subprocess's) is that binary, with the containerd-shim-runc-v2 beside it;
#   the plugin's daemon is started with Daemon.start(containerd=...).
# - PYLIBCTRD_TEST_RUNTIME=crun: a daemon.json with that default-runtime
#   ($PYLIBCTRD_CONFIG; crun with pylibctrd.testing.crun_runtime()'s entry),
#   so every new_container without runtime options runs under it; the
#   differential suite gives both runners that runtime's BinaryName.
# - PYLIBCTRD_TEST_OCI_VERSION=1.1.0 (the matrix sets it under crun, every
#   suite: Debian 12's crun 1.8.1 refuses Moby v26's 1.2.0, as under dockerd;
#   COMPATIBILITY.md): pylibctrd.testing.oci_version() is the one reading of
#   it. Every spec the helpers make (Env.spec, the plugin's
#   pylibctrd_container, the differential suite's runners) carries that
#   version; the daemon.json's crun also gives it to crun for the containers
#   made from Moby's spec in processes no helper reaches (the CLI and its
#   monitor, README examples). Tests that need crun's own verdict on Moby's
#   spec use a bare crun_runtime() (test_servers.py).
TEST_CONTAINERD = os.environ.get("PYLIBCTRD_TEST_CONTAINERD") or None
TEST_RUNTIME = os.environ.get(RUNTIME_ENV) or None
TEST_OCI_VERSION = oci_version()
if TEST_CONTAINERD is not None:
    TEST_CONTAINERD = os.path.abspath(TEST_CONTAINERD)
    os.environ["PATH"] = os.path.dirname(TEST_CONTAINERD) + os.pathsep + os.environ.get("PATH", "")
if TEST_RUNTIME is not None and TEST_RUNTIME != "runc":
    _config = Path(tempfile.mkdtemp(prefix="pylibctrd-test-config-")) / "daemon.json"
    _runtimes = ({"crun": crun_runtime(oci_version=TEST_OCI_VERSION)} if TEST_RUNTIME == "crun"
                 else {})
    _config.write_text(json.dumps({"runtimes": _runtimes, "default-runtime": TEST_RUNTIME}))
    os.environ["PYLIBCTRD_CONFIG"] = str(_config)


def pytest_report_header(config: pytest.Config) -> str:
    specs = f"OCI {TEST_OCI_VERSION}" if TEST_OCI_VERSION else "Moby's version"
    return (f"pylibctrd matrix: containerd {TEST_CONTAINERD or 'from PATH'},"
            f" runtime {TEST_RUNTIME or 'runc'}, specs at {specs}")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_CONTAINERD is not None and config.getoption("pylibctrd_containerd", None) is None:
        config.option.pylibctrd_containerd = TEST_CONTAINERD


@pytest.fixture(scope="session")
def env(pylibctrd_env: Env) -> Env:
    return pylibctrd_env


@pytest.fixture
def recorder(pylibctrd_recorder: pylibctrd.Recorder) -> pylibctrd.Recorder:
    return pylibctrd_recorder


@pytest.fixture
def client(env: Env, pylibctrd_client: pylibctrd.Client) -> pylibctrd.Client:
    return pylibctrd_client


@pytest.fixture
def make_container(env: Env, pylibctrd_container: ContainerFactory) -> ContainerFactory:
    return pylibctrd_container


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[str]:
    """A unix socket that accepts connections and never answers."""
    path = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    yield path
    srv.close()
