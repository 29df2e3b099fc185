"""Leaving containerd as it was: used by `make bench` after its peers and by
the test session's fixtures, so that no run leaves a container, task or shim."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pylibctrd
from pylibctrd import errors


def remove_container(client: pylibctrd.Client, id: str) -> None:
    """Force-delete the container's task, then the container; gone is fine."""
    try:
        ctr = client.load_container(id)
    except errors.NotFound:
        return
    try:
        ctr.task().force_delete()
    except errors.NotFound:
        pass
    try:
        ctr.delete()
    except errors.NotFound:
        pass


def sweep(address: str, state_dir: str, namespace: str) -> list[str]:
    """Remove every container left in `namespace` (tasks too, so that no
    shim outlives the run); returns the ids containerd listed."""
    listed = subprocess.run(["ctr", "-a", address, "-n", namespace, "containers", "list", "-q"],
                            capture_output=True, text=True, timeout=30)
    ids = listed.stdout.split() if listed.returncode == 0 else []
    if ids:
        with pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir) as client:
            for id in ids:
                remove_container(client, id)
    return ids


def remove_runc_root(namespace: str) -> None:
    """The runc shim keeps a state dir per namespace under its default root;
    drop it once empty, so that a run leaves nothing in /run."""
    try:
        (Path("/run/containerd/runc") / namespace).rmdir()
    except OSError:
        pass  # absent, or a runc container is still recorded there
