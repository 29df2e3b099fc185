"""The commands on existing containers, and version and events."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

import pylibctrd
from pylibctrd import Status, errors

from . import _images, _network, _spec
from ._run import release
from ._common import (
    CLIError, add_format, each, emit_json, emit_table, iso, load, message, running_task,
    session, task_of,
)

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def _parser(sub: Sub, name: str, help: str, example: str,
            description: str | None = None, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help, aliases=list(aliases),
        epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


def register(sub: Sub) -> None:
    p = _parser(sub, "version", "versions of pylibctrd, Moby, containerd's client and daemon",
                "pylibctrd version --json")
    add_format(p)
    p.set_defaults(func=cmd_version)

    p = _parser(sub, "ps", "list containers", "pylibctrd ps -a --json",
                "List the namespace's containers (containerd's records): id, image or rootfs,"
                " command, status (the task's; 'exited' without a task), pid.")
    p.add_argument("-a", "--all", action="store_true", help="also containers not running")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    add_format(p)
    p.set_defaults(func=cmd_ps)

    p = _parser(sub, "kill", "send a signal to containers' main process",
                "pylibctrd kill -s TERM web")
    p.add_argument("-s", "--signal", default="KILL", help="name or number (default KILL)")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=cmd_kill)

    for name, verb, aliases in (("pause", "pause", ()), ("resume", "resume", ("unpause",))):
        p = _parser(sub, name, f"{verb} all processes of containers (cgroup freezer)",
                    f"pylibctrd {name} web", aliases=aliases)
        p.add_argument("ids", nargs="+", metavar="ID")
        p.set_defaults(func=cmd_pause if name == "pause" else cmd_resume)

    p = _parser(sub, "rm", "remove containers (their task and bundle dir too)",
                "pylibctrd rm -f web")
    p.add_argument("-f", "--force", action="store_true", help="kill a running task first")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=cmd_rm)

    p = _parser(sub, "top", "the processes of a container", "pylibctrd top web --json")
    p.add_argument("id", metavar="ID")
    add_format(p)
    p.set_defaults(func=cmd_top)

    p = _parser(sub, "stats", "CPU, memory and pids of containers (cgroup metrics)",
                "pylibctrd stats --no-stream --json web",
                "Stream the containers' usage every second until ^C (--no-stream: once).")
    p.add_argument("--no-stream", action="store_true", help="print one sample and exit")
    p.add_argument("ids", nargs="+", metavar="ID")
    add_format(p)
    p.set_defaults(func=cmd_stats)

    p = _parser(sub, "events", "libcontainerd's events, until ^C",
                "pylibctrd events --filter container=web --filter type=exit --json",
                "Print the events libcontainerd delivers (what dockerd acts on) until ^C."
                " Filters: container=ID, type=TYPE (exit, oom, create, start, exec-added,"
                " exec-started, paused, resumed); the same key given twice matches either.")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE")
    add_format(p)
    p.set_defaults(func=cmd_events)

    p = _parser(sub, "inspect", "details of containers or images, as JSON",
                "pylibctrd inspect web | jq '.[0].spec.process.args'",
                "Print a JSON array with one object per name: a container's ps fields, its"
                " labels, bundle dir and the OCI spec it was created with (containerd's"
                " record); else an image's images --json fields. A name that matches"
                " nothing is one line on stderr, and the exit code is 1.")
    p.add_argument("--type", choices=["container", "image"], help="look only for this kind")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(func=cmd_inspect)


# --- version ------------------------------------------------------------------

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


# --- ps -----------------------------------------------------------------------

def _describe(client: pylibctrd.Client, record: Any) -> dict[str, Any]:
    labels: dict[str, str] = record.labels
    status, pid = "exited", None
    try:
        task = task_of(client.load_container(record.id))
        if task is not None:
            status, pid = task.status().value, task.pid
    except errors.NotFound:
        status = "removed"  # between the list and the look
    command = json.loads(labels.get(_spec.L_COMMAND, "null"))
    return {"id": record.id, "image": labels.get(_spec.L_IMAGE) or record.image or None,
            "rootfs": labels.get(_spec.L_ROOTFS), "command": command, "status": status,
            "pid": pid or None, "created": iso(record.created_at), "runtime": record.runtime,
            "ports": _network.ports_column(_network.endpoints_of(client, record.id))}


def cmd_ps(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        records = sorted(client.list_containers(), key=lambda r: r.created_at or datetime.min
                         .replace(tzinfo=timezone.utc), reverse=True)
        rows = [_describe(client, r) for r in records]
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
                     _short(" ".join(r["command"] or [])), r["status"], r["pid"] or "", r["ports"]]
                    for r in rows])
    return 0


# --- inspect --------------------------------------------------------------------

def cmd_inspect(opts: argparse.Namespace) -> int:
    found: list[dict[str, Any]] = []
    failed = False
    with session(opts) as client:
        records = ({r.id: r for r in client.list_containers()}
                   if opts.type != "image" else {})
        for name in opts.names:
            if name in records:
                r = records[name]
                found.append({**_describe(client, r), "labels": r.labels,
                              "bundle_dir": os.path.join(client.state_dir, r.id), "spec": r.spec})
                continue
            if opts.type != "container":
                try:
                    found.append(_images.record(client.get_image(name)))
                    continue
                except (errors.NotFound, errors.InvalidParameter):
                    pass  # not an image's name either (or not even a reference)
            failed = True
            print(f"pylibctrd: Error: no such object: {name}", file=sys.stderr, flush=True)
    print(json.dumps(found, indent=4), flush=True)  # docker inspect's form
    return 1 if failed else 0


def _short(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


# --- kill, pause, resume, rm ----------------------------------------------------

def _each(opts: argparse.Namespace, action: Callable[[pylibctrd.Client, str], None]) -> int:
    """Each container id printed when its action is done, as docker does."""
    def act_and_echo(client: pylibctrd.Client, id: str) -> None:
        action(client, id)
        print(id, flush=True)

    return each(opts, opts.ids, act_and_echo)


def cmd_kill(opts: argparse.Namespace) -> int:
    signum = _spec.parse_signal(opts.signal)
    return _each(opts, lambda client, id: running_task(load(client, id)).kill(signum))


def cmd_pause(opts: argparse.Namespace) -> int:
    return _each(opts, lambda client, id: running_task(load(client, id)).pause())


def cmd_resume(opts: argparse.Namespace) -> int:
    return _each(opts, lambda client, id: running_task(load(client, id)).resume())


def cmd_rm(opts: argparse.Namespace) -> int:
    def remove(client: pylibctrd.Client, id: str) -> None:
        try:
            ctr = client.load_container(id)
        except errors.NotFound:
            if opts.force:
                return  # docker rm -f: gone is fine
            raise CLIError(f"no such container: {id}") from None
        task = task_of(ctr)
        if task is not None:
            if task.status() is Status.STOPPED:
                task.delete()
            elif opts.force:
                task.force_delete()
            else:
                raise CLIError(f"cannot remove container {id}: container is {task.status().value}:"
                               " stop it first or use -f")
        labels = next((r.labels for r in client.list_containers() if r.id == id), {})
        if _spec.made_from_image(labels):
            # Before the record goes: while it exists, a failed release can be retried.
            release(client, id)
        ctr.delete()

    return _each(opts, remove)


# --- top, stats -----------------------------------------------------------------

def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""  # gone, or in another pid namespace than this CLI


def cmd_top(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        task = running_task(load(client, opts.id))
        pids = [p.pid for p in task.pids()]
    rows = [{"pid": pid, "command": _cmdline(pid)} for pid in pids]
    if opts.format == "json":
        for r in rows:
            emit_json(r)
    else:
        emit_table(["PID", "CMD"], [[r["pid"], r["command"]] for r in rows])
    return 0


def _usage(metrics: dict[str, Any]) -> tuple[int | None, int | None, int | None, int | None]:
    """(cpu ns, memory bytes, memory limit, pids) from cgroup v1 or v2 Metrics;
    memory as docker counts it (usage less inactive file pages)."""
    cpu, mem = metrics.get("cpu") or {}, metrics.get("memory") or {}
    pids = (metrics.get("pids") or {}).get("current")
    if isinstance(cpu.get("usage"), dict):  # v1
        usage = mem.get("usage") or {}
        limit = usage.get("limit")
        return (cpu["usage"].get("total", 0), (usage.get("usage") or 0)
                - (mem.get("total_inactive_file") or 0), limit, pids)
    cpu_ns = cpu.get("usage_usec")
    return (None if cpu_ns is None else cpu_ns * 1000,
            (mem.get("usage") or 0) - (mem.get("inactive_file") or 0), mem.get("usage_limit"), pids)


def _sample(tasks: dict[str, pylibctrd.Task]) -> dict[str, tuple[float, pylibctrd.Stats]]:
    return {id: (time.monotonic(), task.stats()) for id, task in tasks.items()}


def cmd_stats(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        tasks = {id: running_task(load(client, id)) for id in opts.ids}
        before = _sample(tasks)
        try:
            while True:
                time.sleep(0.5 if opts.no_stream else 1.0)  # the CPU % needs two samples
                now = _sample(tasks)
                rows = [_stats_row(id, before[id], now[id]) for id in tasks]
                if opts.format == "json":
                    for r in rows:
                        emit_json(r)
                else:
                    if not opts.no_stream and sys.stdout.isatty():
                        sys.stdout.write("\x1b[2J\x1b[H")  # docker's redraw
                    emit_table(["CONTAINER ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"],
                               [[r["id"], _pct(r["cpu_percent"]),
                                 f"{_bytes(r['memory_usage'])} / {_bytes(r['memory_limit'])}",
                                 _pct(r["memory_percent"]), r["pids"]] for r in rows])
                if opts.no_stream:
                    return 0
                before = now
        except KeyboardInterrupt:
            return 0


def _stats_row(id: str, before: tuple[float, pylibctrd.Stats],
               now: tuple[float, pylibctrd.Stats]) -> dict[str, Any]:
    cpu0, _, _, _ = _usage(before[1].metrics)
    cpu1, mem, limit, pids = _usage(now[1].metrics)
    wall = (now[0] - before[0]) * 1e9
    cpu_pct = None if cpu0 is None or cpu1 is None or wall <= 0 else (cpu1 - cpu0) / wall * 100
    if limit is not None and limit >= 1 << 62:
        limit = None  # no limit (cgroup v1 reports a huge number)
    return {"id": id, "read": iso(now[1].read), "cpu_percent": cpu_pct, "memory_usage": mem,
            "memory_limit": limit,
            "memory_percent": mem / limit * 100 if mem is not None and limit else None,
            "pids": pids, "metrics": now[1].metrics}


def _pct(v: float | None) -> str:
    return "--" if v is None else f"{v:.2f}%"


def _bytes(v: int | None) -> str:
    if v is None:
        return "unlimited"
    size = float(v)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1024
    return f"{v}B"


# --- events -----------------------------------------------------------------------

def _filters(items: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("container", "type"):
            raise CLIError(f"invalid filter {item!r}: use container=ID or type=TYPE", 125)
        if key == "type":
            try:
                pylibctrd.EventType(value)
            except ValueError:
                raise CLIError(f"unknown event type {value!r}: one of "
                               + ", ".join(t.value for t in pylibctrd.EventType), 125) from None
        out.setdefault(key, set()).add(value)
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_events(opts: argparse.Namespace) -> int:
    filters = _filters(opts.filter)
    containers, types = filters.get("container"), filters.get("type")
    with session(opts) as client:
        signal.signal(signal.SIGTERM, _interrupt)  # ends it like ^C
        stream = client.events()
        try:
            for event in stream:
                info = event.info
                if containers is not None and info.container_id not in containers:
                    continue
                if types is not None and event.type.value not in types:
                    continue
                record = {"time": iso(datetime.now(timezone.utc)), "type": event.type.value,
                          "container_id": info.container_id, "process_id": info.process_id,
                          "pid": info.pid, "exit_code": info.exit_code,
                          "exited_at": iso(info.exited_at), "error": info.error}
                if opts.format == "json":
                    emit_json(record)
                else:
                    extra = (f" exit_code={info.exit_code}"
                             if event.type is pylibctrd.EventType.EXIT else "")
                    print(f"{record['time']} {event.type.value} {info.container_id}"
                          f" (process={info.process_id or '-'}, pid={info.pid or '-'}{extra})",
                          flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()
    return 0
