"""What run, ps and inspect share with the services commands
(commands/services.py): run's `-v/--mount/--tmpfs/--read-only/--log-driver/
--log-opt`, a detached container's monitor, and what it recorded. Only the
public API: the parsing and the rules are the library's (Moby's
volume/mounts parser, log drivers)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

import pylibctrd
from pylibctrd import monitor, services, stdio

from ._common import (
    EXIT_CLI, CLIError, iso,
)


# run's flags


def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:OPTS]",
                   help="bind a host path (absolute SRC) or mount a named volume (SRC a name,"
                        " created on first use and filled from the image)")
    p.add_argument("--mount", action="append", default=[], metavar="type=...,source=...,target=...",
                   help="docker's --mount: type=bind|volume|tmpfs, source, target, readonly,"
                        " bind-propagation, volume-nocopy, tmpfs-size, tmpfs-mode")
    p.add_argument("--tmpfs", action="append", default=[], metavar="DST[:OPTS]",
                   help="mount a tmpfs (e.g. /run:size=64m)")
    p.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    p.add_argument("--log-driver", default="json-file", choices=("json-file", "local"),
                   help="where the output goes for `logs` (default json-file)")
    p.add_argument("--log-opt", action="append", default=[], metavar="K=V",
                   help="log driver option, e.g. max-size=10m, max-file=3")


_MOUNT_BOOL = {"": True, "1": True, "true": True, "0": False, "false": False}


def parse_mount(text: str) -> dict[str, Any]:
    """docker/cli's --mount CSV as an API mount object (Moby checks it)."""
    m: dict[str, Any] = {"Type": "volume"}
    for field in (f.strip() for f in text.split(",")):
        if not field:
            continue
        key, sep, value = field.partition("=")
        key = key.lower()
        if key in ("readonly", "ro"):
            if value.lower() not in _MOUNT_BOOL:
                raise CLIError(f"invalid value for {key}: {value}", EXIT_CLI)
            m["ReadOnly"] = _MOUNT_BOOL[value.lower()]
            continue
        if not sep:
            raise CLIError(f"invalid field '{field}' must be a key=value pair", EXIT_CLI)
        if key == "type":
            m["Type"] = value
        elif key in ("source", "src"):
            m["Source"] = value
        elif key in ("target", "dst", "destination"):
            m["Target"] = value
        elif key == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "bind-nonrecursive":
            m.setdefault("BindOptions", {})["NonRecursive"] = _MOUNT_BOOL.get(value.lower(), False)
        elif key == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = _MOUNT_BOOL.get(value.lower(), True)
        elif key == "volume-subpath":
            m.setdefault("VolumeOptions", {})["Subpath"] = value
        elif key == "volume-driver":
            m.setdefault("VolumeOptions", {})["DriverConfig"] = {"Name": value}
        elif key == "tmpfs-size":
            from ._spec import parse_size
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_size(value)
        elif key == "tmpfs-mode":
            try:
                m.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
            except ValueError:
                raise CLIError(f"invalid value for {key}: {value}", EXIT_CLI) from None
        else:
            raise CLIError(f"unexpected key '{key}' in '{field}'", EXIT_CLI)
    return m


def check_run_flags(opts: argparse.Namespace) -> None:
    """Parse what the CLI parses (--mount's CSV, --log-opt) before anything is made."""
    opts.mount_requests = [*opts.volume, *(parse_mount(m) for m in opts.mount)]
    opts.mount_requests += [{"Tmpfs": t} for t in opts.tmpfs]
    opts.log_options = log_options(opts)


def apply_run_flags(spec: dict[str, Any], opts: argparse.Namespace) -> dict[str, Any]:
    """The spec with -v/--mount/--tmpfs/--read-only laid in by Moby's parser
    (its errors.InvalidParameter, which run reports with exit 125)."""
    if not opts.mount_requests and not opts.read_only:
        return spec
    return services.apply_mounts(spec, opts.mount_requests, opts.read_only)


def log_options(opts: argparse.Namespace) -> dict[str, str]:
    out = {}
    for item in opts.log_opt:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"invalid log opt {item!r}: expected K=V", EXIT_CLI)
        out[key] = value
    return out


def logged(attach: Any, opts: argparse.Namespace) -> stdio.Log:
    """attach_stdio for an attached run: the output is logged (for `logs`)
    and also goes to `attach`."""
    log = stdio.Log(opts.log_driver, tee=attach)
    log.opts = opts.log_options  # docker's names (max-size), taken as they are
    return log


def start_detached(client: pylibctrd.Client, opts: argparse.Namespace, id: str) -> None:
    """run -d: the container's monitor (pylibctrd.monitor) creates and starts
    the task and holds its output (logged) after this process exits."""
    monitor.spawn(client.address, client.namespace, client.state_dir, id,
                  log_driver=opts.log_driver, log_opts=opts.log_options, timeout=opts.timeout,
                  health=getattr(opts, "healthcheck", None))


def monitor_fields(client: pylibctrd.Client, id: str) -> dict[str, Any]:
    """What the container's monitor recorded, for ps and inspect."""
    state = monitor.read_state(client.state_dir, id)
    if state is None:
        return {}
    if state.status == "exited":
        return {"exit_code": state.exit_code, "finished": iso(state.exited_at)}
    return {"monitor": "running" if state.alive else "gone"}


def status_text(row: dict[str, Any]) -> str:
    """docker ps' STATUS: `Exited (3) 5 seconds ago` where the monitor recorded it."""
    if row.get("exit_code") is not None and row.get("finished"):
        # Moby's container.State.String() (go-units' HumanDuration).
        finished = datetime.fromisoformat(row["finished"].replace("Z", "+00:00"))
        return services.state_text(running=False, started_at=finished, finished_at=finished,
                                   exit_code=row["exit_code"])
    if row.get("monitor") == "gone":
        return f"{row['status']} (monitor gone)"
    return str(row["status"])

