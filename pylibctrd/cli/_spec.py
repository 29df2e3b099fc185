"""From docker-style options to an OCI spec, as the docker CLI turns its
flags into a request: the rules themselves (env merge, user lookup, docker
run's image rules) are the library's (`pylibctrd.spec`); here are only the
flags' own parsing and the labels for what a spec cannot hold."""

from __future__ import annotations

import os
import re
import signal
from typing import Any, Mapping, Sequence

import pylibctrd
from pylibctrd import errors
from pylibctrd.spec import DEFAULT_PATH, merge_env, resolve_user

from ._common import EXIT_CLI, LABEL_PREFIX, CLIError, message

# What the spec cannot hold: the IMAGE ref `run` was given, and its digest
# then (the rootfs is released with the container; rmi asks who uses it).
# The previous CLI also wrote command, env, user, workdir and rootfs labels;
# all of those are read from the container's spec now (theirs included).
L_IMAGE = LABEL_PREFIX + "image"
L_IMAGE_DIGEST = LABEL_PREFIX + "image.digest"

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


def parse_env(items: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The docker CLI's ValidateEnv for each -e: K=V as given; a bare K takes
    K's value from this environment, and stays bare when it has none (which
    then unsets K: `pylibctrd.spec.merge_env`)."""
    environ = os.environ if environ is None else environ
    out = []
    for item in items:
        key, sep, _ = item.partition("=")
        if not key:
            raise CLIError(f"invalid environment variable: {item!r}", EXIT_CLI)
        out.append(item if sep or key not in environ else f"{key}={environ[key]}")
    return out


def _check_workdir(workdir: str | None) -> None:
    if workdir is not None and not os.path.isabs(workdir):
        raise CLIError(f"the working directory {workdir!r} is invalid: it needs to be an"
                       " absolute path", EXIT_CLI)


def run_spec(id: str, rootfs: str, args: Sequence[str] | None, *,
             image: pylibctrd.Image | None = None, env: Sequence[str], user: str | None,
             workdir: str | None, tty: bool, console: tuple[int, int] | None,
             cgroup_parent: str, memory: int | None = None, cpus: float | None = None,
             pids_limit: int | None = None) -> dict[str, Any]:
    """`pylibctrd.container_spec` with docker run's options: from an `image`,
    docker run's rules (Entrypoint + CMD or the image's Cmd, the image's Env,
    WorkingDir and User unless -e/-w/-u say otherwise); without, Moby's
    defaults (PATH, TERM with -t) merged with -e. The user, root too, is
    resolved in the rootfs' /etc files as dockerd does for every container.
    The library's errors (no such user, no command) exit 125."""
    _check_workdir(workdir)
    common: dict[str, Any] = dict(terminal=tty, cgroups_path=f"{cgroup_parent.rstrip('/')}/{id}")
    try:
        if image is None:
            spec = pylibctrd.container_spec(
                rootfs, args, env=merge_env([DEFAULT_PATH, *(["TERM=xterm"] if tty else [])],
                                            parse_env(env)),
                cwd=workdir or "/", **common)
            spec["process"]["user"] = resolve_user(rootfs, user or "")
        else:
            spec = pylibctrd.container_spec(rootfs, list(args) if args else None, image=image,
                                            env=parse_env(env), cwd=workdir, user=user, **common)
    except errors.Error as e:
        raise CLIError(message(e), EXIT_CLI) from e
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


def image_labels(ref: str, image: pylibctrd.Image) -> dict[str, str]:
    return {L_IMAGE: ref, L_IMAGE_DIGEST: image.digest}


def made_from_image(labels: Mapping[str, str]) -> bool:
    """Whether `run IMAGE` made the container (its rootfs is to be released)."""
    return L_IMAGE_DIGEST in labels


def exec_spec(container_spec: Mapping[str, Any] | None, bundle_dir: str, args: Sequence[str],
              *, env: Sequence[str], user: str | None, workdir: str | None, tty: bool,
              console: tuple[int, int] | None) -> dict[str, Any]:
    """docker exec's process, as Moby's ContainerExecStart makes it: the
    container's process from its spec (containerd's record; Moby's default
    spec for a container without one) with the command and the terminal in
    place; the env is Moby's defaults (PATH, TERM with -t), then the
    container's, then -e; -w and -u (resolved in the container's rootfs, a
    relative root path being the bundle dir's) replace the container's."""
    _check_workdir(workdir)
    spec = dict(container_spec) if container_spec else pylibctrd.default_spec()
    process = pylibctrd.process_spec(spec, args, terminal=tty)
    defaults = merge_env([DEFAULT_PATH, *(["TERM=xterm"] if tty else [])], process.get("env") or [])
    process["env"] = merge_env(defaults, parse_env(env))
    process["cwd"] = workdir or process.get("cwd") or "/"
    if user is not None:
        rootfs = os.path.join(bundle_dir, (spec.get("root") or {}).get("path") or "rootfs")
        try:
            process["user"] = resolve_user(rootfs, user)
        except errors.Error as e:
            raise CLIError(message(e), EXIT_CLI) from e
    process.pop("consoleSize", None)
    if console is not None:
        process["consoleSize"] = {"height": console[0], "width": console[1]}
    return process
