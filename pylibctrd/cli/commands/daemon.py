"""The daemon, and the versions of it and of this build: daemon, version.

`daemon` is Moby's supervised containerd in the foreground."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading

import pylibctrd
from pylibctrd import errors
from pylibctrd.daemon import default_root_dir, default_state_dir

from .._common import (
    EXIT_ERROR, AddCommand, CLIError, add_format, answers, emit_json, message, session,
)


def register(add_command: AddCommand) -> None:
    p = add_command(
        "daemon", cmd_daemon,
        example=("pylibctrd daemon &          # then, from any shell:",
                 "pylibctrd run -d --rootfs /srv/rootfs sleep 1d; pylibctrd ps"),
        description="Start containerd through Moby's libcontainerd/supervisor (restarted if it"
                    " dies), print its address, and stop it on SIGINT/SIGTERM. The other"
                    " commands find it at <state>/containerd.sock when these are the defaults."
                    " Containers outlive it (their shims keep running).")
    p.add_argument("--root", metavar="DIR", default=None,
                   help=f"containerd's persistent data (default {default_root_dir()})")
    p.add_argument("--state", metavar="DIR", default=None,
                   help=f"socket, pid file and runtime state (default {default_state_dir()})")
    p.add_argument("--containerd-binary", metavar="PATH", default=None,
                   help="the containerd to run, with the containerd-shim-runc-v2 beside it"
                        " (default: containerd on PATH, as dockerd)")

    p = add_command("version", cmd_version, example="pylibctrd version --json")
    add_format(p)


def cmd_version(opts: argparse.Namespace) -> int:
    built = dataclasses.asdict(pylibctrd.versions())
    with session(opts) as client:
        server = client.version()
    record = {"client": built,
              "server": {"containerd": server.version, "revision": server.revision,
                         "address": client.address, "namespace": client.namespace}}
    if opts.format == "json":
        emit_json(record)
        return 0
    print("Client:")
    for name, label in (("pylibctrd", "pylibctrd"), ("moby", "Moby (libcontainerd)"),
                        ("containerd", "containerd client"), ("go", "Go"),
                        ("python", "Python"), ("cffi", "cffi")):
        print(f"  {label + ':':<22}{built[name]}")
    print("Server:")
    for label, value in (("containerd", f"{server.version} ({server.revision})"),
                         ("address", client.address), ("namespace", client.namespace)):
        print(f"  {label + ':':<22}{value}")
    return 0


def cmd_daemon(opts: argparse.Namespace) -> int:
    root = os.path.abspath(opts.root or default_root_dir())
    state = os.path.abspath(opts.state or default_state_dir())
    socket = os.path.join(state, "containerd.sock")
    if answers(socket):
        # The supervisor would adopt it, and stop it when we stop: not ours to stop.
        raise CLIError(f"a containerd already serves at {socket}")
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()

    # Handlers first: a signal during the start still stops what was started.
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)
    try:
        binary = None if opts.containerd_binary is None else os.path.abspath(opts.containerd_binary)
        daemon = pylibctrd.Daemon.start(root, state, log_level=_go_level(opts.log_level),
                                        containerd=binary)
    except errors.Error as e:
        raise CLIError(f"starting containerd: {message(e)}", EXIT_ERROR) from e
    try:
        print(daemon.address, flush=True)
        print(f"pylibctrd: containerd serves at {daemon.address} (root {root}, state {state});"
              " SIGINT or SIGTERM stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):  # short waits: signal handlers run in this thread
            pass
        name = signal.Signals(received[0]).name if received else "signal"
        print(f"pylibctrd: {name}: stopping containerd", file=sys.stderr, flush=True)
    finally:
        daemon.stop()
    return 0


def _go_level(level: str | None) -> str | None:
    return {"warning": "warn", "critical": "fatal"}.get(level or "", level)
