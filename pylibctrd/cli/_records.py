"""What the listing commands print of a container or an image (ps, images
and inspect share it)."""

from __future__ import annotations

from typing import Any

import pylibctrd
from pylibctrd import errors
from pylibctrd.client import ContainerRecord

from . import _health, _network, _services
from ._common import iso, task_of
from ._spec import L_IMAGE


def container_row(client: pylibctrd.Client, record: ContainerRecord) -> dict[str, Any]:
    """A container as `ps --json` prints it: the command and rootfs from its
    spec (containerd's record), its status and pid from its task."""
    status, pid = "exited", None
    try:
        task = task_of(client.load_container(record.id))
        if task is not None:
            status, pid = task.status().value, task.pid
    except errors.NotFound:
        status = "removed"  # between the list and the look
    spec = record.spec or {}
    return {"id": record.id, "image": record.labels.get(L_IMAGE) or record.image or None,
            "rootfs": (spec.get("root") or {}).get("path"),
            "command": (spec.get("process") or {}).get("args"), "status": status,
            "pid": pid or None, "created": iso(record.created_at), "runtime": record.runtime,
            "ports": _network.ports_column(_network.endpoints_of(client, record.id)),
            **_services.monitor_fields(client, record.id), **_health.row_fields(client, record.id)}


def split_name(name: str) -> tuple[str, str]:
    """busybox:latest -> (busybox, latest); a digest-only or empty name -> <none>."""
    if not name:
        return "<none>", "<none>"
    repo, at, digest = name.partition("@")
    if at:
        return repo, "<none>"
    head, colon, tag = repo.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return repo, "<none>"


def image_row(image: pylibctrd.Image) -> dict[str, Any]:
    """An image as `images --json` prints it."""
    repository, tag = split_name(image.name)
    return {"name": image.name or None, "repository": repository, "tag": tag,
            "digest": image.digest, "size": image.size, "config": image.config}
