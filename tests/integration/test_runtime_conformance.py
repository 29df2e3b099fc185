"""The runtime conformance kit: every differential scenario runs through
pylibctrd twice against the same containerd, once with runc and once with
crun as the runc shim's BinaryName (dockerd's `--add-runtime crun=crun`,
with pylibctrd.testing.crun_runtime()'s arguments for this host), the same
specs for both, at OCI version 1.1.0 (which both read: Debian 12's crun
1.8.1 refuses Moby's 1.2.0, see COMPATIBILITY.md);
the normalised traces (errors, events, exit codes, outputs, files) must be
identical, except where RUNTIME_DIFFERENCES names the scenario with the
reason (COMPATIBILITY.md lists them). A difference not listed fails, and so
does a listed one that is gone.

`CONFORMANCE_DUMP=DIR` writes both traces of each scenario that differs
(matrix/run.py puts their diffs into COMPATIBILITY.md)."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pylibctrd import Runtimes
from pylibctrd.testing import Env, crun_runtime
from differential.runner import Runner
from differential.runtimes import RUNTIME_DIFFERENCES
from differential.trace import normalize
from test_differential import (  # the differential suite's scenarios and images
    SCENARIOS, image_archives, namespace_for, remove_namespace, with_runtime,
)

__all__ = ["image_archives"]  # a fixture, used by name

BASE, OTHER = "runc", "crun"
#: The registry scenarios pull and push images and run nothing a runtime
#: could do differently: left out.
KIT = [s for s in SCENARIOS if not json.loads(s.read_text()).get("registry")]
RUNC_OPTIONS = re.compile(r'("type_url": "containerd\.runc\.v1\.Options", "value": )"[^"]*"')
OCI_VERSION = "1.1.0"


def options(runtime: str) -> dict[str, Any]:
    table = Runtimes({"crun": crun_runtime()})
    return dict(table.get(runtime).options or {})


def run(env: Env, doc: dict[str, Any], runtime: str, images: Path) -> list[str]:
    prefix = f"r{runtime[:2]}{uuid.uuid4().hex[:6]}-"
    ns = namespace_for(env, doc, prefix)
    paths = {str(env.bundles): "<state>", str(env.rootfs): "<rootfs>", str(env.workdir): "<work>"}
    steps = with_runtime(doc, options(runtime), OCI_VERSION, runtime)["steps"]
    try:
        raw = Runner(env.address, ns, str(env.bundles), str(env.rootfs), prefix,
                     str(images)).run(steps)
    finally:
        if ns != env.namespace:
            remove_namespace(env, ns)
    lines = normalize(raw, prefix, {ns: "<ns>", **paths}, bool(doc.get("unordered_events")), set())
    # The records carry the shim options, BinaryName included: the one
    # difference that is the point.
    return [RUNC_OPTIONS.sub(r'\1"<runtime options>"', line) for line in lines]


def test_known_runtime_differences_name_scenarios() -> None:
    names = {s.stem for s in SCENARIOS}
    for name, reason in RUNTIME_DIFFERENCES.items():
        assert name in names, f"{name}: no such scenario"
        assert reason.strip(), f"{name}: give the reason"


@pytest.mark.parametrize("scenario", KIT, ids=[s.stem for s in KIT])
def test_runc_and_crun_give_the_same_trace(scenario: Path, env: Env,
                                           image_archives: Path) -> None:
    if shutil.which(OTHER) is None:
        pytest.skip(f"{OTHER} is not installed (Debian package {OTHER}; make system)")
    doc = json.loads(scenario.read_text())
    with ThreadPoolExecutor(2) as pool:  # both at once: half the time
        base_f = pool.submit(run, env, doc, BASE, image_archives)
        other_f = pool.submit(run, env, doc, OTHER, image_archives)
        base, other = base_f.result(), other_f.result()
    if base != other and os.environ.get("CONFORMANCE_DUMP"):
        out = Path(os.environ["CONFORMANCE_DUMP"])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{scenario.stem}.{BASE}").write_text("\n".join(base) + "\n")
        (out / f"{scenario.stem}.{OTHER}").write_text("\n".join(other) + "\n")
    known = RUNTIME_DIFFERENCES.get(scenario.stem)
    if known is not None:
        assert base != other, f"{scenario.stem}: listed as differing ({known}), but it does not"
        return
    diff = "\n".join(difflib.unified_diff(base, other, BASE, OTHER, lineterm=""))
    assert base == other, f"{scenario.stem}: runc and crun differ:\n{diff}"
