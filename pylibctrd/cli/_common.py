"""What every command shares: the error that carries an exit code, the
containerd a command talks to, the `add_command` a topic module registers
its commands with, and output as a table or JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from datetime import datetime
from typing import Any, Callable, Iterator, Protocol, Sequence, TypeVar

import pylibctrd
from pylibctrd import errors
from pylibctrd.daemon import default_root_dir, default_state_dir

# docker's exit codes (docker/cli's runStartContainerErr, Moby's daemon/errors.go).
EXIT_ERROR = 1        # a command other than run/exec failed
EXIT_CLI = 125        # run/exec: the CLI or the daemon failed; any command: bad usage
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127

ADDRESS_ENV = "PYLIBCTRD_ADDRESS"
LABEL_PREFIX = "pylibctrd."


class CLIError(Exception):
    """Printed as one line (`pylibctrd: Error: ...`); the process exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


class AddCommand(Protocol):
    """How a topic module's `register(add_command)` adds a command of the
    name table (`pylibctrd.cli.commands.COMMANDS`, which gives its one-line
    help and aliases): `func` runs it; `example` is one line or several;
    `description` defaults to the help line. Returns the command's parser,
    for its arguments."""

    def __call__(self, name: str, func: Handler, *, example: str | Sequence[str],
                 description: str | None = None,
                 usage: str | None = None) -> argparse.ArgumentParser: ...


def message(exc: BaseException, id: str | None = None) -> str:
    """Moby's message, naming the container where Moby's does not."""
    text = str(exc) or type(exc).__name__
    if id is not None and isinstance(exc, errors.NotFound) and id not in text:
        text = f"{text}: {id}"
    return text


def each(opts: argparse.Namespace, names: Sequence[str],
         action: Callable[[pylibctrd.Client, str], None],
         error_text: Callable[[str, errors.Error], str] = lambda name, e: f"{name}: {message(e, name)}",
         ) -> int:
    """docker's multi-name commands (rm, kill, rmi ...): a failure is one line
    on stderr and the other names are still done; 1 if any failed."""
    failed = False
    with session(opts) as client:
        for name in names:
            try:
                action(client, name)
            except CLIError as e:
                failed = True
                print(f"pylibctrd: Error: {e}", file=sys.stderr, flush=True)
            except errors.Error as e:
                failed = True
                print(f"pylibctrd: Error: {error_text(name, e)}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def one_call(opts: argparse.Namespace, call: Callable[[pylibctrd.Client], object]) -> int:
    """A command that is one call on the client: its error is one stderr
    line and exit 1."""
    with session(opts) as client:
        try:
            call(client)
        except errors.Error as e:
            raise CLIError(message(e)) from e
    return 0


def default_socket() -> str:
    return os.path.join(default_state_dir(), "containerd.sock")


def answers(address: str) -> bool:
    """Whether something accepts connections on the unix socket `address`."""
    path = address.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def no_daemon_error(address: str, code: int) -> CLIError:
    return CLIError(f"cannot connect to containerd at {address}: is `pylibctrd daemon` running?"
                    f" (or pass --address / ${ADDRESS_ENV})", code)


def registry_options(opts: argparse.Namespace) -> dict[str, list[str]] | None:
    """dockerd's --insecure-registry and --registry-mirror flags as the
    daemon.json keys Client.connect takes (None: Moby's defaults)."""
    options = {"insecure-registries": getattr(opts, "insecure_registry", None) or [],
               "registry-mirrors": getattr(opts, "registry_mirror", None) or []}
    return {k: v for k, v in options.items() if v} or None


@contextlib.contextmanager
def session(opts: argparse.Namespace, *, may_start: bool = False,
            code: int = EXIT_ERROR) -> Iterator[pylibctrd.Client]:
    """A client on the containerd the options name: --address, else
    $PYLIBCTRD_ADDRESS, else the embedded daemon's socket if one answers.
    With `may_start` and none answering, the embedded containerd is started
    for this command only, and stopped (with its supervisor) when it ends."""
    address = opts.address or os.environ.get(ADDRESS_ENV) or None
    daemon: pylibctrd.Daemon | None = None
    if address is None:
        address = default_socket()
        if not answers(address):
            if not may_start:
                raise no_daemon_error(address, code)
            print(f"pylibctrd: no containerd at {address}: starting one for this command"
                  " (`pylibctrd daemon` keeps one running)", file=sys.stderr, flush=True)
            try:
                daemon = pylibctrd.Daemon.start(default_root_dir(), default_state_dir())
            except errors.Error as e:
                raise CLIError(f"starting containerd: {message(e)}", code) from e
            address = daemon.address
            opts.owns_daemon = True
    elif not answers(address):
        raise no_daemon_error(address, code)
    try:
        try:
            client = pylibctrd.Client.connect(
                address, namespace=opts.namespace,
                state_dir=opts.state_dir or default_state_dir(), timeout=opts.timeout,
                registry=registry_options(opts))
        except errors.Error as e:
            raise CLIError(f"cannot connect to containerd at {address}: {message(e)}", code) from e
        with client:
            yield client
    finally:
        if daemon is not None:
            daemon.stop()


def load(client: pylibctrd.Client, id: str) -> pylibctrd.Container:
    try:
        return client.load_container(id)
    except errors.NotFound as e:
        raise CLIError(message(e, id)) from e


def task_of(ctr: pylibctrd.Container) -> pylibctrd.Task | None:
    try:
        return ctr.task()
    except errors.NotFound:
        return None


def running_task(ctr: pylibctrd.Container) -> pylibctrd.Task:
    task = task_of(ctr)
    if task is None:
        raise CLIError(f"container {ctr.id} is not running")
    return task


# --- output ------------------------------------------------------------------

def add_ls_rm_inspect(verbs: argparse._SubParsersAction[Any], what: str, *, ls: Handler,
                      rm: Handler, inspect: Handler, rm_help: str) -> None:
    """The `ls`, `rm` and `inspect` verbs of an object command (volume, network)."""
    c = verbs.add_parser("ls", aliases=["list"], help=f"list {what}")
    c.add_argument("-q", "--quiet", action="store_true", help="only names")
    add_format(c)
    c.set_defaults(func=ls)
    c = verbs.add_parser("rm", aliases=["remove"], help=rm_help)
    c.add_argument("names", nargs="+", metavar="NAME")
    c.set_defaults(func=rm)
    c = verbs.add_parser("inspect", help=f"details of {what}, as JSON")
    c.add_argument("names", nargs="+", metavar="NAME")
    c.set_defaults(func=inspect)


def emit_listing(opts: argparse.Namespace, items: Sequence[T], *, name: Callable[[T], str],
                 record: Callable[[T], dict[str, Any]], headers: Sequence[str],
                 row: Callable[[T], Sequence[object]]) -> None:
    """An `ls`: names with -q, a JSON line each with --format json, else a table."""
    if opts.quiet:
        for item in items:
            print(name(item))
    elif opts.format == "json":
        for item in items:
            emit_json(record(item))
    else:
        emit_table(headers, [row(item) for item in items])


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="json: one JSON object per line, for scripts")
    parser.add_argument("--json", dest="format", action="store_const", const="json",
                        help="same as --format json")


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """docker's tables: left aligned, three spaces between columns."""
    cells = [list(headers)] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    sys.stdout.flush()
