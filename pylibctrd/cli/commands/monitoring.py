"""Watching containers: top, stats, events."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

import pylibctrd
from pylibctrd import healthrecord

from .._common import (
    AddCommand, CLIError, add_format, emit_json, emit_table, iso, load, running_task, session,
)


def register(add_command: AddCommand) -> None:
    p = add_command("top", cmd_top, example="pylibctrd top web --json")
    p.add_argument("id", metavar="ID")
    add_format(p)

    p = add_command("stats", cmd_stats, example="pylibctrd stats --no-stream --json web",
                    description="Stream the containers' usage every second until ^C"
                                " (--no-stream: once).")
    p.add_argument("--no-stream", action="store_true", help="print one sample and exit")
    p.add_argument("ids", nargs="+", metavar="ID")
    add_format(p)

    p = add_command("events", cmd_events,
                    example="pylibctrd events --filter container=web --filter type=exit --json",
                    description="Print the events libcontainerd delivers (what dockerd acts on)"
                                " until ^C, and dockerd's health_status events of the containers"
                                " whose health check is recorded (run -d with a HEALTHCHECK or"
                                " --health-cmd; docs/services.md#health). Filters: container=ID,"
                                " type=TYPE (exit, oom, create, start, exec-added, exec-started,"
                                " paused, resumed, health_status); the same key given twice"
                                " matches either.")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE")
    add_format(p)


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
        if key == "type" and value != HEALTH_STATUS:
            try:
                pylibctrd.EventType(value)
            except ValueError:
                raise CLIError(f"unknown event type {value!r}: one of "
                               + ", ".join([*(t.value for t in pylibctrd.EventType), HEALTH_STATUS]),
                               125) from None
        out.setdefault(key, set()).add(value)
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


HEALTH_STATUS = "health_status"


def _health_events(state_dir: str, since: datetime,
                   emit: Callable[[dict[str, Any], str], None], stop: threading.Event,
                   poll: float = 0.2) -> None:
    """dockerd's health_status events from `since` on, read from the health
    records (written by the process that probes each container)."""
    seen: dict[str, int] = {}
    first = True
    while True:
        stopping = stop.is_set() if first else stop.wait(poll)  # then one last look
        for id, e in healthrecord.new_events(state_dir, seen):
            if first and (e.time is None or e.time < since):
                continue  # before this command: not news
            record = {"time": iso(e.time), "type": HEALTH_STATUS, "container_id": id,
                      "process_id": None, "pid": None, "exit_code": None, "exited_at": None,
                      "error": None, "status": e.status, "action": e.action}
            try:
                emit(record, f"{record['time']} {e.action} {id}")
            except OSError:
                return  # our stdout went away (the main thread ends on it too)
        first = False
        if stopping:
            return


def cmd_events(opts: argparse.Namespace) -> int:
    filters = _filters(opts.filter)
    containers, types = filters.get("container"), filters.get("type")
    printing = threading.Lock()
    since = datetime.now(timezone.utc)

    def emit(record: dict[str, Any], text: str) -> None:
        if containers is not None and record["container_id"] not in containers:
            return
        if types is not None and record["type"] not in types:
            return
        with printing:
            if opts.format == "json":
                emit_json(record)
            else:
                print(text, flush=True)

    with session(opts) as client:
        signal.signal(signal.SIGTERM, _interrupt)  # ends it like ^C
        stream = client.events()
        stop = threading.Event()
        health = threading.Thread(target=_health_events, args=(client.state_dir, since, emit, stop),
                                  name="health-events", daemon=True)
        health.start()
        try:
            for event in stream:
                info = event.info
                record = {"time": iso(datetime.now(timezone.utc)), "type": event.type.value,
                          "container_id": info.container_id, "process_id": info.process_id,
                          "pid": info.pid, "exit_code": info.exit_code,
                          "exited_at": iso(info.exited_at), "error": info.error}
                extra = (f" exit_code={info.exit_code}"
                         if event.type is pylibctrd.EventType.EXIT else "")
                emit(record, f"{record['time']} {event.type.value} {info.container_id}"
                             f" (process={info.process_id or '-'}, pid={info.pid or '-'}{extra})")
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            stream.close()
            health.join(5)
    return 0
