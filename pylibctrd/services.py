"""Volumes and logs: Moby's volume/local driver and its log drivers
(json-file, local), built here as `_ffi.Op`s so that the sync and the
asyncio client share them (see pylibctrd/_ops.py).

A named volume lives under the client's home, `<state_dir>-images/volumes/
<name>/_data` (dockerd: /var/lib/docker/volumes); a container's log under
`<state_dir>-images/containers/<id>/`, written by `stdio.Log`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from . import _args, _ffi
from ._ffi import Op, json_result, lib, no_result, op
from .types import from_unix_nanos


@dataclass(frozen=True)
class Volume:
    """`docker volume inspect`'s record of a volume."""

    name: str
    driver: str
    mountpoint: str
    created_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log: `stream` "stdout" or "stderr", the time
    Moby's copier read it, and the bytes as written (with the newline, none
    for a partial line)."""

    stream: str
    time: datetime
    data: bytes


def _volume(r: dict[str, Any]) -> Volume:
    return Volume(r["name"], r["driver"], r["mountpoint"], from_unix_nanos(r["created_at"]),
                  dict(r["labels"] or {}))


def create_volume_op(client: int, name: str | None, labels: Mapping[str, str] | None) -> Op[Volume]:
    name_c = _args.text(name if name is not None else "", "name")
    labels_json = b"" if labels is None else _args.json_object(labels, "labels")
    return op(lambda n, d: _volume(json_result(n, d)), lib().pylibctrd_client_create_volume,
              client, name_c, labels_json, len(labels_json))


def volumes_op(client: int) -> Op[list[Volume]]:
    return op(lambda n, d: [_volume(r) for r in json_result(n, d) or []],
              lib().pylibctrd_client_volumes, client)


def remove_volume_op(client: int, name: str) -> Op[None]:
    name_c = _args.text(name, "name")
    return op(no_result, lib().pylibctrd_client_remove_volume, client, name_c)


def apply_mounts(spec: dict[str, Any], mounts: list[Any], read_only: bool) -> dict[str, Any]:
    """The spec with `mounts` laid in by Moby's parser (pylibctrd_spec_apply_mounts)."""
    spec_json = _args.json_object(spec, "spec")
    mounts_json = _args.json_bytes(mounts, "mounts")
    _, data = _ffi.call(lib().pylibctrd_spec_apply_mounts, spec_json, len(spec_json),
                        mounts_json, len(mounts_json), int(read_only))
    result: dict[str, Any] = json.loads(data or b"{}")
    return result


# Logs

_RECORD = struct.Struct("<BqI")
_STREAMS = {1: "stdout", 2: "stderr"}


def _unix_nanos(value: datetime | float | int | None, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1e9)
    raise TypeError(f"{what} must be a datetime or Unix seconds, not {type(value).__name__}")


def decode_lines(data: bytes | None, timestamps: bool) -> list[LogLine]:
    lines = []
    view = memoryview(data or b"")
    at = 0
    while at < len(view):
        stream, nanos, size = _RECORD.unpack_from(view, at)
        at += _RECORD.size
        line = bytes(view[at:at + size])
        at += size
        when = datetime.fromtimestamp(nanos // 1000 / 1e6, tz=timezone.utc)
        if timestamps:  # docker logs -t: RFC 3339 with nanoseconds, then a space
            stamp = datetime.fromtimestamp(nanos // 10**9, tz=timezone.utc)
            line = (stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 10**9:09d}Z ").encode() + line
        lines.append(LogLine(_STREAMS.get(stream, "stdout"), when, line))
    return lines


class LogReaderOps(_ffi.Owned):
    """One reading of a container's log (a Go LogStream)."""

    def __init__(self, handle: int, timestamps: bool) -> None:
        super().__init__(handle)
        self.timestamps = timestamps
        self.ended = False

    def next_op(self, max_bytes: int, timeout: float | None) -> Op[list[LogLine]]:
        """The next lines (none when `timeout` passed first); sets `ended`."""
        ms = -1 if timeout is None else _args.millis(timeout, "timeout")

        def decode(number: int, data: bytes | None) -> list[LogLine]:
            if number:
                self.ended = True
            return decode_lines(data, self.timestamps)

        return op(decode, lib().pylibctrd_logs_next, self._handle, max_bytes, ms)

    def close(self) -> None:
        handle, self._handle = self._handle, 0
        if handle:
            try:
                _ffi.call(lib().pylibctrd_logs_close, handle)
            except Exception:
                pass

    def _finalize(self) -> None:
        self.close()


def logs_op(client: int, container_id: str, follow: bool, since: datetime | float | None,
            until: datetime | float | None, tail: int | None, timestamps: bool, stdout: bool,
            stderr: bool) -> Op[LogReaderOps]:
    id_c = _args.text(container_id, "container_id")
    if tail is not None and (not isinstance(tail, int) or isinstance(tail, bool)):
        raise TypeError(f"tail must be an int or None, not {type(tail).__name__}")
    tail_c = -1 if tail is None or tail < 0 else tail
    since_ns, until_ns = _unix_nanos(since, "since"), _unix_nanos(until, "until")
    return op(lambda handle, _: LogReaderOps(handle, bool(timestamps)),
              lib().pylibctrd_client_logs, client, id_c, _args.flag(follow, "follow"),
              since_ns, until_ns, tail_c, _args.flag(stdout, "stdout"),
              _args.flag(stderr, "stderr"))


class LogReader:
    """`client.logs()`: an iterator of `LogLine`s; with follow=True it ends
    when the container's output ends (or on `close()`)."""

    def __init__(self, ops: LogReaderOps) -> None:
        self._ops = ops
        self._lines: list[LogLine] = []

    def __iter__(self) -> LogReader:
        return self

    def __next__(self) -> LogLine:
        while not self._lines:
            if self._ops.ended:
                raise StopIteration
            self._lines = self._ops.next_op(1 << 20, None).run()
            self._lines.reverse()
        return self._lines.pop()

    def read(self, timeout: float | None = None) -> list[LogLine] | None:
        """The lines that arrive within `timeout` seconds (maybe none); None
        once the log ended."""
        if self._lines:
            lines, self._lines = self._lines[::-1], []
            return lines
        if self._ops.ended:
            return None
        lines = self._ops.next_op(1 << 20, timeout).run()
        return None if not lines and self._ops.ended else lines

    def close(self) -> None:
        self._ops.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Health checks


@dataclass(frozen=True)
class HealthResult:
    """One probe: Moby's HealthcheckResult (exit 0 healthy, else a failure;
    -1 when it timed out or could not run)."""

    start: datetime | None
    end: datetime | None
    exit_code: int
    output: str


@dataclass(frozen=True)
class Health:
    """A container's health as `docker inspect` shows it: status
    "starting", "healthy" or "unhealthy", the failures in a row, and the
    last five results (oldest first)."""

    status: str
    failing_streak: int
    log: list[HealthResult]


def health_config(test: list[str] | str, *, interval: float | None = None,
                  timeout: float | None = None, start_period: float | None = None,
                  start_interval: float | None = None,
                  retries: int | None = None) -> dict[str, Any]:
    """docker's HealthConfig from `--health-cmd` and friends (seconds): a
    string is a CMD-SHELL test, a list a CMD test (or a full ["CMD", ...] /
    ["CMD-SHELL", ...]). Unset values take Moby's defaults (30 s, 30 s, 0 s,
    3 retries)."""
    if isinstance(test, str):
        full = ["CMD-SHELL", test]
    elif test and test[0] in ("CMD", "CMD-SHELL", "NONE"):
        full = list(test)
    else:
        full = ["CMD", *test]
    config: dict[str, Any] = {"Test": full}
    for key, value in (("Interval", interval), ("Timeout", timeout),
                       ("StartPeriod", start_period), ("StartInterval", start_interval)):
        if value is not None:
            config[key] = int(value * 1e9)
    if retries is not None:
        config["Retries"] = retries
    return config


def _health(number: int, data: bytes | None) -> Health:
    return decode_health(json_result(number, data))


@dataclass(frozen=True)
class HealthEvent:
    """dockerd's `health_status` event: the container's health status
    changed (`action` "health_status: healthy" as `docker events` shows it);
    `seq` is the probe result that changed it."""

    seq: int
    action: str
    status: str
    time: datetime | None


@dataclass(frozen=True)
class HealthUpdate:
    """`task.watch_health()`'s answer: the health after `seq` probe results,
    the `health_status` events after the `after` asked for, whether probing
    ended (stopped, or the task exited), and the state as `docker inspect`
    shows `State.Health` (Moby's JSON, its times RFC 3339 with ns)."""

    seq: int
    health: Health
    events: list[HealthEvent]
    ended: bool
    docker: dict[str, Any]


def decode_health(h: Mapping[str, Any]) -> Health:
    """A Health from its wire (and record) form."""
    return Health(h["status"], h["failing_streak"],
                  [HealthResult(from_unix_nanos(r["start"]), from_unix_nanos(r["end"]),
                                r["exit_code"], r["output"]) for r in h["log"]])


def decode_health_update(u: Mapping[str, Any]) -> HealthUpdate:
    """A HealthUpdate from its wire (and record) form."""
    return HealthUpdate(u["seq"], decode_health(u["health"]),
                        [HealthEvent(e["seq"], e["action"], e["status"], from_unix_nanos(e["time"]))
                         for e in u["events"]], u["ended"], u["docker"])


def watch_health_op(task: int, after: int, timeout: float | None) -> Op[HealthUpdate]:
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise TypeError(f"after must be an int >= 0 (a HealthUpdate's seq), not {after!r}")
    ms = -1 if timeout is None else max(0, _args.millis(timeout, "timeout"))
    return op(lambda n, d: decode_health_update(json_result(n, d)),
              lib().pylibctrd_task_watch_health, task, after, ms)


def run_healthcheck(flags: Sequence[str], image: Mapping[str, Any] | None = None,
                    ) -> dict[str, Any] | None:
    """The health check `docker run` gives a container: `flags` are its
    health flags as command-line items (`["--health-cmd=pg_isready",
    "--health-interval=1s"]`, `"--no-healthcheck"`), parsed as the docker CLI
    does (pflag: its durations and messages, e.g. `invalid argument "x" for
    "--health-interval" flag: time: invalid duration "x"`, as
    `errors.InvalidParameter`), merged over the image's
    `config["Healthcheck"]` as dockerd does (unset values are the image's).
    None when no check runs (none anywhere, NONE, no test)."""
    if isinstance(flags, (str, bytes)):
        raise TypeError("flags must be a list of strings")
    flags_json = _args.json_bytes([_args.text(f, "flags").decode() for f in flags], "flags")
    image_json = b"" if image is None else _args.json_object(image, "image")
    _, data = _ffi.call(lib().pylibctrd_run_healthcheck, flags_json, len(flags_json),
                        image_json, len(image_json))
    result: dict[str, Any] | None = json.loads(data or b"null")
    return result


def state_text(*, running: bool, paused: bool = False, restarting: bool = False,
               started_at: datetime | None = None, finished_at: datetime | None = None,
               exit_code: int = 0, health: str | None = None) -> str:
    """docker ps' STATUS as Moby's `container.State.String()` writes it:
    "Up 5 seconds (healthy)", "Up 2 minutes (health: starting)", "Exited (3)
    About a minute ago", "Created"."""
    state = {"running": running, "paused": paused, "restarting": restarting,
             "started_at": _unix_nanos(started_at, "started_at"),
             "finished_at": _unix_nanos(finished_at, "finished_at"),
             "exit_code": exit_code, "health": health or ""}
    data = _args.json_object(state, "state")
    _, text = _ffi.call(lib().pylibctrd_state_text, data, len(data))
    return (text or b"").decode()


def start_health_op(task: int, healthcheck: Mapping[str, Any]) -> Op[None]:
    data = _args.json_object(healthcheck, "healthcheck")
    return op(no_result, lib().pylibctrd_task_start_health, task, data, len(data))


def stop_health_op(task: int) -> Op[None]:
    return op(no_result, lib().pylibctrd_task_stop_health, task)


def health_op(task: int) -> Op[Health]:
    return op(_health, lib().pylibctrd_task_health, task)
