"""Our suite's names for the pylibctrd pytest plugin's fixtures
(pylibctrd/pytest_plugin.py: one containerd per session started by the
library itself, a busybox rootfs, containers that are always cleaned up).
Helpers live in pylibctrd.testing, not here: tests import nothing from conftest."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

import pylibctrd
from pylibctrd.testing import ContainerFactory, Env

pytest_plugins = ["pytester"]  # tests/integration/test_pytest_plugin.py


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
