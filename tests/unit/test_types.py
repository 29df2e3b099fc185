"""Values: frozen dataclasses, str enums with Moby's and containerd's own
strings (compared with the Go sources this build pins), Go times as UTC."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

import pytest

from pylibctrd import EventInfo, EventType, ExitStatus, Status, Version
from pylibctrd.types import from_unix_nanos

from gomod import CONTAINERD_MODULE, flavour, module_source


def go_string_constants(module: str, file: str, type_name: str) -> set[str]:
    src = module_source(module)
    if src is None:
        pytest.skip(f"the sources of {module} are not in the Go module cache (make go-deps)")
    text = (src / file).read_text()
    return set(re.findall(rf"^\s*\w+\s+{type_name}\s*=\s*\"([^\"]*)\"", text, re.M))


def test_event_types_are_libcontainerds() -> None:
    go = go_string_constants("github.com/docker/docker", "libcontainerd/types/types.go", "EventType")
    assert {e.value for e in EventType} == go


def test_statuses_are_containerds() -> None:
    # containerd's client package: the module root up to v1.7, client/ in v2.
    module = CONTAINERD_MODULE[flavour()]
    go = go_string_constants(module, "client/task.go" if module.endswith("/v2") else "task.go", "ProcessStatus")
    assert {s.value for s in Status} == go
    assert Status("running") is Status.RUNNING


def test_go_times_become_aware_utc_datetimes() -> None:
    assert from_unix_nanos(None) is None
    t = from_unix_nanos(1_700_000_000_123_456_789)
    assert t == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert t is not None and t.tzinfo is timezone.utc


def test_values_are_frozen() -> None:
    values: list[object] = [
        Version("1.7.18", "abc"), ExitStatus(0, None, None),
        EventInfo("c", "p", 1, 0, None, None),
    ]
    for v in values:
        field = dataclasses.fields(v)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(v, field, "changed")
