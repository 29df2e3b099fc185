"""Helpers for tests that run real containers: what the pytest plugin
(`pylibctrd.pytest_plugin`) is made of, importable on their own.

`Containerd` is a test session's containerd (address, namespace, bundle
dir), `Env` adds the busybox rootfs; `remove_container` and `sweep` leave containerd as it was (no
container, task or shim left); `missing()` names what this machine lacks to
run containers. Nothing here needs pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any, Protocol

from . import errors
from .client import Client, Container
from .daemon import Daemon
from .events import Backend
from .images import Image
from .removal import remove_container as remove_container
from .rootfs import find_busybox
from .spec import container_spec

#: The binaries a managed containerd needs on PATH (the shim finds runc there).
CONTAINER_BINARIES = ("containerd", "containerd-shim-runc-v2", "runc")

#: Where the runc shim keeps a state dir per namespace.
RUNC_ROOT = Path("/run/containerd/runc")


def missing(*, managed: bool = True) -> list[str]:
    """What this machine lacks to run containers, as readable reasons (empty:
    nothing). With `managed=False` (an existing containerd given by address)
    only the local needs count: root, for the FIFOs and bundles the shim
    opens, and busybox for the rootfs."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (containers need uid 0)")
    if managed:
        reasons += [f"no {b} on PATH" for b in CONTAINER_BINARIES if shutil.which(b) is None]
    try:
        find_busybox()
    except FileNotFoundError:
        reasons.append("no busybox (Debian's busybox-static) for the rootfs")
    return reasons


def sweep(address: str, state_dir: str, namespace: str) -> list[str]:
    """Remove every container left in `namespace` (tasks too, so that no
    shim outlives the run); returns the ids containerd listed."""
    with Client.connect(address, namespace=namespace, state_dir=state_dir) as client:
        ids = [r.id for r in client.list_containers()]
        for id in ids:
            remove_container(client, id)
    return ids


def remove_runc_root(namespace: str) -> None:
    """The runc shim keeps a state dir per namespace under its default root;
    drop it once empty, so that a run leaves nothing in /run."""
    try:
        (RUNC_ROOT / namespace).rmdir()
    except OSError:
        pass  # absent, or a runc container is still recorded there


class Containerd:
    """A test session's containerd: its address, the session's own namespace
    and bundle dir (`Client.connect(state_dir=...)`), and the `Daemon` when
    the session started it (None when it was given by address)."""

    def __init__(self, address: str, namespace: str, workdir: Path,
                 daemon: Daemon | None = None) -> None:
        self.address = address
        self.namespace = namespace
        self.workdir = workdir
        self.bundles = workdir / "bundles"
        self.daemon = daemon

    def connect(self, backend: Backend | None = None) -> Client:
        return Client.connect(self.address, namespace=self.namespace,
                              state_dir=str(self.bundles), backend=backend)

    def ctr(self, *args: str) -> str:
        """containerd's own CLI, to look at what containerd recorded."""
        return subprocess.run(["ctr", "-a", self.address, "-n", self.namespace, *args],
                              check=True, capture_output=True, text=True, timeout=30).stdout

    def container_info(self, id: str) -> dict[str, Any]:
        return dict(json.loads(self.ctr("containers", "info", id)))

    def leftovers(self) -> list[str]:
        """The containers containerd still has in this namespace."""
        with self.connect() as client:
            return [r.id for r in client.list_containers()]

    def sweep(self) -> list[str]:
        """Remove what is left in the namespace; the runc state dirs of this
        namespace and of any namespace named after it go too."""
        left = sweep(self.address, str(self.bundles), self.namespace)
        for d in RUNC_ROOT.glob(f"{self.namespace}*"):
            remove_runc_root(d.name)
        return left


class Env(Containerd):
    """A containerd and the busybox rootfs containers are made from."""

    def __init__(self, containerd: Containerd, rootfs: Path) -> None:
        super().__init__(containerd.address, containerd.namespace, containerd.workdir,
                         containerd.daemon)
        self.rootfs = rootfs

    def spec(self, id: str, args: list[str], **kw: Any) -> dict[str, Any]:
        """A busybox container spec; its cgroup is named after the container."""
        kw.setdefault("cgroups_path", f"/pylibctrd-test/{id}")
        return container_spec(self.rootfs, args, **kw)


class MakeContainer(Protocol):
    """The `pylibctrd_container` fixture: `make(args, **spec_kw)` creates a
    busybox container (spec from `container_spec`) that is removed, with its
    task and execs, after the test. With `image=` (an `Image`, e.g.
    `pylibctrd_image`) its rootfs is prepared from that image (`args=None`:
    the image's command) and released after the test."""

    def __call__(self, args: list[str] | None, *, id: str | None = None,
                 **spec_kw: Any) -> Container: ...


class ContainerFactory:
    """What `pylibctrd_container` yields; `cleanup()` force-deletes all it made."""

    def __init__(self, env: Env, client: Client) -> None:
        self.env = env
        self.client = client
        self.made: list[str] = []
        self.prepared: list[str] = []

    def __call__(self, args: list[str] | None, *, id: str | None = None,
                 **spec_kw: Any) -> Container:
        id = id or f"t-{uuid.uuid4().hex[:12]}"
        self.made.append(id)  # before creating: a half-made container is removed too
        image: Image | None = spec_kw.get("image")
        if image is None:
            if args is None:
                raise TypeError("args are needed without an image")
            return self.client.new_container(id, self.env.spec(id, args, **spec_kw))
        rootfs = self.client.prepare_rootfs(id, image.name or image.digest)
        self.prepared.append(id)
        spec_kw.setdefault("cgroups_path", f"/pylibctrd-test/{id}")
        return self.client.new_container(id, container_spec(rootfs, args, **spec_kw))

    def cleanup(self) -> None:
        # A fresh client: the test may have closed its own. Releasing a rootfs
        # another client prepared is fine (the mount and lease are shared state).
        with self.env.connect() as cleaner:
            for id in self.made:
                remove_container(cleaner, id)
            for id in self.prepared:  # unless the test released it
                remove_container(cleaner, id, rootfs=True)


class SessionImages:
    """What `pylibctrd_images` yields: `load(archive, *, name=None)` imports
    an image archive once per session (the same path and name again returns
    the same list); `remove_all()` removes every image it imported."""

    def __init__(self, containerd: Containerd) -> None:
        self.containerd = containerd
        self.loaded: dict[tuple[Path, str | None], list[Image]] = {}

    def __call__(self, archive: str | os.PathLike[str], *, name: str | None = None) -> list[Image]:
        key = (Path(archive).resolve(), name)
        if key not in self.loaded:
            with self.containerd.connect() as client:
                self.loaded[key] = client.import_image(key[0], name=name)
        return self.loaded[key]

    def remove_all(self) -> None:
        with self.containerd.connect() as client:
            for images in self.loaded.values():
                for image in images:
                    try:
                        client.remove_image(image.name or image.digest)
                    except errors.NotFound:
                        pass  # a test removed it, or another name's removal did
        self.loaded.clear()


def release_prepared(containerd: Containerd) -> list[str]:
    """Release every rootfs still prepared under the session's bundle dir
    (removing the containers on them first); returns their ids."""
    mounts = Path(f"{containerd.bundles}-images") / "rootfs" / "overlayfs"
    ids = sorted(p.name for p in mounts.iterdir()) if mounts.is_dir() else []
    if ids:
        with containerd.connect() as client:
            for id in ids:
                remove_container(client, id, rootfs=True)
    return ids
