"""pytest fixtures for code that runs containers through pylibctrd.

Registered through the `pytest11` entry point: installing pylibctrd is enough.

    def test_echo(pylibctrd_container, pylibctrd_recorder):
        ctr = pylibctrd_container(["echo", "hi"])      # removed after the test
        task = ctr.new_task(); task.start()
        assert pylibctrd_recorder.wait_for(ctr.id, pylibctrd.EventType.EXIT).exit_code == 0

Fixtures (session ones are per pytest-xdist worker: each worker has its own
namespace, bundle dir and, unless `--pylibctrd-address` is given, containerd):

- `pylibctrd_daemon` (session): a `pylibctrd.testing.Containerd`, a containerd
  started with `Daemon.start` in a temp dir and stopped at the end, or the one
  at `--pylibctrd-address SOCK`. At session end it fails the session if any
  container is left in its namespace, then removes what is left.
- `pylibctrd_rootfs` (session): a busybox root filesystem (a `Path`).
- `pylibctrd_env` (session): both, as a `pylibctrd.testing.Env` (`spec()`).
- `pylibctrd_recorder` (function): the `Recorder` backend of `pylibctrd_client`.
- `pylibctrd_client` (function): a connected `Client`, closed after the test.
- `pylibctrd_container` (function): `make(args, *, id=None, **spec_kw)`; its
  containers, tasks and execs are force-deleted after the test, pass or fail.

When this machine cannot run containers (not root, no containerd, shim, runc
or busybox), the fixtures skip with one reason naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from .client import Client
from .daemon import Daemon
from .events import Recorder
from .rootfs import busybox_rootfs
from .testing import Containerd, ContainerFactory, Env, missing


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pylibctrd", "pylibctrd fixtures")
    group.addoption("--pylibctrd-address", metavar="SOCK", default=None,
                    help="use the containerd at this socket instead of starting one")


def _remove_tree(path: str) -> None:
    """rmtree, unless something is still mounted below (never delete through a mount)."""
    for root, dirs, _ in os.walk(path):
        if any(os.path.ismount(os.path.join(root, d)) for d in dirs):
            return
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pylibctrd_daemon(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    address: str | None = request.config.getoption("pylibctrd_address")
    reasons = missing(managed=address is None)
    if reasons:
        pytest.skip("pylibctrd: cannot run containers here: " + "; ".join(reasons))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    namespace = f"pylibctrd-test-{os.getpid()}" + (f"-{worker}" if worker else "")
    workdir = tmp_path_factory.mktemp("pylibctrd")  # per worker under xdist
    daemon_dir = None
    if address is None:
        # Not under workdir: containerd's socket path must stay under 108 bytes.
        daemon_dir = tempfile.mkdtemp(prefix="pylibctrd-")
        daemon = Daemon.start(os.path.join(daemon_dir, "root"), os.path.join(daemon_dir, "state"))
        containerd = Containerd(daemon.address, namespace, workdir, daemon)
    else:
        containerd = Containerd(address, namespace, workdir)
    try:
        yield containerd
        left = containerd.leftovers()
        if left:
            pytest.fail(f"pylibctrd: the tests left containers in namespace {namespace}: "
                        f"{left} (removed now)", pytrace=False)
    finally:
        containerd.sweep()
        if containerd.daemon is not None:
            containerd.daemon.stop()
        if daemon_dir is not None:
            _remove_tree(daemon_dir)


@pytest.fixture(scope="session")
def pylibctrd_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return busybox_rootfs(tmp_path_factory.mktemp("rootfs"))
    except FileNotFoundError as e:
        pytest.skip(f"pylibctrd: cannot run containers here: {e}")


@pytest.fixture(scope="session")
def pylibctrd_env(pylibctrd_daemon: Containerd, pylibctrd_rootfs: Path) -> Env:
    return Env(pylibctrd_daemon, pylibctrd_rootfs)


# pylibctrd_image (session): an imported busybox image. It arrives with the
# images API (client.import_image); like pylibctrd_rootfs it will skip with
# one reason when images cannot be used here.


@pytest.fixture
def pylibctrd_recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def pylibctrd_client(pylibctrd_daemon: Containerd,
                     pylibctrd_recorder: Recorder) -> Iterator[Client]:
    client = pylibctrd_daemon.connect(backend=pylibctrd_recorder)
    yield client
    client.close()


@pytest.fixture
def pylibctrd_container(pylibctrd_env: Env, pylibctrd_client: Client) -> Iterator[ContainerFactory]:
    factory = ContainerFactory(pylibctrd_env, pylibctrd_client)
    yield factory
    factory.cleanup()
