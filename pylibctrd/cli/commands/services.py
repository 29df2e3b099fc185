"""Volumes, logs and exits of detached containers: `volume
create|ls|rm|inspect`, `logs`, `wait`. Only the public API: the rules are the
library's (Moby's local volume driver and log drivers, pylibctrd.monitor)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

import pylibctrd
from pylibctrd import errors, monitor, services

from .._common import (
    EXIT_CLI, EXIT_ERROR, AddCommand, CLIError, add_ls_rm_inspect, each, emit_listing, iso,
    message, session,
)


# volume


def register(add_command: AddCommand) -> None:
    p = add_command("volume", _volume_usage,
                    description="Named volumes under <state-dir>-images/volumes, made with"
                                " Moby's local volume driver.",
                    example=["pylibctrd volume create cache",
                             "pylibctrd run -v cache:/cache IMAGE sh -c 'ls /cache'",
                             "pylibctrd volume rm cache"])
    vsub = p.add_subparsers(dest="volume_command", metavar="COMMAND", parser_class=type(p))
    vsub.required = True
    c = vsub.add_parser("create", help="create a volume")
    c.add_argument("--label", action="append", default=[], metavar="K=V")
    c.add_argument("name", nargs="?", help="default: a random (anonymous) name")
    c.set_defaults(func=cmd_volume_create)
    add_ls_rm_inspect(vsub, "volumes", ls=cmd_volume_ls, rm=cmd_volume_rm,
                      inspect=cmd_volume_inspect, rm_help="remove volumes (not while in use)")

    lp = add_command("logs", cmd_logs,
                     description="The output of a container run with a log (run without"
                                 " --rm, or with -d), read back with Moby's log driver.",
                     example="pylibctrd logs --tail 20 -t web")
    lp.add_argument("-f", "--follow", action="store_true",
                    help="follow the output until the container exits")
    lp.add_argument("-n", "--tail", default="all", metavar="N",
                    help="only the last N lines (default all)")
    lp.add_argument("--since", metavar="T", help="from this time: RFC 3339, Unix seconds or a"
                                                 " duration back from now (10m, 1h30m)")
    lp.add_argument("--until", metavar="T", help="up to this time (same forms)")
    lp.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    lp.add_argument("id", metavar="CONTAINER")

    wp = add_command("wait", cmd_wait,
                     description="Block until each container's monitor recorded its exit,"
                                 " then print the exit code (docker wait).",
                     example="pylibctrd wait web")
    wp.add_argument("ids", nargs="+", metavar="CONTAINER")


def _volume_usage(opts: argparse.Namespace) -> int:  # the subcommand is required
    raise CLIError("volume: a subcommand is needed (create, ls, rm, inspect)", EXIT_CLI)


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
    emit_listing(opts, vols, name=lambda v: v.name, record=_record,
                 headers=["DRIVER", "VOLUME NAME"], row=lambda v: [v.driver, v.name])
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
