"""The registries: `pull`, `push`, `tag`, `save`, `login` and `logout`,
through Moby's image and registry services (Client.pull, push, tag, save,
login; pylibctrd.logout), with docker's progress display."""

from __future__ import annotations

import argparse
import getpass
import sys

import pylibctrd
from pylibctrd import Auth, errors

from .._common import AddCommand, CLIError, message, one_call, session
from .._progress import Display, pull


def register(add_command: AddCommand) -> None:
    p = add_command(
        "pull", cmd_pull,
        example=("pylibctrd pull busybox",
                 "pylibctrd pull --platform linux/arm64 127.0.0.1:5000/team/app:1",
                 "pylibctrd pull -q registry.example.com/app:1   # prints only the reference"),
        description="Pull REF (\":latest\" if no tag or digest) with Moby's PullImage and"
                    " unpack it. Credentials come from the docker config ($DOCKER_CONFIG,"
                    " ~/.docker/config.json: `pylibctrd login` or `docker login`). On a"
                    " terminal, one redrawn line per layer; in a pipe, one line per step.")
    p.add_argument("ref", metavar="REF")
    p.add_argument("--platform", metavar="OS/ARCH",
                   help="e.g. linux/arm64 (default: this machine's)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress: only the reference")

    p = add_command(
        "push", cmd_push,
        example=("pylibctrd tag busybox 127.0.0.1:5000/busybox:1",
                 "pylibctrd push 127.0.0.1:5000/busybox:1"),
        description="Push REF with Moby's PushImage; prints the pushed digest as docker does.")
    p.add_argument("ref", metavar="REF")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress: only the reference")

    p = add_command("tag", cmd_tag, example="pylibctrd tag busybox 127.0.0.1:5000/busybox:1",
                    description="Name TARGET the image SOURCE names (Moby's TagImage).")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("target", metavar="TARGET")

    p = add_command(
        "save", cmd_save,
        example=("pylibctrd save -o busybox.tar busybox",
                 "pylibctrd save app:1 app:2 | gzip > apps.tar.gz"),
        description="Moby's ExportImage: the images as one docker-save/OCI tar, to FILE"
                    " (written whole or not at all) or to stdout.")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("refs", nargs="+", metavar="REF")

    p = add_command(
        "login", cmd_login,
        example=("pylibctrd login -u alice registry.example.com",
                 'echo "$TOKEN" | pylibctrd login -u alice --password-stdin registry.example.com'),
        description="Check the credentials with the registry (Moby's registry service) and"
                    " store them in the docker config ($DOCKER_CONFIG or ~/.docker/config.json,"
                    " or its credential helper) with the docker CLI's own config package, so"
                    " that docker and pylibctrd share them.")
    p.add_argument("server", nargs="?", metavar="SERVER", help="default: Docker Hub")
    p.add_argument("-u", "--username", metavar="USER")
    p.add_argument("-p", "--password", metavar="PASSWORD", help="(prefer --password-stdin)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    p = add_command("logout", cmd_logout, example="pylibctrd logout registry.example.com",
                    description="Remove SERVER's credentials from the docker config.")
    p.add_argument("server", nargs="?", metavar="SERVER", help="default: Docker Hub")


def cmd_pull(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        try:
            image = pull(client, opts.ref, platform=opts.platform, quiet=opts.quiet)
        except errors.Error as e:
            raise CLIError(message(e)) from e
    print(image.name, flush=True)
    return 0


def cmd_push(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        try:
            client.push(opts.ref, progress=None if opts.quiet else Display(sys.stdout))
        except errors.Error as e:
            raise CLIError(message(e)) from e
    if opts.quiet:
        print(opts.ref, flush=True)
    return 0


def cmd_tag(opts: argparse.Namespace) -> int:
    return one_call(opts, lambda client: client.tag(opts.source, opts.target))


def cmd_save(opts: argparse.Namespace) -> int:
    if opts.output is None and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    with session(opts) as client:
        try:
            if opts.output is not None:
                client.save(opts.refs, opts.output)
            else:
                client.save(opts.refs, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        except errors.Error as e:
            raise CLIError(message(e)) from e
    return 0


def cmd_login(opts: argparse.Namespace) -> int:
    username = opts.username
    if opts.password_stdin:
        if opts.password is not None:
            raise CLIError("--password and --password-stdin are mutually exclusive")
        if username is None:
            raise CLIError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    else:
        if username is None:
            username = input("Username: ")
        password = opts.password if opts.password is not None else getpass.getpass("Password: ")
    if not username or not password:
        raise CLIError("Username and password are required")
    with session(opts) as client:
        try:
            status = client.login(Auth(username, password, server=opts.server))
        except errors.Error as e:
            raise CLIError(message(e)) from e
    print(status, flush=True)
    return 0


def cmd_logout(opts: argparse.Namespace) -> int:
    server = opts.server or "https://index.docker.io/v1/"
    try:
        found = pylibctrd.logout(opts.server)
    except errors.Error as e:
        raise CLIError(message(e)) from e
    if found:
        print(f"Removing login credentials for {server}", flush=True)
    else:
        print(f"Not logged in to {server}", flush=True)
    return 0
