"""Volumes, mounts and logs on the command line (issue 20): `volume
create|ls|rm|inspect`, `logs`, and run's `-v/--mount/--tmpfs/--read-only/
--log-driver/--log-opt`. Only the public API: the parsing and the rules are
the library's (Moby's volume/mounts parser, log drivers)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

import pylibctrd
from pylibctrd import errors, monitor, services, stdio

from ._common import (
    EXIT_CLI, EXIT_ERROR, CLIError, add_format, each, emit_json, emit_table, iso, message, session,
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
                  log_driver=opts.log_driver, log_opts=opts.log_options, timeout=opts.timeout)


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
        ago = time.time() - datetime.fromisoformat(row["finished"].replace("Z", "+00:00")).timestamp()
        return f"Exited ({row['exit_code']}) {_ago(ago)}"
    if row.get("monitor") == "gone":
        return f"{row['status']} (monitor gone)"
    return str(row["status"])


def _ago(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    n = max(1, int(seconds))
    return "Less than a second ago" if seconds < 1 else f"{n} second{'s' if n > 1 else ''} ago"


# volume


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("volume", help="manage volumes (Moby's local driver)",
                       description="Named volumes under <state-dir>-images/volumes, made with"
                                   " Moby's local volume driver.",
                       epilog="examples:\n  pylibctrd volume create cache\n"
                              "  pylibctrd run -v cache:/cache IMAGE sh -c 'ls /cache'\n"
                              "  pylibctrd volume rm cache",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    vsub = p.add_subparsers(dest="volume_command", metavar="COMMAND", parser_class=type(p))
    vsub.required = True
    c = vsub.add_parser("create", help="create a volume")
    c.add_argument("--label", action="append", default=[], metavar="K=V")
    c.add_argument("name", nargs="?", help="default: a random (anonymous) name")
    c.set_defaults(func=cmd_volume_create)
    ls = vsub.add_parser("ls", aliases=["list"], help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="names only")
    add_format(ls)
    ls.set_defaults(func=cmd_volume_ls)
    rm = vsub.add_parser("rm", aliases=["remove"], help="remove volumes (not while in use)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=cmd_volume_rm)
    inspect = vsub.add_parser("inspect", help="details of volumes, as JSON")
    inspect.add_argument("names", nargs="+", metavar="NAME")
    inspect.set_defaults(func=cmd_volume_inspect)

    lp = sub.add_parser("logs", help="fetch a container's logs",
                        description="The output of a container run with a log (run without"
                                    " -d), read back with Moby's log driver.",
                        epilog="example:\n  pylibctrd logs --tail 20 -t web",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_argument("-f", "--follow", action="store_true",
                    help="follow the output until the container exits")
    lp.add_argument("-n", "--tail", default="all", metavar="N",
                    help="only the last N lines (default all)")
    lp.add_argument("--since", metavar="T", help="from this time: RFC 3339, Unix seconds or a"
                                                 " duration back from now (10m, 1h30m)")
    lp.add_argument("--until", metavar="T", help="up to this time (same forms)")
    lp.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    lp.add_argument("id", metavar="CONTAINER")
    lp.set_defaults(func=cmd_logs)

    wp = sub.add_parser("wait", help="wait for containers run with -d to exit; print their codes",
                        description="Block until each container's monitor recorded its exit,"
                                    " then print the exit code (docker wait).",
                        epilog="example:\n  pylibctrd wait web",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    wp.add_argument("ids", nargs="+", metavar="CONTAINER")
    wp.set_defaults(func=cmd_wait)


def _record(v: services.Volume) -> dict[str, Any]:
    return {"CreatedAt": iso(v.created_at), "Driver": v.driver, "Labels": v.labels,
            "Mountpoint": v.mountpoint, "Name": v.name, "Options": None, "Scope": "local"}


def cmd_volume_create(opts: argparse.Namespace) -> int:
    labels = {}
    for item in opts.label:
        key, _, value = item.partition("=")
        labels[key] = value
    with session(opts) as client:
        try:
            vol = client.create_volume(opts.name, labels=labels)
        except errors.Error as e:
            raise CLIError(message(e), EXIT_ERROR) from e
    print(vol.name, flush=True)
    return 0


def cmd_volume_ls(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        vols = client.volumes()
    if opts.quiet:
        for v in vols:
            print(v.name)
    elif opts.format == "json":
        for v in vols:
            emit_json(_record(v))
    else:
        emit_table(["DRIVER", "VOLUME NAME"], [[v.driver, v.name] for v in vols])
    return 0


def cmd_volume_rm(opts: argparse.Namespace) -> int:
    def remove(client: pylibctrd.Client, name: str) -> None:
        client.remove_volume(name)
        print(name, flush=True)

    return each(opts, opts.names, remove, lambda name, e: message(e))


def cmd_volume_inspect(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        vols = {v.name: v for v in client.volumes()}
    found, failed = [], False
    for name in opts.names:
        if name in vols:
            found.append(_record(vols[name]))
        else:
            failed = True
            print(f"pylibctrd: Error: get {name}: no such volume", file=sys.stderr)
    print(json.dumps(found, indent=4))
    return 1 if failed else 0


def cmd_wait(opts: argparse.Namespace) -> int:
    failed = False
    with session(opts) as client:
        for id in opts.ids:
            while True:
                state = monitor.read_state(client.state_dir, id)
                if state is not None and state.status == "exited":
                    print(state.exit_code, flush=True)
                    break
                if state is None or not state.alive:
                    failed = True
                    why = ("was not run with -d (no monitor recorded its exit)" if state is None
                           else "has no monitor any more (it was killed): its exit is unknown")
                    print(f"pylibctrd: Error: {id} {why}", file=sys.stderr, flush=True)
                    break
                time.sleep(0.1)
    return 1 if failed else 0


# logs

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_time(text: str, what: str) -> float:
    """docker's GetTimestamp: a Go duration back from now, Unix seconds, or RFC 3339."""
    if re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+", text):
        return time.time() - sum(float(n) * _SECONDS[u] for n, u in _DURATION.findall(text))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(f"invalid value for {what}: {text!r} (RFC 3339, Unix seconds or"
                       " a duration like 10m)", EXIT_ERROR) from None
    if when.tzinfo is None:
        when = when.astimezone()  # docker: local time without a zone
    return when.astimezone(timezone.utc).timestamp()


def cmd_logs(opts: argparse.Namespace) -> int:
    if opts.tail == "all":
        tail = None
    else:
        try:
            tail = int(opts.tail)
        except ValueError:
            raise CLIError(f"invalid value for --tail: {opts.tail!r}", EXIT_ERROR) from None
    since = parse_time(opts.since, "--since") if opts.since else None
    until = parse_time(opts.until, "--until") if opts.until else None
    with session(opts) as client:
        try:
            reader = client.logs(opts.id, follow=opts.follow, since=since, until=until,
                                 tail=tail, timestamps=opts.timestamps)
            with reader:
                for line in reader:
                    out = sys.stdout if line.stream == "stdout" else sys.stderr
                    out.buffer.write(line.data)
                    out.buffer.flush()
        except errors.Error as e:
            raise CLIError(message(e, opts.id), EXIT_ERROR) from e
    return 0
