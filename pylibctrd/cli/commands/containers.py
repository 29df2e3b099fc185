"""The containers: run, exec, ps, inspect, kill, pause, resume, rm."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

import pylibctrd
from pylibctrd import Status, errors, monitor
from pylibctrd.removal import remove_container

from .. import _health, _network, _services, _spec
from .._progress import pull
from .._attach import Attach, foreground, start_error, terminal_size
from .._common import (
    EXIT_CLI, AddCommand, CLIError, add_format, each, emit_json, emit_table, load, message,
    running_task, session, task_of,
)
from .._records import container_row, image_row

RUN_EXAMPLES = (
    "pylibctrd run --rm busybox echo hello            # pulled if missing (or pylibctrd import)",
    "pylibctrd run -it --rm busybox                    # the image's command (sh)",
    "pylibctrd run --rm --rootfs /srv/rootfs echo hello",
    "pylibctrd run -it --rm --rootfs /srv/rootfs sh",
    "echo hi | pylibctrd run -i --rm --rootfs /srv/rootfs cat",
    "pylibctrd run -d --name web -m 64m --cpus 0.5 --rootfs /srv/rootfs httpd -f",
)


def register(add_command: AddCommand) -> None:
    p = add_command(
        "run", cmd_run, example=RUN_EXAMPLES,
        usage="pylibctrd run [OPTIONS] (--rootfs DIR | IMAGE) [CMD [ARG...]]",
        description="Create a container, start it and (without -d) wait for it, with its"
                    " stdio attached. Exits with the container's exit code (125: the CLI"
                    " or containerd failed, or no such image; 126: the command cannot be"
                    " invoked; 127: not found). From an IMAGE (see `pylibctrd import`), the"
                    " rootfs is a snapshot of it prepared as dockerd does, with docker run's"
                    " rules for the command, env, workdir and user; it is released when the"
                    " container is removed (--rm, rm).")
    _process_flags(p)
    _services.add_run_flags(p)
    _network.add_run_flags(p)
    _health.add_run_flags(p)
    p.add_argument("--rm", action="store_true",
                   help="remove the container (its task, and its rootfs snapshot from an"
                        " image) when it exits, also on ^C")
    p.add_argument("--name", metavar="ID", help="the container id (default: a random one)")
    p.add_argument("--pull", choices=("missing", "always", "never"), default="missing",
                   help="pull the image before running: missing (default), always, never")
    p.add_argument("-m", "--memory", metavar="SIZE", help="memory limit, e.g. 64m")
    p.add_argument("--cpus", type=float, metavar="N", help="CPUs (a CFS quota), e.g. 0.5")
    p.add_argument("--pids-limit", type=int, metavar="N", help="maximum number of pids")
    p.add_argument("--runtime", metavar="NAME", default=None,
                   help="the OCI runtime: runc, crun, or a name from the runtimes of"
                        " $PYLIBCTRD_CONFIG (else /etc/pylibctrd/daemon.json), as dockerd's"
                        " (default: its default-runtime, else runc)")
    p.add_argument("--cgroup-parent", default="/pylibctrd", metavar="PATH",
                   help="cgroup under which the container's goes (default /pylibctrd)")
    p.add_argument("--rootfs", metavar="DIR",
                   help="the root filesystem, a directory (instead of an IMAGE)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CMD",
                   help="IMAGE (without --rootfs), then the command and its arguments")

    p = add_command(
        "exec", cmd_exec, example=("pylibctrd exec web ps", "pylibctrd exec -it web sh"),
        usage="pylibctrd exec [OPTIONS] ID CMD [ARG...]",
        description="Run a process in the container's task with the container's environment,"
                    " user and working directory; exits with its exit code (125/126/127 as run).")
    _process_flags(p)
    p.add_argument("id", metavar="ID")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CMD")

    p = add_command("ps", cmd_ps, example="pylibctrd ps -a --json",
                    description="List the namespace's containers (containerd's records): id,"
                                " image or rootfs, command, status (the task's; 'exited'"
                                " without a task), pid.")
    p.add_argument("-a", "--all", action="store_true", help="also containers not running")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    add_format(p)

    p = add_command("inspect", cmd_inspect,
                    example="pylibctrd inspect web | jq '.[0].spec.process.args'",
                    description="Print a JSON array with one object per name: a container's ps"
                                " fields, its labels, bundle dir and the OCI spec it was created"
                                " with (containerd's record); else an image's images --json"
                                " fields. A name that matches nothing is one line on stderr, and"
                                " the exit code is 1.")
    p.add_argument("--type", choices=["container", "image"], help="look only for this kind")
    p.add_argument("names", nargs="+", metavar="NAME")

    p = add_command("kill", cmd_kill, example="pylibctrd kill -s TERM web")
    p.add_argument("-s", "--signal", default="KILL", help="name or number (default KILL)")
    p.add_argument("ids", nargs="+", metavar="ID")

    for name, func in (("pause", cmd_pause), ("resume", cmd_resume)):
        add_command(name, func, example=f"pylibctrd {name} web").add_argument(
            "ids", nargs="+", metavar="ID")

    p = add_command("rm", cmd_rm, example="pylibctrd rm -f web")
    p.add_argument("-f", "--force", action="store_true", help="kill a running task first")
    p.add_argument("ids", nargs="+", metavar="ID")


# --- run, exec ----------------------------------------------------------------------

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


def _check_process_flags(opts: argparse.Namespace, *, monitored: bool = False) -> None:
    if opts.detach and opts.interactive and not monitored:
        # Nobody would hold the stdin FIFO once this process exits (run -d
        # has a monitor that holds it, for `attach`).
        raise CLIError("-d and -i together are not supported: a detached process's stdin is"
                       " closed (use -dt to keep a shell waiting on its terminal)", EXIT_CLI)
    if opts.interactive and opts.tty and not os.isatty(0):
        raise CLIError("the input device is not a TTY (drop -t to pipe stdin)", EXIT_CLI)


def _release(client: pylibctrd.Client, id: str) -> None:
    """The rootfs `run IMAGE` prepared for container id, released when no
    container was made on it (not remove_container: a container of that id
    would be another's); already released is fine."""
    with contextlib.suppress(errors.NotFound):
        client.release_rootfs(id)


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
    _check_process_flags(opts, monitored=True)
    _services.check_run_flags(opts)
    _health.check_run_flags(opts)
    if opts.detach and opts.rm:
        raise CLIError("--rm with -d is not supported: nobody would be watching the container"
                       " to remove it", EXIT_CLI)
    id = opts.name or uuid.uuid4().hex[:12]
    options: dict[str, Any] = dict(
        env=opts.env, user=opts.user, workdir=opts.workdir, tty=opts.tty,
        console=terminal_size() if opts.tty else None, cgroup_parent=opts.cgroup_parent,
        memory=_spec.parse_size(opts.memory) if opts.memory else None, cpus=opts.cpus,
        pids_limit=opts.pids_limit)
    labels: dict[str, str] | None = None
    if image_ref is None:
        spec = _spec.run_spec(id, rootfs, args, **options)
    with session(opts, may_start=not opts.detach, code=EXIT_CLI) as client:
        if image_ref is not None:
            spec, labels = _from_image(client, id, image_ref, args, options, opts.pull)
            try:
                opts.healthcheck = _health.healthcheck(opts, client.get_image(image_ref))
            except BaseException:
                _release(client, id)
                raise
        try:
            spec = _services.apply_run_flags(spec, opts)
            _network.apply_run_flags(client, spec, opts, image_ref)
            if opts.runtime:
                ctr = client.new_container(id, spec, *client.runtimes.get(opts.runtime),
                                           labels=labels)
            else:
                ctr = client.new_container(id, spec, labels=labels)
        except (errors.Error, ValueError) as e:
            if image_ref is not None:
                _release(client, id)
            raise CLIError(message(e), EXIT_CLI) from e
        if opts.detach:
            try:
                _services.start_detached(client, opts, id)  # its monitor holds the output
            except errors.Error as e:
                _drop_task(ctr)  # docker keeps the container, created, not its task
                raise start_error(e) from e
            print(id, flush=True)
            return 0
        return _run_attached(client, ctr, opts, image=image_ref is not None)


def _image(client: pylibctrd.Client, ref: str, policy: str) -> pylibctrd.Image:
    """docker run's --pull: always, missing (pull when absent) or never."""
    try:
        if policy == "always":
            return pull(client, ref, out=sys.stderr)
        try:
            return client.get_image(ref)
        except errors.NotFound:
            if policy == "never":
                raise
        print(f"Unable to find image '{ref}' locally", file=sys.stderr, flush=True)
        return pull(client, ref, out=sys.stderr)
    except errors.Error as e:
        raise CLIError(message(e), EXIT_CLI) from e


def _from_image(client: pylibctrd.Client, id: str, ref: str, args: list[str],
                options: dict[str, Any],
                pull_policy: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The image's rootfs prepared for container id, and the spec and labels
    of a container on it; nothing is left prepared if this fails."""
    image = _image(client, ref, pull_policy)
    if id in {r.id for r in client.list_containers()}:
        # Before preparing: a rootfs keyed by a taken id is not ours to touch.
        raise CLIError(f"container id {id} is already in use", EXIT_CLI)
    try:
        rootfs = client.prepare_rootfs(id, ref)
    except errors.Error as e:
        raise CLIError(message(e), EXIT_CLI) from e
    try:
        spec = _spec.run_spec(id, rootfs, args, image=image, **options)
    except BaseException:
        _release(client, id)
        raise
    return spec, _spec.image_labels(ref, image)


def _run_attached(client: pylibctrd.Client, ctr: pylibctrd.Container,
                  opts: argparse.Namespace, *, image: bool) -> int:
    attach = Attach(stdin=opts.interactive)
    exited = False
    health: list[Any] = []

    def start() -> pylibctrd.Process:
        logged = attach if opts.rm else _services.logged(attach, opts)  # for `logs`
        task = ctr.new_task(with_stdin=opts.interactive, attach_stdio=logged)
        task.start()
        health.append(_health.record_attached(client, task, opts.healthcheck))
        return task

    try:
        code = foreground(start, attach, tty=opts.tty,
                          raw=opts.tty and opts.interactive and os.isatty(0))
        exited = True
        for recorder in health:
            if recorder is not None:
                recorder.stop()  # before the task goes: a probe in flight is deleted first
        with contextlib.suppress(errors.NotFound):
            ctr.task().delete()  # dockerd deletes the task of an exited container
        return code
    finally:
        for recorder in health:
            if recorder is not None:
                recorder.stop()  # a probe in flight is killed and deleted
        if opts.rm:
            # The container and any task of it, gone (also a failed or
            # interrupted run), with the rootfs it was given from an image.
            remove_container(client, ctr.id, rootfs=image)
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
        spec = _spec.exec_spec(records[opts.id].spec, os.path.join(client.state_dir, opts.id),
                               opts.args, env=opts.env, user=opts.user, workdir=opts.workdir,
                               tty=opts.tty, console=terminal_size() if opts.tty else None)
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


# --- ps, inspect ----------------------------------------------------------------------

def cmd_ps(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        records = sorted(client.list_containers(), key=lambda r: r.created_at or datetime.min
                         .replace(tzinfo=timezone.utc), reverse=True)
        rows = [container_row(client, r) for r in records]
    if not opts.all:
        rows = [r for r in rows if r["status"] in (Status.RUNNING.value, Status.PAUSED.value,
                                                   Status.PAUSING.value)]
    if opts.quiet:
        for r in rows:
            print(r["id"])
    elif opts.format == "json":
        for r in rows:
            emit_json(r)
    else:
        emit_table(["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "PID", "PORTS"],
                   [[r["id"], r["image"] or r["rootfs"] or "",
                     _short(" ".join(r["command"] or [])),
                     _health.status_text(r) or _services.status_text(r),
                     r["pid"] or "", r["ports"]]
                    for r in rows])
    return 0


def _short(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def cmd_inspect(opts: argparse.Namespace) -> int:
    found: list[dict[str, Any]] = []
    failed = False
    with session(opts) as client:
        records = ({r.id: r for r in client.list_containers()}
                   if opts.type != "image" else {})
        for name in opts.names:
            if name in records:
                r = records[name]
                found.append({**container_row(client, r), "labels": r.labels,
                              "bundle_dir": os.path.join(client.state_dir, r.id), "spec": r.spec,
                              **_health.inspect_fields(client, r.id)})
                continue
            if opts.type != "container":
                try:
                    found.append(image_row(client.get_image(name)))
                    continue
                except (errors.NotFound, errors.InvalidParameter):
                    pass  # not an image's name either (or not even a reference)
            failed = True
            print(f"pylibctrd: Error: no such object: {name}", file=sys.stderr, flush=True)
    print(json.dumps(found, indent=4), flush=True)  # docker inspect's form
    return 1 if failed else 0


# --- kill, pause, resume, rm ----------------------------------------------------------

def _each(opts: argparse.Namespace, action: Callable[[pylibctrd.Client, str], None]) -> int:
    """Each container id printed when its action is done, as docker does."""
    def act_and_echo(client: pylibctrd.Client, id: str) -> None:
        action(client, id)
        print(id, flush=True)

    return each(opts, opts.ids, act_and_echo)


def cmd_kill(opts: argparse.Namespace) -> int:
    signum = _spec.parse_signal(opts.signal)

    def kill(client: pylibctrd.Client, id: str) -> None:
        # A detached container's monitor kills it, and restarts it no more.
        if not _services.kill_through_monitor(client, id, signum):
            monitor.kill_task(running_task(load(client, id)), signum)

    return _each(opts, kill)


def cmd_pause(opts: argparse.Namespace) -> int:
    return _each(opts, lambda client, id: running_task(load(client, id)).pause())


def cmd_resume(opts: argparse.Namespace) -> int:
    return _each(opts, lambda client, id: running_task(load(client, id)).resume())


def cmd_rm(opts: argparse.Namespace) -> int:
    def remove(client: pylibctrd.Client, id: str) -> None:
        record = next((r for r in client.list_containers() if r.id == id), None)
        if record is None:
            if opts.force:
                return  # docker rm -f: gone is fine
            raise CLIError(f"no such container: {id}")
        try:
            # The rootfs of a container made from an image goes too.
            remove_container(client, id, force=opts.force,
                             rootfs=_spec.made_from_image(record.labels))
        except errors.Conflict as e:
            raise CLIError(message(e)) from e

    return _each(opts, remove)
