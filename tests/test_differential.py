"""Differential tests: every scenario in tests/scenarios runs through Go
libcontainerd directly (go/cmd/refrunner) and through pylibctrd, against the
same containerd; the normalised traces must be identical.

The one exception is a step marked `"known_difference": "<anchor>"`: its
error (and only its error) may differ, if the anchor names an entry of the
README's "Where pylibctrd differs" section. Each runner's error class for it
is still checked against `expect` ({"go": ..., "pylibctrd": ...})."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from pylibctrd.testing import Env
from differential.runner import Runner
from differential.trace import normalize

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))


def documented_differences() -> set[str]:
    """The anchors (`<a id="...">`) in the README's differences section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Where pylibctrd differs", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r'<a id="([^"]+)"></a>', section))


@pytest.fixture(scope="session")
def refrunner() -> Path:
    binary = ROOT / "build" / "refrunner"
    subprocess.run(["go", "build", "-o", str(binary), "./cmd/refrunner"], cwd=ROOT / "go", check=True)
    return binary


class GoRun:
    """The reference runner for one scenario, running in the background."""

    def __init__(self, binary: Path, env: Env, scenario: Path, prefix: str) -> None:
        # Files, not pipes: nobody reads pipes while the Python runner runs.
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(binary), "-address", env.address, "-namespace", env.namespace,
             "-state-dir", str(env.bundles), "-rootfs", str(env.rootfs), "-prefix", prefix,
             "-scenario", str(scenario)],
            stdout=self.out, stderr=self.err)

    def trace(self) -> list[dict[str, Any]]:
        try:
            self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.seek(0)
        self.err.seek(0)
        assert self.proc.returncode == 0, self.err.read().decode(errors="replace")
        return [json.loads(line) for line in self.out.read().splitlines()]


def run_python(env: Env, scenario: Path, prefix: str) -> list[dict[str, Any]]:
    steps = json.loads(scenario.read_text())["steps"]
    return Runner(env.address, env.namespace, str(env.bundles), str(env.rootfs), prefix).run(steps)


def expected(step: dict[str, Any], runner: str) -> str | None:
    want = step.get("expect")
    return want.get(runner) if isinstance(want, dict) else want


def check_expectations(steps: list[dict[str, Any]], trace: list[str], runner: str) -> None:
    """The scenario's own expectations hold for this runner's trace."""
    for step, line in zip(steps, trace):
        got = json.loads(line).get("error")
        want = expected(step, runner)
        if want is None:
            assert got is None, f"{runner}: step {step} failed: {got}"
        else:
            assert got is not None and got["class"] == want, f"{runner}: step {step}: {got}"


def honour_known_differences(steps: list[dict[str, Any]], trace: list[str]) -> list[str]:
    """Replaces the error of each step marked known_difference by its anchor;
    everything else in the line (and every other line) stays compared."""
    out = list(trace)
    for i, step in enumerate(steps):
        anchor = step.get("known_difference")
        if anchor is None:
            continue
        line = json.loads(out[i])
        if "error" in line:
            line["error"] = {"known_difference": anchor}
        out[i] = json.dumps(line, sort_keys=True)
    return out


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 60


def test_known_differences_are_documented() -> None:
    documented = documented_differences()
    for scenario in SCENARIOS:
        for step in json.loads(scenario.read_text())["steps"]:
            anchor = step.get("known_difference")
            if anchor is not None:
                assert anchor in documented, f"{scenario.stem}: {anchor} is not in the README"
                assert isinstance(step.get("expect"), dict), f"{scenario.stem}: per-runner expect"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_same_trace_as_go_libcontainerd(scenario: Path, env: Env, refrunner: Path) -> None:
    run = uuid.uuid4().hex[:6]
    paths = {str(env.bundles): "<state>", str(env.rootfs): "<rootfs>", str(env.workdir): "<work>"}
    go_prefix, py_prefix = f"dg{run}-", f"dp{run}-"
    doc = json.loads(scenario.read_text())
    unordered = bool(doc.get("unordered_events"))
    # Both runners at once (different ids), which halves the suite's time.
    go_run = GoRun(refrunner, env, scenario, go_prefix)
    try:
        py = normalize(run_python(env, scenario, py_prefix), py_prefix, paths, unordered)
    finally:
        go = normalize(go_run.trace(), go_prefix, paths, unordered)
    steps = doc["steps"]
    go_cmp, py_cmp = honour_known_differences(steps, go), honour_known_differences(steps, py)
    diff = "\n".join(difflib.unified_diff(go_cmp, py_cmp, "go libcontainerd", "pylibctrd",
                                          lineterm=""))
    assert go_cmp == py_cmp, f"traces differ for {scenario.stem}:\n{diff}"
    check_expectations(steps, go, "go")
    check_expectations(steps, py, "pylibctrd")
