"""OCI specs: Moby's default spec (from Go) and a small builder on top of it."""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Sequence

from ._ffi import call, lib

_default_json: bytes | None = None


def default_spec() -> dict[str, Any]:
    """Moby's `oci.DefaultSpec()` (a fresh copy each call)."""
    global _default_json
    if _default_json is None:
        _, _default_json = call(lib().pylibctrd_default_spec)
    # Parsing the cached JSON again is ~4x cheaper than copy.deepcopy.
    spec: dict[str, Any] = json.loads(_default_json or b"{}")
    return spec


def container_spec(rootfs: str | os.PathLike[str], args: Sequence[str], *,
                   terminal: bool = False, env: Sequence[str] | None = None,
                   cgroups_path: str | None = None, cwd: str = "/") -> dict[str, Any]:
    """default_spec() with a root filesystem and a command filled in, as
    dockerd does before NewContainer."""
    spec = default_spec()
    spec["root"] = {"path": os.fspath(rootfs), "readonly": False}
    process = spec["process"]
    process["args"] = list(args)
    process["cwd"] = cwd
    process["terminal"] = terminal
    process["env"] = list(env) if env is not None else [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        *(["TERM=xterm"] if terminal else []),
    ]
    process.setdefault("user", {"uid": 0, "gid": 0})
    if cgroups_path is not None:
        spec["linux"]["cgroupsPath"] = cgroups_path
    return spec


def process_spec(spec: dict[str, Any], args: Sequence[str], *, terminal: bool = False) -> dict[str, Any]:
    """An exec process spec derived from a container spec (as `docker exec`)."""
    process = copy.deepcopy(spec["process"])
    process["args"] = list(args)
    process["terminal"] = terminal
    return dict(process)
