"""What run, ps and inspect share about health checks: run's `--health-*`
and `--no-healthcheck` flags (parsed by the library as the docker CLI parses
them, merged over the image's HEALTHCHECK as dockerd does), probing an
attached run, and the recorded health (pylibctrd.healthrecord) as ps'
`Up 5 seconds (healthy)` and inspect's `State.Health`. Only the public API."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

import pylibctrd
from pylibctrd import errors, healthrecord, services

from ._common import EXIT_CLI, CLIError, iso, message

_DURATION_FLAGS = ("health-interval", "health-timeout", "health-start-period",
                   "health-start-interval")


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """docker run's health flags (docker's syntax: durations 1m30s, 500ms)."""
    g = p.add_argument_group("health check (docs/services.md#health)")
    g.add_argument("--health-cmd", metavar="CMD", help="command to run to check health")
    g.add_argument("--health-interval", metavar="DURATION",
                   help="time between running the check (ms|s|m|h) (default 0s: 30s)")
    g.add_argument("--health-retries", metavar="N",
                   help="consecutive failures needed to report unhealthy (default 0: 3)")
    g.add_argument("--health-timeout", metavar="DURATION",
                   help="maximum time to allow one check to run (ms|s|m|h) (default 0s: 30s)")
    g.add_argument("--health-start-period", metavar="DURATION",
                   help="start period for the container to initialize before starting"
                        " health-retries countdown (ms|s|m|h) (default 0s)")
    g.add_argument("--health-start-interval", metavar="DURATION",
                   help="time between running the check during the start period (ms|s|m|h)"
                        " (default 0s)")
    g.add_argument("--no-healthcheck", action="store_true",
                   help="disable any container-specified HEALTHCHECK")


def _flags(opts: argparse.Namespace) -> list[str]:
    out = [f"--{name}={value}" for name in ("health-cmd", "health-retries", *_DURATION_FLAGS)
           if (value := getattr(opts, name.replace("-", "_"), None)) is not None]
    return out + (["--no-healthcheck"] if opts.no_healthcheck else [])


def healthcheck(opts: argparse.Namespace, image: pylibctrd.Image | None) -> dict[str, Any] | None:
    """The container's health check from the flags and the image's (None:
    none runs); bad flags exit 125 with the docker CLI's message."""
    try:
        return services.run_healthcheck(_flags(opts),
                                        image.config.get("Healthcheck") if image else None)
    except errors.InvalidParameter as e:
        raise CLIError(message(e), EXIT_CLI) from e


def check_run_flags(opts: argparse.Namespace) -> None:
    """The flags alone, before anything is made."""
    opts.healthcheck = healthcheck(opts, None)


def container_dir(client: pylibctrd.Client, id: str) -> Path:
    return healthrecord.health_path(client.state_dir, id).parent


def record_attached(client: pylibctrd.Client, task: pylibctrd.Task,
                    config: dict[str, Any] | None) -> healthrecord.Recorder | None:
    """An attached run probes its container itself while it waits."""
    return healthrecord.record(task, container_dir(client, task.container.id), config)


# ps, inspect


def row_fields(client: pylibctrd.Client, id: str) -> dict[str, Any]:
    """ps --json's `health` (status) and `started`, while the process that
    probes the container runs."""
    rec = healthrecord.read_health(client.state_dir, id)
    if rec is None or rec.ended or not rec.alive:
        return {}
    return {"health": rec.health.status, "started": iso(rec.started_at)}


def inspect_fields(client: pylibctrd.Client, id: str) -> dict[str, Any]:
    """inspect's `State.Health` (Moby's JSON) and `Config.Healthcheck` as
    docker's, when recorded."""
    rec = healthrecord.read_health(client.state_dir, id)
    if rec is None:
        return {}
    return {"State": {"Health": rec.docker}, "Config": {"Healthcheck": rec.config}}


def status_text(row: dict[str, Any]) -> str | None:
    """docker ps' STATUS of a running container with a health check, as
    Moby writes it ("Up 5 seconds (healthy)"); None for others."""
    if row.get("status") not in ("running", "paused") or not row.get("health") \
            or not row.get("started"):
        return None
    started = datetime.fromisoformat(row["started"].replace("Z", "+00:00"))
    return services.state_text(running=True, paused=row["status"] == "paused",
                               started_at=started, health=row["health"])

