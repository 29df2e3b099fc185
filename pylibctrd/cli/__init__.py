"""`pylibctrd`: a docker-like command line over libcontainerd.

Built only on pylibctrd's public API, as the docker CLI is on its API
client, with argparse (the standard library: an embedding application gets
no extra dependency from it). The commands are named in one table,
`commands.COMMANDS`, and live in a module per topic (`commands/`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from ._common import ADDRESS_ENV, EXIT_CLI, CLIError
from .commands import add_commands

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

EPILOG = f"""\
which containerd: --address, else ${ADDRESS_ENV}, else the embedded daemon's socket
(<state>/containerd.sock of `pylibctrd daemon`) if it answers; with none, `run`
(without -d) starts containerd for its own lifetime and the others fail.

exit codes: run/exec exit with the process's code; 125 when the CLI or containerd
fails, or the image is missing (and for bad usage), 126 when the command cannot be invoked, 127 when it is
not found. Other commands exit 1 on failure. `pylibctrd COMMAND --help` for more."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Bad usage: docker's exit code 125, one line, the usage on request."""
        self.print_usage(sys.stderr)
        raise CLIError(message, EXIT_CLI)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pylibctrd", description="A docker-like CLI over Moby's libcontainerd.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", metavar="SOCK", help=f"containerd's socket (or ${ADDRESS_ENV})")
    p.add_argument("--namespace", metavar="NS",
                   default=os.environ.get("PYLIBCTRD_NAMESPACE", "moby"),
                   help="containerd namespace (default: $PYLIBCTRD_NAMESPACE or moby, dockerd's)")
    p.add_argument("--state-dir", metavar="DIR",
                   help="where bundle dirs and FIFOs go (default: the embedded daemon's state dir)")
    p.add_argument("--log-level", choices=LOG_LEVELS,
                   help="show Moby's and containerd's log lines from this level up; debug"
                        " also shows tracebacks (default: none, daemon: info)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="bound on each call to containerd (default 30)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST|CIDR",
                   help="dockerd's flag (daemon.json insecure-registries): plain HTTP, or TLS"
                        " without certificate checks, for this registry")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL",
                   help="dockerd's flag (daemon.json registry-mirrors): a Docker Hub mirror")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    opts: argparse.Namespace | None = None
    try:
        opts = parser().parse_args(argv)
        level = opts.log_level or ("info" if opts.command == "daemon" else None)
        # Before the library loads: the Go side forwards the levels enabled then.
        logging.basicConfig(
            level=getattr(logging, (level or "critical").upper()), stream=sys.stderr,
            format="pylibctrd: %(levelname)s: %(message)s")
        if level is None:
            logging.getLogger("pylibctrd").setLevel(logging.CRITICAL + 1)
        code: int = opts.func(opts)
        return code
    except CLIError as e:
        if opts is not None and opts.log_level == "debug":
            logging.exception("pylibctrd: the error's traceback")
        print(f"pylibctrd: Error: {e}", file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our stdout was closed (e.g. `| head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # anything else: one line unless debugging
        if opts is not None and opts.log_level == "debug":
            raise
        print(f"pylibctrd: Error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return EXIT_CLI if opts is None or opts.command in ("run", "exec") else 1
