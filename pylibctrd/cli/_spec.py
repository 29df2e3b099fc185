"""From docker-style options to an OCI spec and back (labels record what
`ps` shows and what `exec` needs: libcontainerd offers no way to read a
container's spec back)."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any, Sequence

import pylibctrd
from pylibctrd import errors

from ._common import EXIT_CLI, LABEL_PREFIX, CLIError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

L_COMMAND = LABEL_PREFIX + "command"   # JSON list of args
L_ROOTFS = LABEL_PREFIX + "rootfs"
L_IMAGE = LABEL_PREFIX + "image"         # the IMAGE ref `run` was given
L_IMAGE_DIGEST = LABEL_PREFIX + "image.digest"  # its digest then; the rootfs is released with it
L_ENV = LABEL_PREFIX + "env"           # JSON list of K=V
L_USER = LABEL_PREFIX + "user"         # uid:gid
L_WORKDIR = LABEL_PREFIX + "workdir"

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """docker's RAMInBytes: 64m, 1g, 512k, 1048576 (binary units)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", text.strip().lower())
    if m is None:
        raise CLIError(f"invalid size: {text!r} (e.g. 64m, 1g)", EXIT_CLI)
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_signal(text: str) -> int:
    """KILL, SIGKILL, kill or 9."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise CLIError(f"invalid signal: {text}", EXIT_CLI) from None


def merge_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """base then extra, a later K replacing an earlier one in place (docker's
    ReplaceOrAppendEnvValues); `-e K` alone takes K from this environment."""
    out: dict[str, str] = {}
    for item in (*base, *extra):
        key, sep, _ = item.partition("=")
        if not key:
            raise CLIError(f"invalid environment variable: {item!r}", EXIT_CLI)
        if not sep:
            if key not in os.environ:
                continue
            item = f"{key}={os.environ[key]}"
        out[key] = item
    return list(out.values())


def _lookup(file: Path, name: str) -> list[str] | None:
    try:
        lines = file.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            return fields
    return None


def parse_user(text: str, rootfs: str | None) -> tuple[int, int]:
    """UID[:GID], names looked up in the rootfs's /etc/passwd and /etc/group
    (as docker does in the container's files)."""
    user, _, group = text.partition(":")
    root = Path(rootfs) if rootfs else None
    if user.isdigit():
        uid, gid = int(user), 0
        if root is not None:
            for line in _read_lines(root / "etc/passwd"):
                f = line.split(":")
                if len(f) >= 4 and f[2] == user and f[3].isdigit():
                    gid = int(f[3])
                    break
    else:
        entry = _lookup(root / "etc/passwd", user) if root is not None else None
        if entry is None or len(entry) < 4:
            raise CLIError(f"unable to find user {user}: no matching entries in passwd file",
                           EXIT_CLI)
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = _lookup(root / "etc/group", group) if root is not None else None
            if g is None:
                raise CLIError(f"unable to find group {group}: no matching entries in group file",
                               EXIT_CLI)
            gid = int(g[2])
    return uid, gid


def _read_lines(file: Path) -> list[str]:
    try:
        return file.read_text().splitlines()
    except OSError:
        return []


def build_spec(id: str, rootfs: str, args: Sequence[str], *, env: Sequence[str],
               user: tuple[int, int], workdir: str, tty: bool,
               console: tuple[int, int] | None, cgroup_parent: str,
               memory: int | None = None, cpus: float | None = None,
               pids_limit: int | None = None) -> dict[str, Any]:
    """pylibctrd.container_spec (Moby's default spec) with docker run's options."""
    if not os.path.isabs(workdir):
        raise CLIError(f"the working directory {workdir!r} is invalid: it needs to be an"
                       " absolute path", EXIT_CLI)
    spec = pylibctrd.container_spec(rootfs, args, terminal=tty, env=env, cwd=workdir,
                                    cgroups_path=f"{cgroup_parent.rstrip('/')}/{id}")
    spec["process"]["user"] = {"uid": user[0], "gid": user[1]}
    return _finish(spec, id, console=console, memory=memory, cpus=cpus, pids_limit=pids_limit)


def image_spec(id: str, rootfs: str, image: pylibctrd.Image, args: Sequence[str] | None, *,
               env: Sequence[str], user: str | None, workdir: str | None, tty: bool,
               console: tuple[int, int] | None, cgroup_parent: str,
               memory: int | None = None, cpus: float | None = None,
               pids_limit: int | None = None) -> dict[str, Any]:
    """container_spec(image=...) on the prepared `rootfs`: docker run's rules
    (Entrypoint + CMD or the image's Cmd; the image's Env, WorkingDir and User
    unless -e/-w/-u say otherwise; names looked up in the image's files)."""
    if workdir is not None and not os.path.isabs(workdir):
        raise CLIError(f"the working directory {workdir!r} is invalid: it needs to be an"
                       " absolute path", EXIT_CLI)
    try:
        spec = pylibctrd.container_spec(
            rootfs, list(args) if args else None, image=image, terminal=tty, env=env,
            cwd=workdir, user=user, cgroups_path=f"{cgroup_parent.rstrip('/')}/{id}")
    except errors.Error as e:
        raise CLIError(str(e), EXIT_CLI) from e
    return _finish(spec, id, console=console, memory=memory, cpus=cpus, pids_limit=pids_limit)


def _finish(spec: dict[str, Any], id: str, *, console: tuple[int, int] | None,
            memory: int | None, cpus: float | None, pids_limit: int | None) -> dict[str, Any]:
    spec["hostname"] = id[:63]
    if console is not None:
        spec["process"]["consoleSize"] = {"height": console[0], "width": console[1]}
    resources = spec["linux"].setdefault("resources", {})
    if memory is not None:
        resources["memory"] = {"limit": memory}
    if cpus is not None:
        # docker's --cpus (NanoCPUs): a CFS quota over a 100ms period.
        resources["cpu"] = {"period": 100000, "quota": int(cpus * 100000)}
    if pids_limit is not None:
        resources["pids"] = {"limit": pids_limit}
    return spec


def labels_for(args: Sequence[str], env: Sequence[str], user: tuple[int, int], workdir: str,
               *, rootfs: str | None = None, image: str | None = None,
               image_digest: str | None = None) -> dict[str, str]:
    labels = {L_COMMAND: json.dumps(list(args)), L_ENV: json.dumps(list(env)),
              L_USER: f"{user[0]}:{user[1]}", L_WORKDIR: workdir}
    if rootfs is not None:
        labels[L_ROOTFS] = rootfs
    if image is not None:
        labels[L_IMAGE] = image
    if image_digest is not None:
        labels[L_IMAGE_DIGEST] = image_digest
    return labels


def labels_of_spec(spec: dict[str, Any], *, rootfs: str, image: str,
                   image_digest: str) -> dict[str, str]:
    """The labels of a container made from an image: what the spec ended up with."""
    process = spec["process"]
    user = process.get("user") or {}
    return labels_for(process["args"], process["env"], (user.get("uid", 0), user.get("gid", 0)),
                      process.get("cwd") or "/", rootfs=rootfs, image=image,
                      image_digest=image_digest)


def made_from_image(labels: dict[str, str]) -> bool:
    """Whether `run IMAGE` made the container (its rootfs is to be released)."""
    return L_IMAGE_DIGEST in labels


def exec_spec(labels: dict[str, str], args: Sequence[str], *, env: Sequence[str],
              user: str | None, workdir: str | None, tty: bool,
              console: tuple[int, int] | None) -> dict[str, Any]:
    """docker exec's process: the container's env, user and workdir (from its
    labels; Moby's defaults for a container made otherwise), with overrides."""
    base_env = json.loads(labels.get(L_ENV, "null")) or [DEFAULT_PATH]
    rootfs = labels.get(L_ROOTFS)
    uid_gid = (parse_user(user, rootfs) if user is not None
               else parse_user(labels.get(L_USER, "0:0"), None))
    cwd = workdir or labels.get(L_WORKDIR) or "/"
    full_env = merge_env(base_env, [*(["TERM=xterm"] if tty else []), *env])
    spec = build_spec("exec", rootfs or "/", ["true"], env=full_env, user=uid_gid, workdir=cwd,
                      tty=tty, console=console, cgroup_parent="/")
    process: dict[str, Any] = pylibctrd.process_spec(spec, args, terminal=tty)
    return process
