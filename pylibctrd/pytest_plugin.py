"""pytest fixtures for code that runs containers through pylibctrd.

Registered through the `pytest11` entry point: installing pylibctrd is enough.

    def test_echo(pylibctrd_container, pylibctrd_recorder):
        ctr = pylibctrd_container(["echo", "hi"])      # removed after the test
        task = ctr.new_task(); task.start()
        assert pylibctrd_recorder.wait_for(ctr.id, pylibctrd.EventType.EXIT).exit_code == 0

Fixtures (session ones are per pytest-xdist worker: each worker has its own
namespace, bundle dir and, unless `--pylibctrd-address` is given, containerd):

- `pylibctrd_daemon` (session): a `pylibctrd.testing.Containerd`, a containerd
  started with `Daemon.start` in a temp dir and stopped at the end (the
  binary given by `--pylibctrd-containerd BINARY`, else containerd on PATH),
  or the one at `--pylibctrd-address SOCK`. At session end it fails the session if any
  container is left in its namespace, then removes what is left.
- `pylibctrd_rootfs` (session): a busybox root filesystem (a `Path`).
- `pylibctrd_env` (session): both, as a `pylibctrd.testing.Env` (`spec()`).
- `pylibctrd_images` (session): `load(archive, *, name=None) -> list[Image]`
  imports a `docker save` or OCI archive once per session; every image it
  imported is removed at session end, and a rootfs still prepared then fails
  the session (it is released).
- `pylibctrd_image` (session): the one image of the archive given by
  `--pylibctrd-image ARCHIVE` or the ini option `pylibctrd_image` (relative
  to the ini file), else busybox-static imported as `busybox:latest`. A
  value that is no file but an image reference (`alpine:3.20`,
  `registry.example.com/app:1`) is pulled once per session instead.
- `pylibctrd_recorder` (function): the `Recorder` backend of `pylibctrd_client`.
- `pylibctrd_client` (function): a connected `Client`, closed after the test.
- `pylibctrd_ready` (function): `.wait_for_log(container, pattern, timeout)`
  and `.wait_healthy(container, timeout)` (pylibctrd.testing's readiness
  helpers; `NotReady` shows the last log lines).
- `pylibctrd_container` (function): `make(args, *, id=None, **spec_kw)`; its
  containers, tasks and execs are force-deleted after the test, pass or fail.
  `make(None, image=pylibctrd_image)` runs the image's command on a rootfs
  prepared from it, released after the test. `make(["httpd", "-f", "-p", "80"],
  ports=[80])` publishes container port 80 on a random host port (any of
  `container_spec`'s network arguments work; docs/networking.md) and
  `container.host_port(80)` tells which; removal tears the network down.

With `PYLIBCTRD_TEST_OCI_VERSION` set (e.g. `1.1.0`, for a crun older than
1.14.2 that refuses Moby's spec version), the specs of `pylibctrd_env.spec()`
and `pylibctrd_container` carry that `ociVersion` (`pylibctrd.testing.oci_version()`).

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

from . import errors, imagebuild
from .client import Client
from .daemon import Daemon
from .events import Recorder
from .images import Image
from .rootfs import busybox_rootfs
from .testing import (
    Containerd, ContainerFactory, Env, Readiness, SessionImages, missing, release_prepared,
)

#: The name `pylibctrd_image` has in the session's namespace.
IMAGE_NAME = "busybox:latest"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pylibctrd", "pylibctrd fixtures")
    group.addoption("--pylibctrd-address", metavar="SOCK", default=None,
                    help="use the containerd at this socket instead of starting one")
    group.addoption("--pylibctrd-containerd", metavar="BINARY", default=None,
                    help="the containerd binary the session's daemon runs (with the"
                         " containerd-shim-runc-v2 beside it), instead of the one on PATH")
    group.addoption("--pylibctrd-image", metavar="ARCHIVE|REF", default=None,
                    help="the image archive (docker save or OCI layout, .tar or .tar.gz)"
                         " whose one image pylibctrd_image imports, or an image reference"
                         " it pulls once per session, instead of busybox")
    parser.addini("pylibctrd_image", "the image archive pylibctrd_image imports (relative to"
                  " this file) or the reference it pulls, instead of busybox;"
                  " --pylibctrd-image overrides it")


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
        daemon = Daemon.start(os.path.join(daemon_dir, "root"), os.path.join(daemon_dir, "state"),
                              containerd=request.config.getoption("pylibctrd_containerd"))
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


@pytest.fixture(scope="session")
def pylibctrd_images(pylibctrd_daemon: Containerd) -> Iterator[SessionImages]:
    images = SessionImages(pylibctrd_daemon)
    yield images
    # Before the daemon's teardown (which checks for leftover containers):
    # a rootfs still prepared from an image would keep a mount after the session.
    left = release_prepared(pylibctrd_daemon)
    images.remove_all()
    if left:
        pytest.fail(f"pylibctrd: the tests left rootfs prepared in namespace"
                    f" {pylibctrd_daemon.namespace}: {left} (their containers removed and"
                    " rootfs released now)", pytrace=False)


_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def _configured_archive(config: pytest.Config) -> Path | str | None:
    """--pylibctrd-image (relative to the working dir), else the ini option
    (relative to the ini file), else None. A value that names no file and
    does not end like an archive is an image reference (a str)."""
    given: str | None = config.getoption("pylibctrd_image")
    value, base = given, Path.cwd()
    if not given:
        value = str(config.getini("pylibctrd_image") or "")
        base = config.inipath.parent if config.inipath is not None else config.rootpath
    if not value:
        return None
    path = (base / value).resolve()
    if path.exists() or value.endswith(_ARCHIVE_SUFFIXES):
        return path
    return value


@pytest.fixture(scope="session")
def pylibctrd_image(request: pytest.FixtureRequest, pylibctrd_images: SessionImages,
                    tmp_path_factory: pytest.TempPathFactory) -> Image:
    archive = _configured_archive(request.config)
    if isinstance(archive, str):
        try:
            return pylibctrd_images.pull(archive)
        except errors.Error as e:
            pytest.fail(f"pylibctrd: pulling {archive} (--pylibctrd-image or ini"
                        f" pylibctrd_image): {e}", pytrace=False)
    if archive is None:
        archive = tmp_path_factory.mktemp("image") / "busybox.tar"
        try:
            imagebuild.busybox_image(archive, name=IMAGE_NAME)
        except FileNotFoundError as e:
            pytest.skip(f"pylibctrd: cannot run containers here: {e}")
    elif not archive.is_file():
        pytest.fail(f"pylibctrd: the image archive {archive} (--pylibctrd-image or ini"
                    " pylibctrd_image) is not a file", pytrace=False)
    try:
        images = pylibctrd_images(archive)
    except errors.Error as e:
        pytest.fail(f"pylibctrd: importing {archive}: {e}", pytrace=False)
    if len(images) != 1:
        pytest.fail(f"pylibctrd: {archive} holds {len(images)} images"
                    f" ({', '.join(i.name or i.digest for i in images)}); pylibctrd_image needs"
                    " one: use pylibctrd_images(archive) for the others", pytrace=False)
    return images[0]


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


@pytest.fixture
def pylibctrd_ready() -> Readiness:
    """`wait_for_log(container, pattern, timeout=30)` and
    `wait_healthy(container, timeout=60)` of pylibctrd.testing, which raise
    `NotReady` showing the container's last log lines."""
    return Readiness()

