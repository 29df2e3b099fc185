"""A container's health as its monitor records it, for other processes.

The health of a detached container is probed by its monitor
(`pylibctrd.monitor`) with the same Go runner as `task.start_health`; at
every probe result it writes `<state_dir>-images/containers/<id>/health.json`
(as dockerd checkpoints `State.Health` at each result), so that `ps`,
`inspect` and `testing.wait_healthy` in any later process read it. The
file holds the config, the state (ours and Moby's JSON for `docker inspect`'s
`State.Health`), and the `health_status` events seen so far.

Only the public API is used.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from . import errors
from .client import Task
from .services import Health, HealthEvent, HealthUpdate, decode_health_update
from .types import from_unix_nanos

HEALTH_FILE = "health.json"

#: How many health_status events the record keeps (the newest).
MAX_EVENTS = 100


@dataclass(frozen=True)
class HealthRecord:
    """What a monitor recorded: the HealthConfig it probes with, the state
    after `seq` results, dockerd's `health_status` events (oldest first),
    whether probing ended, `docker` as `docker inspect` shows
    `State.Health`; when probing started (right after the task did), by
    which process, and whether that process still runs (`alive`: if not,
    the state is stale)."""

    config: dict[str, Any]
    seq: int
    health: Health
    events: list[HealthEvent]
    ended: bool
    docker: dict[str, Any]
    started_at: datetime | None
    pid: int
    alive: bool


def health_path(state_dir: str, id: str) -> Path:
    return Path(f"{state_dir}-images") / "containers" / id / HEALTH_FILE


def read_health(state_dir: str, id: str) -> HealthRecord | None:
    """The recorded health of container `id`, or None if nobody records it."""
    try:
        data = json.loads(health_path(state_dir, id).read_text())
        update = decode_health_update(data["update"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return HealthRecord(data["config"], update.seq, update.health, update.events, update.ended,
                        update.docker, from_unix_nanos(data.get("started_at")), data["pid"],
                        pid_alive(data["pid"]))


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (also one of another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_events(state_dir: str, seen: dict[str, int]) -> list[tuple[str, HealthEvent]]:
    """The `health_status` events recorded for any container of `state_dir`
    since `seen` (container id -> the last event's seq, updated here), as
    (container id, event), oldest first per container. Starting with an
    empty `seen` gives every event still recorded."""
    out = []
    for path in sorted((Path(f"{state_dir}-images") / "containers").glob(f"*/{HEALTH_FILE}")):
        id = path.parent.name
        record = read_health(state_dir, id)
        if record is None:
            continue
        last = seen.get(id, 0)
        fresh = [e for e in record.events if e.seq > last]
        if fresh:
            seen[id] = fresh[-1].seq
            out += [(id, e) for e in fresh]
    return out


def _write(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically, and only while the container's dir exists (a removed
    container is not brought back)."""
    if not path.parent.is_dir():
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except FileNotFoundError:
        pass  # removed meanwhile


class Recorder:
    """Probes `task` with `config` (`task.start_health`) and records each
    result in `path` from a thread, until `stop()`."""

    def __init__(self, task: Task, path: Path, config: Mapping[str, Any]) -> None:
        self.task, self.path, self.config = task, path, dict(config)
        self._events: list[dict[str, Any]] = []
        self._started = time.time_ns()
        # A task of the same container probed before (a restart): its events
        # stay, and the numbering goes on (seqs only grow for readers).
        self._offset = 0
        try:
            previous = json.loads(path.read_text())["update"]
            self._events, self._offset = list(previous["events"]), int(previous["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self._thread: threading.Thread | None = None
        self._last: dict[str, Any] = {}  # the record last written

    def start(self) -> None:
        """Start probing; the record says "starting" when this returns."""
        self.task.start_health(self.config)
        first = self.task.watch_health(0, timeout=0)
        self._record(first)
        self._thread = threading.Thread(target=self._run, args=(first.seq,),
                                        name="pylibctrd-health", daemon=True)
        self._thread.start()

    def _record(self, update: HealthUpdate) -> None:
        raw = {"seq": self._offset + update.seq, "ended": update.ended, "docker": update.docker,
               "health": {"status": update.health.status,
                          "failing_streak": update.health.failing_streak,
                          "log": [{"start": _nanos(r.start), "end": _nanos(r.end),
                                   "exit_code": r.exit_code, "output": r.output}
                                  for r in update.health.log]}}
        self._events = (self._events + [{"seq": self._offset + e.seq, "action": e.action,
                                         "status": e.status,
                                         "time": _nanos(e.time)}
                                        for e in update.events])[-MAX_EVENTS:]
        raw["events"] = self._events
        self._last = {"config": self.config, "update": raw, "started_at": self._started,
                      "pid": os.getpid()}
        _write(self.path, self._last)

    def _run(self, seq: int) -> None:
        while True:
            try:
                update = self.task.watch_health(seq)
            except errors.Error:
                return  # the client closed, or the task's handle is gone
            self._record(update)
            seq = update.seq
            if update.ended:
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Stop probing (a probe in flight is killed and deleted); the last
        state stays recorded."""
        try:
            self.task.stop_health()
        except errors.Error:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive() and self._last and not self._last["update"]["ended"]:
                # The watch ended on an error before its last update: probing
                # has stopped all the same, and readers must see it ended.
                self._last["update"]["ended"] = True
                _write(self.path, self._last)


def _nanos(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1e9)


def record(task: Task, container_dir: Path, config: Mapping[str, Any] | None) -> Recorder | None:
    """A started Recorder of `task`'s health into `container_dir`'s
    health.json, or None without a config."""
    if not config:
        return None
    container_dir.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(task, container_dir / HEALTH_FILE, config)
    recorder.start()
    return recorder
