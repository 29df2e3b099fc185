"""`pylibctrd.healthrecord.Recorder` against a fake task (no daemon): the
record it leaves says probing ended once `stop()` returns, whether the
watch gave its last update or ended on an error."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from pylibctrd import Task, errors
from pylibctrd.healthrecord import Recorder
from pylibctrd.services import Health, HealthUpdate


class FakeTask:
    """Probing that goes on until stop_health; the watch then gives a last
    update with `ended`, or raises (`fails`)."""

    def __init__(self, *, fails: bool) -> None:
        self.fails = fails
        self.stopped = threading.Event()

    def start_health(self, config: Any) -> None:
        pass

    def watch_health(self, after: int = 0, timeout: float | None = None) -> HealthUpdate:
        if timeout == 0:
            return update(after, ended=False)
        self.stopped.wait(10)
        if self.fails:
            raise errors.NotFound("the task's health monitor is gone")
        return update(after + 1, ended=True)

    def stop_health(self) -> None:
        self.stopped.set()


def update(seq: int, *, ended: bool) -> HealthUpdate:
    return HealthUpdate(seq, Health("healthy", 0, []), [], ended, {})


@pytest.mark.parametrize("fails", [False, True], ids=["last-update", "watch-error"])
def test_the_record_says_ended_once_stop_returns(tmp_path: Path, fails: bool) -> None:
    path = tmp_path / "health.json"
    recorder = Recorder(cast(Task, FakeTask(fails=fails)), path, {"Test": ["CMD", "true"]})
    recorder.start()
    assert json.loads(path.read_text())["update"]["ended"] is False
    recorder.stop(timeout=10)
    assert json.loads(path.read_text())["update"]["ended"] is True
