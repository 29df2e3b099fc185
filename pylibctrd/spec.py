"""OCI specs: Moby's default spec (from Go) and a small builder on top of it."""

from __future__ import annotations

import copy
import json
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import errors
from ._ffi import call, lib

if TYPE_CHECKING:
    from .images import Image

_default_json: bytes | None = None


def default_spec() -> dict[str, Any]:
    """Moby's `oci.DefaultSpec()` (a fresh copy each call)."""
    global _default_json
    if _default_json is None:
        _, _default_json = call(lib().pylibctrd_default_spec)
    # Parsing the cached JSON again is ~4x cheaper than copy.deepcopy.
    spec: dict[str, Any] = json.loads(_default_json or b"{}")
    return spec


DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def container_spec(rootfs: str | os.PathLike[str], args: Sequence[str] | None = None, *,
                   image: Image | None = None, terminal: bool = False,
                   env: Sequence[str] | None = None, cgroups_path: str | None = None,
                   cwd: str | None = None, user: str | None = None) -> dict[str, Any]:
    """default_spec() with a root filesystem and a command filled in, as
    dockerd does before NewContainer.

    With `image` (from `client.get_image()`), docker run's rules: `args=None`
    runs the image's Entrypoint + Cmd, given `args` replace Cmd (Entrypoint +
    args); the image's Env comes first and `env` overrides it by name; the
    image's WorkingDir and User apply unless `cwd`/`user` are given (a user
    name is looked up in the rootfs' /etc/passwd and /etc/group, as Moby does).
    """
    spec = default_spec()
    spec["root"] = {"path": os.fspath(rootfs), "readonly": False}
    process = spec["process"]
    config: Mapping[str, Any] = image.config if image is not None else {}
    if image is not None:
        command = list(config.get("Entrypoint") or []) + list(
            args if args is not None else config.get("Cmd") or [])
        base = [DEFAULT_PATH, *(["TERM=xterm"] if terminal else [])]
        environment = _merge_env(_merge_env(base, config.get("Env") or []), env or [])
    else:
        if args is None:
            raise TypeError("container_spec() needs args when no image is given")
        command = list(args)
        environment = list(env) if env is not None else [
            DEFAULT_PATH, *(["TERM=xterm"] if terminal else [])]
    if not command:
        raise errors.InvalidParameter("No command specified")
    process["args"] = command
    process["cwd"] = cwd if cwd is not None else (config.get("WorkingDir") or "/")
    process["terminal"] = terminal
    process["env"] = environment
    user = user if user is not None else config.get("User") or ""
    process["user"] = _resolve_user(os.fspath(rootfs), user) if user else process.get(
        "user", {"uid": 0, "gid": 0})
    if cgroups_path is not None:
        spec["linux"]["cgroupsPath"] = cgroups_path
    return spec


def _merge_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Moby's ReplaceOrAppendEnvValues: a later VAR=value replaces an earlier VAR."""
    merged = list(base)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(merged)}
    for entry in overrides:
        key = entry.split("=", 1)[0]
        if key in index:
            merged[index[key]] = entry
        else:
            index[key] = len(merged)
            merged.append(entry)
    return merged


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return []


def _resolve_user(rootfs: str, spec: str) -> dict[str, Any]:
    """uid, gid and additional gids for "user[:group]" as moby/sys/user's
    GetExecUser resolves them from the container's passwd and group files."""
    name, _, group = spec.partition(":")
    passwd = [e for e in _read_db(os.path.join(rootfs, "etc/passwd")) if len(e) >= 4]
    groups = [e for e in _read_db(os.path.join(rootfs, "etc/group")) if len(e) >= 3]
    entry = next((e for e in passwd if e[0] == name or e[2] == name), None)
    if entry is not None:
        uid, gid, login = int(entry[2]), int(entry[3]), entry[0]
    elif name.isdigit():
        uid, gid, login = int(name), 0, ""
    else:
        raise errors.InvalidParameter(
            f"unable to find user {name}: no matching entries in passwd file")
    extra: list[int] = []
    if group:
        found = next((g for g in groups if g[0] == group or g[2] == group), None)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise errors.InvalidParameter(
                f"unable to find group {group}: no matching entries in group file")
    elif login:
        extra = [int(g[2]) for g in groups if login in g[3].split(",") and g[2].isdigit()]
    user: dict[str, Any] = {"uid": uid, "gid": gid}
    if extra:
        user["additionalGids"] = extra
    return user


def process_spec(spec: dict[str, Any], args: Sequence[str], *, terminal: bool = False) -> dict[str, Any]:
    """An exec process spec derived from a container spec (as `docker exec`)."""
    process = copy.deepcopy(spec["process"])
    process["args"] = list(args)
    process["terminal"] = terminal
    return dict(process)
