"""docker run's health check without a daemon: the flags parsed as the docker
CLI does and merged over the image's HEALTHCHECK as dockerd does
(`services.run_healthcheck`), and docker ps' STATUS as Moby writes it
(`services.state_text`); the health records other processes read
(`healthrecord`)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pylibctrd import errors, healthrecord, services

IMAGE = {"Test": ["CMD-SHELL", "pg_isready"], "Interval": 60 * 10**9, "Retries": 5}


def test_flags_override_the_images_healthcheck_field_by_field() -> None:
    got = services.run_healthcheck(["--health-interval=1m30s", "--health-timeout=250ms"], IMAGE)
    assert got == {"Test": ["CMD-SHELL", "pg_isready"], "Interval": 90 * 10**9,
                   "Timeout": 250 * 10**6, "Retries": 5}
    got = services.run_healthcheck(["--health-cmd=test -f /ready", "--health-retries=2"], IMAGE)
    assert got is not None and got["Test"] == ["CMD-SHELL", "test -f /ready"]
    assert (got["Interval"], got["Retries"]) == (60 * 10**9, 2)
    assert services.run_healthcheck([], IMAGE) == IMAGE


@pytest.mark.parametrize("flags, image", [
    (["--no-healthcheck"], IMAGE),                   # disables the image's
    ([], None),                                      # none anywhere
    (["--health-interval=1s"], None),                # settings without a test
    ([], {"Test": ["NONE"]}),                        # the image's HEALTHCHECK NONE
])
def test_no_check_runs(flags: list[str], image: dict[str, object] | None) -> None:
    assert services.run_healthcheck(flags, image) is None


def test_bad_flags_are_invalid_parameter_with_the_docker_clis_message() -> None:
    with pytest.raises(errors.InvalidParameter,
                       match=r'^invalid argument "1x" for "--health-interval" flag: '
                             r'time: unknown unit "x" in duration "1x"$'):
        services.run_healthcheck(["--health-interval=1x"])
    with pytest.raises(errors.InvalidParameter, match="^--health-timeout cannot be negative$"):
        services.run_healthcheck(["--health-timeout=-1s", "--health-cmd=true"])
    with pytest.raises(TypeError):
        services.run_healthcheck("--health-cmd=true")


def test_ps_status_is_mobys_state_string() -> None:
    now = datetime.now(timezone.utc)
    assert services.state_text(running=True, started_at=now - timedelta(seconds=5),
                               health="healthy") == "Up 5 seconds (healthy)"
    assert services.state_text(running=True, started_at=now - timedelta(seconds=1),
                               health="starting") == "Up 1 second (health: starting)"
    assert services.state_text(running=True, started_at=now - timedelta(minutes=3),
                               health="unhealthy") == "Up 3 minutes (unhealthy)"
    assert services.state_text(running=True, paused=True, started_at=now - timedelta(hours=1),
                               health="healthy") == "Up About an hour (Paused)"
    assert services.state_text(running=False, started_at=now - timedelta(hours=3),
                               finished_at=now - timedelta(seconds=70),
                               exit_code=3) == "Exited (3) About a minute ago"
    assert services.state_text(running=False) == "Created"


def test_health_records_and_their_events_for_other_processes(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "state")
    home = Path(f"{state_dir}-images") / "containers"
    assert healthrecord.read_health(state_dir, "a") is None
    for id, statuses in (("a", ["healthy", "unhealthy"]), ("b", ["unhealthy"])):
        (home / id).mkdir(parents=True)
        events = [{"seq": i + 1, "action": f"health_status: {s}", "status": s,
                   "time": 1_700_000_000_000_000_000 + i} for i, s in enumerate(statuses)]
        update = {"seq": 7, "ended": False, "docker": {"Status": statuses[-1]}, "events": events,
                  "health": {"status": statuses[-1], "failing_streak": 3, "log": [
                      {"start": 1, "end": 2, "exit_code": 1, "output": "no\n"}]}}
        (home / id / healthrecord.HEALTH_FILE).write_text(json.dumps(
            {"config": {"Test": ["CMD", "x"]}, "update": update, "started_at": None,
             "pid": os.getpid()}))
    rec = healthrecord.read_health(state_dir, "a")
    assert rec is not None and rec.alive and not rec.ended and rec.seq == 7
    assert (rec.health.status, rec.health.failing_streak, rec.health.log[0].output) == (
        "unhealthy", 3, "no\n")
    assert rec.docker == {"Status": "unhealthy"} and rec.config == {"Test": ["CMD", "x"]}
    seen: dict[str, int] = {}
    got = [(id, e.action) for id, e in healthrecord.new_events(state_dir, seen)]
    assert got == [("a", "health_status: healthy"), ("a", "health_status: unhealthy"),
                   ("b", "health_status: unhealthy")]
    assert healthrecord.new_events(state_dir, seen) == []  # nothing new
    (home / "b" / healthrecord.HEALTH_FILE).write_text("{not json")
    assert healthrecord.read_health(state_dir, "b") is None
