"""Fixtures: one real containerd per session, started by the library itself
(Moby's supervisor), a busybox rootfs, and containers that are always cleaned up."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator, Protocol

import pytest

import pylibctrd
from benchmarks.cleanup import remove_container, remove_runc_root, sweep


class Env:
    """What a test needs to reach the session's containerd."""

    def __init__(self, daemon: pylibctrd.Daemon, namespace: str, workdir: Path,
                 rootfs: Path) -> None:
        self.daemon = daemon
        self.namespace = namespace
        self.workdir = workdir
        self.bundles = workdir / "bundles"
        self.rootfs = rootfs

    def connect(self, backend: pylibctrd.Backend | None = None) -> pylibctrd.Client:
        return pylibctrd.Client.connect(self.daemon.address, namespace=self.namespace,
                                        state_dir=str(self.bundles), backend=backend)

    def ctr(self, *args: str) -> str:
        """containerd's own CLI, to look at what containerd recorded."""
        return subprocess.run(["ctr", "-a", self.daemon.address, "-n", self.namespace, *args],
                              check=True, capture_output=True, text=True, timeout=30).stdout

    def container_info(self, id: str) -> dict[str, Any]:
        return dict(json.loads(self.ctr("containers", "info", id)))

    def spec(self, id: str, args: list[str], **kw: Any) -> dict[str, Any]:
        return pylibctrd.container_spec(self.rootfs, args, cgroups_path=f"/pylibctrd-test/{id}", **kw)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("ctrd")
    daemon = pylibctrd.Daemon.start(workdir / "root", workdir / "state")
    e = Env(daemon, f"pylibctrd-test-{os.getpid()}", workdir,
            pylibctrd.busybox_rootfs(workdir / "rootfs"))
    try:
        yield e
        left = e.ctr("containers", "list", "-q").split()
        assert left == [], f"tests leaked containers: {left}"
    finally:
        sweep(daemon.address, str(e.bundles), e.namespace)  # a failed run's leftovers
        daemon.stop()
        for d in Path("/run/containerd/runc").glob(f"{e.namespace}*"):
            remove_runc_root(d.name)  # this session's, and its benchmark smoke run's


@pytest.fixture
def recorder() -> pylibctrd.Recorder:
    return pylibctrd.Recorder()


@pytest.fixture
def client(env: Env, recorder: pylibctrd.Recorder) -> Iterator[pylibctrd.Client]:
    c = env.connect(backend=recorder)
    yield c
    c.close()


class MakeContainer(Protocol):
    def __call__(self, args: list[str], *, terminal: bool = False,
                 id: str | None = None) -> pylibctrd.Container: ...


@pytest.fixture
def make_container(env: Env, client: pylibctrd.Client) -> Iterator[MakeContainer]:
    """Creates busybox containers and removes them (and their tasks) afterwards."""
    made: list[str] = []

    def make(args: list[str], *, terminal: bool = False, id: str | None = None) -> pylibctrd.Container:
        id = id or f"t-{uuid.uuid4().hex[:12]}"
        made.append(id)
        return client.new_container(id, env.spec(id, args, terminal=terminal))

    yield make
    with env.connect() as cleaner:
        for id in made:
            remove_container(cleaner, id)
