"""Volumes, logs and exits of detached containers: `volume
create|ls|rm|inspect`, `logs`, `wait`. Only the public API: the rules are the
library's (Moby's local volume driver and log drivers, pylibctrd.monitor)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from types import FrameType
from typing import Any, Iterable

import pylibctrd
from pylibctrd import errors, monitor, services

from .._attach import raw_terminal
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

    ap = add_command("attach", cmd_attach,
                     description="Attach to a container run with -d: its output (as it comes,"
                                 " from now), your input if it was run with -i, your terminal's"
                                 " size with -t; exits with its exit code. ^P^Q (in a terminal)"
                                 " detaches; without -t, signals go to the container"
                                 " (docker's --sig-proxy).",
                     example="pylibctrd attach web")
    ap.add_argument("--no-stdin", action="store_true", help="do not send input")
    ap.add_argument("--sig-proxy", default="true", choices=("true", "false"),
                    help="pass SIGINT/SIGTERM on to the container (default true; not with -t)")
    ap.add_argument("id", metavar="CONTAINER")

    rp = add_command("restart", cmd_restart,
                     description="Stop (SIGTERM, then SIGKILL after -t seconds) and start again"
                                 " containers run with -d, through their monitor (a new one if"
                                 " it ended); their restart policy starts afresh.",
                     example="pylibctrd restart -t 2 web")
    rp.add_argument("-t", "--time", type=float, default=10.0, metavar="SECONDS",
                    help="seconds to wait for the stop before killing (default 10)")
    rp.add_argument("ids", nargs="+", metavar="CONTAINER")


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


def cmd_restart(opts: argparse.Namespace) -> int:
    def restart(client: pylibctrd.Client, id: str) -> None:
        monitor.restart(client, id, stop_timeout=opts.time, timeout=opts.timeout)
        print(id, flush=True)

    return each(opts, opts.ids, restart)


def cmd_attach(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        record = next((r for r in client.list_containers() if r.id == opts.id), None)
        if record is None:
            raise CLIError(f"no such container: {opts.id}")
        tty = bool(((record.spec or {}).get("process") or {}).get("terminal"))
        try:
            state = monitor.read_state(client.state_dir, opts.id)
            if state is not None and state.status == "running" and not state.alive:
                # Its monitor was killed: a new one takes over the running
                # task first (dockerd's restore), then this attaches to it.
                monitor.reattach(client, opts.id, timeout=opts.timeout)
                print(f"pylibctrd: the monitor of {opts.id} was gone: a new one took over",
                      file=sys.stderr, flush=True)
            attachment = monitor.attach(client, opts.id, stdin=not opts.no_stdin)
        except errors.Error as e:
            raise CLIError(message(e, opts.id)) from e
        with attachment:
            return _attached(client, opts, attachment, tty)


_DETACH = b"\x10\x11"  # docker's default detach keys, ctrl-p ctrl-q


def _attached(client: pylibctrd.Client, opts: argparse.Namespace,
              attachment: monitor.Attachment, tty: bool) -> int:
    """Copy the attach stream to fds 1 and 2 (and fd 0 to it) until the
    container exits (its code) or the user detaches (0)."""
    detached = threading.Event()
    raw = tty and not opts.no_stdin and os.isatty(0)

    def feed() -> None:
        last = b""
        try:
            while data := os.read(0, 65536):
                if raw and _DETACH in last[-1:] + data:
                    detached.set()
                    attachment.close()
                    return
                last = data
                attachment.send(data)
            attachment.close_stdin()
        except (OSError, errors.Error):
            pass

    def proxy(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(errors.Error):
            monitor.kill(client, opts.id, signum)

    def resize(signum: int = 0, frame: FrameType | None = None) -> None:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(0 if os.isatty(0) else 1)
            attachment.resize(size.columns, size.lines)

    previous: dict[int, Any] = {}
    if tty and (os.isatty(0) or os.isatty(1)):
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
        resize()
    elif opts.sig_proxy == "true":
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, proxy)
    code = 0
    try:
        with raw_terminal(0) if raw else contextlib.nullcontext():
            if not opts.no_stdin:
                threading.Thread(target=feed, daemon=True, name="attach-stdin").start()
            try:
                for kind, payload in attachment.frames():
                    if kind == monitor.EXIT:
                        code = int(json.loads(payload)["exit_code"])
                        break
                    fd = 1 if kind == monitor.OUT else 2
                    view = memoryview(payload)
                    while view:
                        view = view[os.write(fd, view):]
            except (OSError, ValueError):
                if not detached.is_set():
                    raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if detached.is_set():
        print("\r\nread escape sequence", file=sys.stderr, flush=True)
        return 0
    return code


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
            # Following: the monitor of a `run -d` container writes its log, so
            # it follows it for us; else only this process could.
            followed = monitor.follow_logs(client, opts.id, since=since, until=until,
                                           tail=tail, timestamps=opts.timestamps
                                           ) if opts.follow else None
            if followed is not None:
                with contextlib.closing(followed):
                    _write_log(followed)
            else:
                with client.logs(opts.id, follow=opts.follow, since=since, until=until,
                                 tail=tail, timestamps=opts.timestamps) as reader:
                    _write_log(reader)
        except errors.Error as e:
            raise CLIError(message(e, opts.id), EXIT_ERROR) from e
    return 0


def _write_log(lines: Iterable[services.LogLine]) -> None:
    for line in lines:
        out = sys.stdout if line.stream == "stdout" else sys.stderr
        out.buffer.write(line.data)
        out.buffer.flush()
