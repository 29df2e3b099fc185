"""OCI specs: Moby's default spec (from Go) and a small builder on top of it."""

from __future__ import annotations

import copy
import json
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import errors
from . import networks as _networks
from ._ffi import call, lib
from .networks import Port

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
                   cwd: str | None = None, user: str | None = None,
                   mounts: Sequence[str | Mapping[str, Any]] | None = None,
                   tmpfs: Mapping[str, str] | None = None,
                   read_only: bool = False,
                   network: str | None = None, ports: Sequence[Port] = (),
                   publish_all: bool = False,
                   network_aliases: Sequence[str] = (), ip: str | None = None,
                   hostname: str | None = None, dns: Sequence[str] | None = None,
                   dns_search: Sequence[str] | None = None,
                   extra_hosts: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, Any]:
    """default_spec() with a root filesystem and a command filled in, as
    dockerd does before NewContainer.

    With `image` (from `client.get_image()`), docker run's rules (Moby's
    daemon/commit.go merge and oci_linux.go): `args=None` runs the image's
    Entrypoint + Cmd (so does `args=[]`, as Moby's merge takes an empty Cmd
    for none), given `args` replace Cmd (Entrypoint + args); `env`
    comes first, then the image's entries whose names it does not set, over
    the defaults (PATH, TERM); the image's WorkingDir and User apply unless
    `cwd`/`user` are given. The user (the image's or root) is resolved in the
    rootfs' /etc/passwd and /etc/group as Moby's getUser does: additionalGids
    are its gid and then its supplementary groups. An image run with neither
    Entrypoint nor Cmd (nor `args`) is `InvalidParameter("No command
    specified")`, docker run's rule (the differential suite's Go runner
    applies the same rule in go/cmd/internal/harness/imagespec.go). Without
    `image`, `args` is taken as given, empty too: Moby's libcontainerd does
    not look at it, runc refuses empty args when the task is created.

    `mounts` are `docker run -v` strings ("/host:/ctr:ro", "volname:/data")
    or `--mount` dicts as docker's API takes them ({"Type": "bind", "Source":
    ..., "Target": ..., "ReadOnly": True}, "volume", "tmpfs"), `tmpfs` is
    `--tmpfs` ({"/run": "size=64m"}), `read_only` is `--read-only`: each is
    parsed and checked by Moby's volume/mounts parser (its messages, as
    `errors.InvalidParameter`) and laid into the spec as dockerd does. A
    named volume is created (Moby's local driver) by `new_container`, and
    filled with the image's content at its path when empty.

    Networking (docs/networking.md), as docker run's flags: `network` is a
    network's name, "bridge" (the default network), "host", "none" or
    "container:<id>"; `ports` are published ports (docker's -p syntax, an int
    for a random host port, or PortBinding); `publish_all` is -P: each of the
    image's `ExposedPorts` that `ports` does not publish goes to a random host
    port (it needs `image`); `network_aliases`, `ip`,
    `hostname`, `dns`, `dns_search` and `extra_hosts` ({"name": "ip"} or
    ["name:ip"]) as --network-alias, --ip, --hostname, --dns, --dns-search and
    --add-host. Any of them (ports alone mean "bridge") makes the spec ask
    for a network setup that `Client.new_container` makes and
    `Container.delete` undoes. With none, the container gets Moby's default
    spec's private network namespace with only a loopback that is down.
    """
    spec = default_spec()
    spec["root"] = {"path": os.fspath(rootfs), "readonly": False}
    process = spec["process"]
    config: Mapping[str, Any] = image.config if image is not None else {}
    if image is not None:
        # Moby's merge(): an empty command (None or []) takes the image's Cmd.
        command = list(config.get("Entrypoint") or []) + list(args or config.get("Cmd") or [])
        if not command:  # docker run's rule (daemon/create.go), as dockerd refuses it
            raise errors.InvalidParameter("No command specified")
        base = [DEFAULT_PATH, *(["TERM=xterm"] if terminal else [])]
        environment = merge_env(base, _docker_run_env(env or [], config.get("Env") or []))
    else:
        if args is None:
            raise TypeError("container_spec() needs args when no image is given")
        # Empty args pass through, as in a Go caller's spec: NewContainer
        # takes it, and runc refuses it at new_task/exec (`args must not be empty`).
        command = list(args)
        environment = list(env) if env is not None else [
            DEFAULT_PATH, *(["TERM=xterm"] if terminal else [])]
    process["args"] = command
    process["cwd"] = cwd if cwd is not None else (config.get("WorkingDir") or "/")
    process["terminal"] = terminal
    process["env"] = environment
    user = user if user is not None else config.get("User") or ""
    if user or image is not None:  # dockerd resolves every container's user, root too
        process["user"] = resolve_user(os.fspath(rootfs), user)
    else:
        process["user"] = process.get("user", {"uid": 0, "gid": 0})
    if cgroups_path is not None:
        spec["linux"]["cgroupsPath"] = cgroups_path
    if mounts or tmpfs or read_only:
        from .services import apply_mounts
        if isinstance(mounts, (str, bytes)):
            raise TypeError("mounts must be a list of -v strings or mount dicts")
        requests: list[Any] = [m if isinstance(m, str) else dict(m) for m in mounts or []]
        requests += [{"Tmpfs": f"{dest}:{data}" if data else dest}
                     for dest, data in (tmpfs or {}).items()]
        spec = apply_mounts(spec, requests, read_only)
    if hostname is not None:
        spec["hostname"] = hostname
    if publish_all:
        if image is None:
            raise errors.InvalidParameter("publish_all needs the image (its ExposedPorts)")
        ports = [*ports, *_networks.exposed_ports(config, ports)]
    if network is not None or ports or network_aliases or ip is not None or dns is not None \
            or dns_search is not None or extra_hosts is not None:
        _networks.set_network(spec, network or _networks.BRIDGE, ports=ports,
                              aliases=network_aliases, ip=ip, hostname=hostname, dns=dns,
                              dns_search=dns_search, extra_hosts=extra_hosts)
    return spec


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Moby's ReplaceOrAppendEnvValues (container/env.go), to the letter:
    `K=V` replaces base's entry for K in place, else is appended (after the
    first, a repeated K is appended again, as Moby does); a bare `K` unsets
    base's K. What dockerd does with the container's and an exec's env."""
    merged = list(base)
    index = {e.partition("=")[0]: i for i, e in enumerate(merged)}
    for entry in overrides:
        key, sep, _ = entry.partition("=")
        if not sep:
            if entry in index:
                merged[index[entry]] = ""  # Moby's mark for "remove"
            continue
        if key in index:
            merged[index[key]] = entry
        else:
            merged.append(entry)
    return [e for e in merged if e]


def _docker_run_env(user_env: Sequence[str], image_env: Sequence[str]) -> list[str]:
    """Moby's merge(): the caller's env, then each image entry whose name the
    caller did not set; the image's alone when the caller gave none."""
    if not user_env:
        return list(image_env)
    names = {e.split("=", 1)[0] for e in user_env}
    return [*user_env, *(e for e in image_env if e.split("=", 1)[0] not in names)]


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return []


def resolve_user(rootfs: str | os.PathLike[str], spec: str) -> dict[str, Any]:
    """The OCI user for "user[:group]" ("" is root), names or numbers, as
    moby/sys/user's GetExecUser resolves it from the rootfs' /etc/passwd and
    /etc/group and Moby's getUser lists it: additionalGids is the gid followed
    by the user's supplementary groups (none when a group is given).
    `errors.InvalidParameter` names a user or group that is not there."""
    rootfs = os.fspath(rootfs)
    name, _, group = spec.partition(":")
    passwd = [e for e in _read_db(os.path.join(rootfs, "etc/passwd")) if len(e) >= 4]
    groups = [e for e in _read_db(os.path.join(rootfs, "etc/group")) if len(e) >= 3]
    if name.isdigit():
        entry = next((e for e in passwd if e[2].isdigit() and int(e[2]) == int(name)), None)
    else:
        entry = next((e for e in passwd if e[2] == "0") if not name else
                     (e for e in passwd if e[0] == name), None)
    if entry is not None:
        uid, gid, login = int(entry[2]), int(entry[3]), entry[0]
    elif name.isdigit():
        uid, gid, login = int(name), 0, ""
    elif not name:
        uid, gid, login = 0, 0, ""
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
        extra = [int(g[2]) for g in groups
                 if len(g) > 3 and login in g[3].split(",") and g[2].isdigit()]
    return {"uid": uid, "gid": gid, "additionalGids": [gid, *extra]}


def process_spec(spec: dict[str, Any], args: Sequence[str], *, terminal: bool = False) -> dict[str, Any]:
    """An exec process spec derived from a container spec (as `docker exec`)."""
    process = copy.deepcopy(spec["process"])
    process["args"] = list(args)
    process["terminal"] = terminal
    return dict(process)
