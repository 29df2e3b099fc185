"""Values that cross from libcontainerd: frozen dataclasses and str enums."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_unix_nanos(value: int | None) -> datetime | None:
    """An aware UTC datetime (microsecond precision), or None for Go's zero time."""
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value // 1000)


class EventType(str, enum.Enum):
    """libcontainerd's types.EventType; values are Moby's strings."""

    UNKNOWN = "unknown"
    EXIT = "exit"
    OOM = "oom"
    CREATE = "create"
    START = "start"
    EXEC_ADDED = "exec-added"
    EXEC_STARTED = "exec-started"
    PAUSED = "paused"
    RESUMED = "resumed"


class Status(str, enum.Enum):
    """containerd.ProcessStatus."""

    RUNNING = "running"
    CREATED = "created"
    STOPPED = "stopped"
    PAUSED = "paused"
    PAUSING = "pausing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Version:
    version: str
    revision: str


@dataclass(frozen=True)
class EventInfo:
    container_id: str
    process_id: str
    pid: int
    exit_code: int
    exited_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class Event:
    """One libcontainerd event, as `Client.events()` yields it."""

    type: EventType
    info: EventInfo


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    exited_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    info: dict[str, Any] | None


@dataclass(frozen=True)
class Stats:
    read: datetime | None
    metrics: dict[str, Any] = field(repr=False)


@dataclass
class DirectIO:
    """What an attach_stdio callback receives: the process's stdio FIFOs as
    binary file objects, each None where the process has none (no stdin
    unless created with `with_stdin=True`; no stderr with a TTY), as
    libcontainerd's nil streams. Closing `stdin` gives the process EOF the way
    Moby does (through containerd's CloseIO); writing to it after that raises
    `ValueError`, as any closed Python file does."""

    stdin: IO[bytes] | None
    stdout: IO[bytes] | None
    stderr: IO[bytes] | None
