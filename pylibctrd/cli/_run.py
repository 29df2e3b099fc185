"""`run` and `exec`."""

from __future__ import annotations

import argparse
import contextlib
import os
import uuid
from typing import Any

import pylibctrd
from pylibctrd import errors

from . import _network, _spec
from ._attach import Attach, foreground, start_error, terminal_size
from ._common import EXIT_CLI, CLIError, message, running_task, session, task_of

RUN_EXAMPLE = """\
examples:
  pylibctrd run --rm busybox echo hello            # an imported image (pylibctrd import)
  pylibctrd run -it --rm busybox                    # the image's command (sh)
  pylibctrd run --rm --rootfs /srv/rootfs echo hello
  pylibctrd run -it --rm --rootfs /srv/rootfs sh
  echo hi | pylibctrd run -i --rm --rootfs /srv/rootfs cat
  pylibctrd run -d --name web -m 64m --cpus 0.5 --rootfs /srv/rootfs httpd -f"""

EXEC_EXAMPLE = """\
examples:
  pylibctrd exec web ps
  pylibctrd exec -it web sh"""


def _process_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="start it and return (run: print the container id)")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="forward stdin; its EOF closes the process's stdin")
    p.add_argument("-t", "--tty", action="store_true", help="give the process a terminal")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V",
                   help="set an environment variable (K alone: take it from here)")
    p.add_argument("-w", "--workdir", metavar="DIR", help="working directory (absolute)")
    p.add_argument("-u", "--user", metavar="UID[:GID]",
                   help="user and group, numbers or names from the rootfs's /etc files")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="run a command in a new container",
        usage="pylibctrd run [OPTIONS] (--rootfs DIR | IMAGE) [CMD [ARG...]]",
        description="Create a container, start it and (without -d) wait for it, with its"
                    " stdio attached. Exits with the container's exit code (125: the CLI"
                    " or containerd failed, or no such image; 126: the command cannot be"
                    " invoked; 127: not found). From an IMAGE (see `pylibctrd import`), the"
                    " rootfs is a snapshot of it prepared as dockerd does, with docker run's"
                    " rules for the command, env, workdir and user; it is released when the"
                    " container is removed (--rm, rm).",
        epilog=RUN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _process_flags(p)
    p.add_argument("--rm", action="store_true",
                   help="remove the container (its task, and its rootfs snapshot from an"
                        " image) when it exits, also on ^C")
    p.add_argument("--name", metavar="ID", help="the container id (default: a random one)")
    p.add_argument("-m", "--memory", metavar="SIZE", help="memory limit, e.g. 64m")
    p.add_argument("--cpus", type=float, metavar="N", help="CPUs (a CFS quota), e.g. 0.5")
    p.add_argument("--pids-limit", type=int, metavar="N", help="maximum number of pids")
    p.add_argument("--cgroup-parent", default="/pylibctrd", metavar="PATH",
                   help="cgroup under which the container's goes (default /pylibctrd)")
    p.add_argument("--rootfs", metavar="DIR",
                   help="the root filesystem, a directory (instead of an IMAGE)")
    _network.add_run_flags(p)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CMD",
                   help="IMAGE (without --rootfs), then the command and its arguments")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "exec", help="run a command in a running container",
        usage="pylibctrd exec [OPTIONS] ID CMD [ARG...]",
        description="Run a process in the container's task with the container's environment,"
                    " user and working directory; exits with its exit code (125/126/127 as run).",
        epilog=EXEC_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _process_flags(p)
    p.add_argument("id", metavar="ID")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CMD")
    p.set_defaults(func=cmd_exec)


def _check_process_flags(opts: argparse.Namespace) -> None:
    if opts.detach and opts.interactive:
        # Nobody would hold the stdin FIFO once this process exits.
        raise CLIError("-d and -i together are not supported: a detached process's stdin is"
                       " closed (use -dt to keep a shell waiting on its terminal)", EXIT_CLI)
    if opts.interactive and opts.tty and not os.isatty(0):
        raise CLIError("the input device is not a TTY (drop -t to pipe stdin)", EXIT_CLI)


def release(client: pylibctrd.Client, id: str) -> None:
    """The rootfs `run IMAGE` prepared for container id: unmounted, its
    snapshots and lease gone (any process may do it: the mount and the lease
    are the kernel's and containerd's). Already released is fine."""
    with contextlib.suppress(errors.NotFound):
        client.release_rootfs(id)


def _remove(client: pylibctrd.Client, ctr: pylibctrd.Container, image: bool) -> None:
    """The container and any task of it, gone (a failed or interrupted run),
    with the rootfs snapshot it was given from an image."""
    task = task_of(ctr)
    if task is not None:
        with contextlib.suppress(errors.NotFound):
            task.force_delete()
    if image:
        release(client, ctr.id)
    with contextlib.suppress(errors.NotFound):
        ctr.delete()


def _drop_task(ctr: pylibctrd.Container) -> None:
    task = task_of(ctr)
    if task is not None:
        with contextlib.suppress(errors.NotFound):
            task.force_delete()


def cmd_run(opts: argparse.Namespace) -> int:
    args: list[str] = opts.args
    image_ref: str | None = None
    if opts.rootfs is None:
        if not args:
            raise CLIError("run needs an IMAGE or --rootfs DIR", EXIT_CLI)
        image_ref, args = args[0], args[1:]
        rootfs = ""
    else:
        rootfs = os.path.abspath(opts.rootfs)
        if not os.path.isdir(rootfs):
            raise CLIError(f"rootfs {rootfs} is not a directory", EXIT_CLI)
        if not args:
            raise CLIError("no command given", EXIT_CLI)
    _check_process_flags(opts)
    if opts.detach and opts.rm:
        raise CLIError("--rm with -d is not supported: nobody would be watching the container"
                       " to remove it", EXIT_CLI)
    id = opts.name or uuid.uuid4().hex[:12]
    resources: dict[str, Any] = dict(cgroup_parent=opts.cgroup_parent,
                     memory=_spec.parse_size(opts.memory) if opts.memory else None,
                     cpus=opts.cpus, pids_limit=opts.pids_limit)
    console = terminal_size() if opts.tty else None
    if image_ref is None:
        env = _spec.merge_env([_spec.DEFAULT_PATH, *(["TERM=xterm"] if opts.tty else [])],
                              opts.env)
        user = _spec.parse_user(opts.user, rootfs) if opts.user else (0, 0)
        workdir = opts.workdir or "/"
        spec = _spec.build_spec(id, rootfs, args, env=env, user=user, workdir=workdir,
                                tty=opts.tty, console=console, **resources)
        labels = _spec.labels_for(args, env, user, workdir, rootfs=rootfs)
    with session(opts, may_start=not opts.detach, code=EXIT_CLI) as client:
        if image_ref is not None:
            spec, labels = _from_image(client, id, image_ref, args, opts, console, resources)
        try:
            _network.apply_run_flags(client, spec, opts, image_ref)
            ctr = client.new_container(id, spec, labels=labels)
        except (errors.Error, ValueError) as e:
            if image_ref is not None:
                release(client, id)
            raise CLIError(message(e), EXIT_CLI) from e
        if opts.detach:
            try:
                task = ctr.new_task()
                task.start()
            except errors.Error as e:
                _drop_task(ctr)  # docker keeps the container, created, not its task
                raise start_error(e) from e
            print(id, flush=True)
            return 0
        return _run_attached(client, ctr, opts, image=image_ref is not None)


def _from_image(client: pylibctrd.Client, id: str, ref: str, args: list[str],
                opts: argparse.Namespace, console: tuple[int, int] | None,
                resources: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The image's rootfs prepared for container id, and the spec and labels
    of a container on it; nothing is left prepared if this fails."""
    try:
        image = client.get_image(ref)
    except errors.NotFound as e:
        # docker would pull here; containerd's store has only what was imported.
        raise CLIError(f"{message(e)} (there is no pull: `pylibctrd import ARCHIVE` loads"
                       " images)", EXIT_CLI) from e
    except errors.Error as e:
        raise CLIError(message(e), EXIT_CLI) from e
    if id in {r.id for r in client.list_containers()}:
        # Before preparing: a rootfs keyed by a taken id is not ours to touch.
        raise CLIError(f"container id {id} is already in use", EXIT_CLI)
    try:
        rootfs = client.prepare_rootfs(id, ref)
    except errors.Error as e:
        raise CLIError(message(e), EXIT_CLI) from e
    try:
        env = _spec.merge_env([], opts.env)  # resolves `-e K` from here; the image's go first
        spec = _spec.image_spec(id, rootfs, image, args, env=env, user=opts.user,
                                workdir=opts.workdir, tty=opts.tty, console=console,
                                **resources)
        labels = _spec.labels_of_spec(spec, rootfs=rootfs, image=ref, image_digest=image.digest)
    except BaseException:
        release(client, id)
        raise
    return spec, labels


def _run_attached(client: pylibctrd.Client, ctr: pylibctrd.Container,
                  opts: argparse.Namespace, *, image: bool) -> int:
    attach = Attach(stdin=opts.interactive)
    exited = False

    def start() -> pylibctrd.Process:
        task = ctr.new_task(with_stdin=opts.interactive, attach_stdio=attach)
        task.start()
        return task

    try:
        code = foreground(start, attach, tty=opts.tty,
                          raw=opts.tty and opts.interactive and os.isatty(0))
        exited = True
        with contextlib.suppress(errors.NotFound):
            ctr.task().delete()  # dockerd deletes the task of an exited container
        return code
    finally:
        if opts.rm:
            _remove(client, ctr, image)
        elif not exited and getattr(opts, "owns_daemon", False):
            _drop_task(ctr)  # the containerd we started stops now: leave no shim behind
        elif not exited:
            # Interrupted before the exit; a task that never started is useless.
            task = task_of(ctr)
            with contextlib.suppress(errors.Error):
                if task is not None and task.status() is pylibctrd.Status.CREATED:
                    task.force_delete()


def cmd_exec(opts: argparse.Namespace) -> int:
    if not opts.args:
        raise CLIError("exec needs a command", EXIT_CLI)
    _check_process_flags(opts)
    with session(opts, code=EXIT_CLI) as client:
        records = {r.id: r for r in client.list_containers()}
        if opts.id not in records:
            raise CLIError(f"no such container: {opts.id}", EXIT_CLI)
        try:
            task = running_task(client.load_container(opts.id))
        except CLIError as e:
            raise CLIError(str(e), EXIT_CLI) from e
        spec = _spec.exec_spec(records[opts.id].labels, opts.args, env=opts.env, user=opts.user,
                               workdir=opts.workdir, tty=opts.tty,
                               console=terminal_size() if opts.tty else None)
        exec_id = uuid.uuid4().hex
        if opts.detach:
            try:
                task.exec(exec_id, spec)
            except errors.Error as e:
                raise start_error(e) from e
            return 0
        attach = Attach(stdin=opts.interactive)
        started: list[pylibctrd.Process] = []

        def start() -> pylibctrd.Process:
            started.append(task.exec(exec_id, spec, with_stdin=opts.interactive,
                                     attach_stdio=attach))
            return started[0]

        try:
            return foreground(start, attach, tty=opts.tty,
                              raw=opts.tty and opts.interactive and os.isatty(0))
        finally:
            for process in started:
                with contextlib.suppress(errors.Error):
                    process.delete()
