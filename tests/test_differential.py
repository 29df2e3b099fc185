"""Differential tests: every scenario in tests/scenarios runs through Go
libcontainerd directly (go/cmd/refrunner) and through pylibctrd, against the
same containerd; the normalised traces must be identical."""

from __future__ import annotations

import difflib
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from pylibctrd.testing import Env
from differential.runner import Runner
from differential.trace import normalize

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))


@pytest.fixture(scope="session")
def refrunner() -> Path:
    binary = ROOT / "build" / "refrunner"
    subprocess.run(["go", "build", "-o", str(binary), "./cmd/refrunner"], cwd=ROOT / "go", check=True)
    return binary


def run_go(binary: Path, env: Env, scenario: Path, prefix: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(binary), "-address", env.address, "-namespace", env.namespace,
         "-state-dir", str(env.bundles), "-rootfs", str(env.rootfs), "-prefix", prefix,
         "-scenario", str(scenario)],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def run_python(env: Env, scenario: Path, prefix: str) -> list[dict[str, Any]]:
    steps = json.loads(scenario.read_text())["steps"]
    return Runner(env.address, env.namespace, str(env.bundles), str(env.rootfs), prefix).run(steps)


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 25


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_same_trace_as_go_libcontainerd(scenario: Path, env: Env, refrunner: Path) -> None:
    run = uuid.uuid4().hex[:6]
    paths = {str(env.bundles): "<state>", str(env.rootfs): "<rootfs>"}
    go_prefix, py_prefix = f"dg{run}-", f"dp{run}-"
    go = normalize(run_go(refrunner, env, scenario, go_prefix), go_prefix, paths)
    py = normalize(run_python(env, scenario, py_prefix), py_prefix, paths)
    diff = "\n".join(difflib.unified_diff(go, py, "go libcontainerd", "pylibctrd", lineterm=""))
    assert go == py, f"traces differ for {scenario.stem}:\n{diff}"

    # The scenario's own expectations hold (for both, since the traces are equal).
    steps = json.loads(scenario.read_text())["steps"]
    for step, line in zip(steps, go):
        got = json.loads(line).get("error")
        want = step.get("expect")
        if want is None:
            assert got is None, f"step {step} failed: {got}"
        else:
            assert got is not None and got["class"] == want, f"step {step}: {got}"
