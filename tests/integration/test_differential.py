"""Differential tests: every scenario in tests/scenarios runs through Go
libcontainerd directly (go/cmd/refrunner) and through pylibctrd, against the
same containerd; the normalised traces must be identical.

Scenarios with `"registry": true` pull from and push to real registries the
session starts (Debian's docker-registry on 127.0.0.1, one plain and one with
htpasswd auth), filled with skopeo; their runners run one after the other
(containerd shares blobs across namespaces: a layer one runner downloaded
would be "Already exists" for the other).

The one exception is a step marked `"known_difference": "<anchor>"`: its
outcome (its error or result, and nothing else) may differ, if the anchor
names an entry of docs/differences.md ("Where pylibctrd differs"). Each runner's error class for it
is still checked against `expect` ({"go": ..., "pylibctrd": ...})."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from pylibctrd import Runtimes, imagebuild
from pylibctrd.imagebuild import Layer
from pylibctrd.testing import Env, Registry, oci_version
from differential.runner import Runner, merge_patch
from differential.runtimes import RUNTIME_DIFFERENCES, RUNTIMES
from gomod import flavour as build_flavour, go_flags
from differential.trace import normalize

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.json"))
#: The matrix's runtime switch (tests/conftest.py): both runners create every
#: container without runtime options of their own under this OCI runtime,
#: with the options the runtime table gives it.
RUNTIME = os.environ.get("PYLIBCTRD_TEST_RUNTIME") or None
#: And the OCI spec version both runners' specs carry instead of Moby's
#: (Debian 12's crun 1.8.1 refuses anything but 1.0.x and 1.1.x; Moby v26
#: writes 1.2.0): the matrix sets it for crun (COMPATIBILITY.md).
OCI_VERSION = oci_version()


def runtime_options(runtime: str | None) -> dict[str, Any] | None:
    return None if runtime is None else dict(Runtimes.load().get(runtime).options or {})


def with_runtime(doc: dict[str, Any], options: dict[str, Any] | None,
                 oci_version: str | None = None, runtime: str = "runc") -> dict[str, Any]:
    """The scenario as run under `runtime`: each step's `per_runtime` patch
    for it applied (a JSON merge patch; `{"skip": true}` drops the step:
    where a scenario's own expectations were written for runc, crun's are
    beside them, with the reason in tests/differential/runtimes.py),
    `options` (`{"BinaryName": ...}`) on each container-creating step that
    names none (as dockerd's --runtime does), and `oci_version` patched into
    every spec."""
    steps = []
    for s in doc["steps"]:
        patches = s.get("per_runtime") or {}
        unknown = set(patches) - set(RUNTIMES)
        assert not unknown, f"per_runtime names no runtime we run: {sorted(unknown)}"
        s = merge_patch({k: v for k, v in s.items() if k != "per_runtime"}, patches.get(runtime))
        if s.pop("skip", False):
            continue
        if s.get("op") in ("new_container", "replace_container"):
            if options is not None and "runtime_options" not in s:
                s = {**s, "runtime_options": options}
            if oci_version is not None:
                s = {**s, "spec_patch": {**(s.get("spec_patch") or {}), "ociVersion": oci_version}}
        steps.append(s)
    return {**doc, "steps": steps}


def documented_differences() -> set[str]:
    """The anchors (`<a id="...">`) in docs/differences.md, "Where pylibctrd
    differs from calling libcontainerd in Go"."""
    page = (ROOT / "docs" / "differences.md").read_text()
    return set(re.findall(r'<a id="([^"]+)"></a>', page))


@pytest.fixture(scope="session")
def refrunner() -> Path:
    # At the Moby the library under test is built from (its flavour).
    flavour = build_flavour()
    binary = ROOT / "build" / f"refrunner-{flavour}"
    subprocess.run(["go", "build", *go_flags(flavour), "-o", str(binary), "./cmd/refrunner"],
                   cwd=ROOT / "go", check=True)
    return binary


APP_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "GREETING=hello from the image", "MODE=image"],
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ['echo "$GREETING"; cat /etc/layer2.txt; ls /etc/removed.txt 2>&1; pwd; id; env'],
    "WorkingDir": "/srv",
    "User": "nobody",
    "Labels": {"org.example.layer": "two"},
}


def flip_byte(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]


@pytest.fixture(scope="session")
def image_archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archives the images-* scenarios import, built once with
    pylibctrd.imagebuild; both runners read these files."""
    d = tmp_path_factory.mktemp("images")
    base = imagebuild.busybox_layer(extra_files={"etc/removed.txt": "layer 1 only\n"})
    app = [base, Layer(files={"etc/layer2.txt": "from layer 2\n", "srv/hello.txt": "hi\n"},
                       dirs=["srv"], whiteouts=["etc/removed.txt"])]
    imagebuild.busybox_image(d / "busybox.tar")
    for fmt in ("docker", "oci"):
        for compress in (False, True):
            suffix = "gz" if compress else ""
            imagebuild.build_image(d / f"app-{fmt}.tar{'.gz' if compress else ''}", app,
                                   config=APP_CONFIG, name=f"app:{fmt}{suffix}", format=fmt,
                                   compress=compress)
    imagebuild.build_image(d / "untagged-oci.tar", app, config=APP_CONFIG, name=None, format="oci")
    imagebuild.build_image(d / "nocmd.tar", [base], config={}, name="nocmd:1")
    raw = (d / "app-docker.tar").read_bytes()
    (d / "truncated.tar").write_bytes(raw[: len(raw) // 2])
    members, built = imagebuild.image_members(app, config=APP_CONFIG, name="bad:oci", format="oci")
    blob = "blobs/sha256/" + built.diff_ids[1].split(":", 1)[1]
    members[blob] = flip_byte(members[blob])
    imagebuild.write_archive(d / "mismatch-oci.tar", members)
    members, built = imagebuild.image_members(app, config=APP_CONFIG, name="bad:docker")
    members[built.diff_ids[1].split(":", 1)[1] + "/layer.tar"] = Layer(files={"x": "other"}).tar()
    imagebuild.write_archive(d / "mismatch-docker.tar", members)
    members, built = imagebuild.image_members(app, config=APP_CONFIG, name="bad:noconfig",
                                              format="oci")
    del members["blobs/sha256/" + built.config_digest.split(":", 1)[1]]
    imagebuild.write_archive(d / "noconfig-oci.tar", members)
    return d


#: The test registries' user (the auth registry's htpasswd).
REGISTRY_USER = ("alice", "s3cret")


class Registries:
    """The registries the registry scenarios use, started (and filled) on
    first use: `plain` and `auth` (htpasswd, REGISTRY_USER) on 127.0.0.1,
    each holding diff/app:1, the two-layer app image with a layer of random
    bytes (no other test's content: nothing of it is in containerd yet); the
    plain one also diff/multi:1, an index of this machine's platform and
    one other (random layers)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.plain: Registry | None = None
        self.auth: Registry | None = None

    def addresses(self) -> tuple[str, str]:
        if self.plain is None or self.auth is None:
            base = imagebuild.busybox_layer()
            layers = [base, Layer(files={"srv/random.bin": os.urandom(300_000),
                                         "srv/hello.txt": "hi\n"}, dirs=["srv"])]
            built = imagebuild.build_image(self.workdir / "app.tar", layers, config=APP_CONFIG,
                                           name="app:1")
            self.plain = Registry(self.workdir / "plain").start()
            self.auth = Registry(self.workdir / "auth", users=dict([REGISTRY_USER])).start()
            self.plain.copy_in(built.path, "diff/app:1")
            here = imagebuild.go_arch()
            other = "arm64" if here == "amd64" else "amd64"
            layout = imagebuild.multi_platform_layout(self.workdir / "multi", [here, other])
            subprocess.run(["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false",
                            f"oci:{layout}:multi", f"docker://{self.plain.address}/diff/multi:1"],
                           check=True, capture_output=True, timeout=120)
            self.auth.copy_in(built.path, "diff/app:1", creds=REGISTRY_USER)
        return self.plain.address, self.auth.address

    def stop(self) -> None:
        for reg in (self.plain, self.auth):
            if reg is not None:
                reg.stop()


@pytest.fixture(scope="session")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    regs = Registries(tmp_path_factory.mktemp("registries"))
    try:
        yield regs
    finally:
        regs.stop()


def namespace_for(env: Env, doc: dict[str, Any], prefix: str) -> str:
    """The session's namespace, or one of the runner's own for scenarios
    with images (image names are per namespace, so two runners at once
    would share them); the test removes it afterwards."""
    return f"{env.namespace}-{prefix.rstrip('-')}" if doc.get("own_namespace") else env.namespace


def remove_namespace(env: Env, namespace: str) -> None:
    """containerd refuses to remove a namespace that still holds anything
    (containers, images, content, snapshots, leases): what a runner left is
    a failure. Its garbage collector may still be finishing: retry briefly."""
    deadline = time.monotonic() + 10
    while True:
        r = subprocess.run(["ctr", "-a", env.address, "namespaces", "remove", namespace],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"namespace {namespace} not empty: {r.stderr.strip()}")
        time.sleep(0.2)


class GoRun:
    """The reference runner for one scenario, running in the background."""

    def __init__(self, binary: Path, env: Env, scenario: Path, prefix: str, namespace: str,
                 images: Path, registries: tuple[str, str]) -> None:
        # Files, not pipes: nobody reads pipes while the Python runner runs.
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(binary), "-address", env.address, "-namespace", namespace,
             "-state-dir", str(env.bundles), "-rootfs", str(env.rootfs), "-prefix", prefix,
             "-scenario", str(scenario), "-images", str(images),
             "-registry", registries[0], "-auth-registry", registries[1]],
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


def run_python(env: Env, scenario: Path, prefix: str, namespace: str,
               images: Path, registries: tuple[str, str]) -> list[dict[str, Any]]:
    steps = with_runtime(json.loads(scenario.read_text()), runtime_options(RUNTIME),
                         OCI_VERSION, RUNTIME or "runc")["steps"]
    return Runner(env.address, namespace, str(env.bundles), str(env.rootfs), prefix,
                  str(images), *registries).run(steps)


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
    """Replaces the outcome (error or result) of each step marked
    known_difference by its anchor; everything else in the line (files,
    records) and every other line stays compared."""
    out = list(trace)
    for i, step in enumerate(steps):
        anchor = step.get("known_difference")
        if anchor is None:
            continue
        line = json.loads(out[i])
        line.pop("error", None)
        line.pop("result", None)
        line["outcome"] = {"known_difference": anchor}
        out[i] = json.dumps(line, sort_keys=True)
    return out


# A step may carry an object per build flavour (docs/flavours.md), merged
# over it (JSON merge patch) in that flavour's run: where Moby itself changed
# between v26 and v28 (e.g. what LoadImage accepts). The runners ignore it.
FLAVOURS = ("v26", "v28")


def flavoured(step: dict[str, Any], flavour: str) -> dict[str, Any]:
    out = {k: v for k, v in step.items() if k not in FLAVOURS}
    patched: dict[str, Any] = merge_patch(out, step[flavour]) if flavour in step else out
    return patched


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 120


def test_per_runtime_steps_are_known_runtime_differences() -> None:
    # A scenario changed for crun says why (runtimes.RUNTIME_DIFFERENCES);
    # its runc run stays the scenario as written, crun's differs.
    patched = 0
    for scenario in SCENARIOS:
        doc = json.loads(scenario.read_text())
        if any("per_runtime" in step for step in doc["steps"]):
            patched += 1
            assert scenario.stem in RUNTIME_DIFFERENCES, scenario.stem
            assert with_runtime(doc, None, None, "runc") != with_runtime(doc, None, None, "crun")
    assert patched >= 4


def test_known_differences_are_documented() -> None:
    documented = documented_differences()
    for scenario in SCENARIOS:
        for raw in json.loads(scenario.read_text())["steps"]:
            assert set(raw) & set(FLAVOURS) <= set(FLAVOURS) - {"v26"}, f"{scenario.stem}: v26 is the base"
            for step in (flavoured(raw, f) for f in FLAVOURS):
                anchor = step.get("known_difference")
                if anchor is not None:
                    assert anchor in documented, f"{scenario.stem}: {anchor} is not in docs/differences.md"
                    assert isinstance(step.get("expect"), dict), f"{scenario.stem}: per-runner expect"


def test_no_scenario_waits_for_the_exit_of_a_force_deleted_task() -> None:
    """containerd 2.x may never publish it (tests/scenarios/README.md): such a
    wait would time out in one run and not in the next."""
    for scenario in SCENARIOS:
        killed: set[str] = set()
        for step in json.loads(scenario.read_text())["steps"]:
            c = step.get("container")
            if step["op"] == "force_delete" or step["op"] == "replace_container":
                killed.add(c)
            elif step["op"] in ("new_task", "attach_task", "task") and "expect" not in step:
                killed.discard(c)  # a task of its own
            elif step["op"] == "wait_event" and step["event"] == "exit":
                assert step.get("process") or c not in killed, (
                    f"{scenario.stem}: waits for the exit of {c}'s force-deleted task")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_same_trace_as_go_libcontainerd(scenario: Path, env: Env, refrunner: Path,
                                        image_archives: Path, registries: Registries) -> None:
    run = uuid.uuid4().hex[:6]
    paths = {str(env.bundles): "<state>", str(env.rootfs): "<rootfs>", str(env.workdir): "<work>"}
    go_prefix, py_prefix = f"dg{run}-", f"dp{run}-"
    original = json.loads(scenario.read_text())
    doc = with_runtime(original, runtime_options(RUNTIME), OCI_VERSION, RUNTIME or "runc")
    ref_scenario = scenario
    if doc != original:  # the refrunner reads a file: the rewritten one
        ref_scenario = env.workdir / f"{scenario.stem}-{run}.json"
        ref_scenario.write_text(json.dumps(doc))
    unordered = bool(doc.get("unordered_events"))
    volatile: set[str] = set()
    go_ns, py_ns = namespace_for(env, doc, go_prefix), namespace_for(env, doc, py_prefix)
    regs = ("", "")
    if doc.get("registry"):
        assert doc.get("own_namespace"), f"{scenario.stem}: registry scenarios need own_namespace"
        regs = registries.addresses()
        paths.update({regs[0]: "<registry>", regs[1]: "<auth_registry>"})
    # Both runners at once (different ids), which halves the suite's time;
    # registry scenarios one after the other, the first's namespace (and so
    # its blobs) gone before the second starts.
    go_run = GoRun(refrunner, env, ref_scenario, go_prefix, go_ns, image_archives, regs)
    go_raw: list[dict[str, Any]] | None = None
    removed: set[str] = {env.namespace}
    try:
        if doc.get("registry"):
            try:
                go_raw = go_run.trace()
            finally:
                removed.add(go_ns)
                remove_namespace(env, go_ns)
        py = normalize(run_python(env, scenario, py_prefix, py_ns, image_archives, regs),
                       py_prefix, {py_ns: "<ns>", **paths}, unordered, volatile)
    finally:
        go = normalize(go_raw if go_raw is not None else go_run.trace(), go_prefix,
                       {go_ns: "<ns>", **paths}, unordered, volatile)
        for ns in {go_ns, py_ns} - removed:
            remove_namespace(env, ns)
    if os.environ.get("DIFF_DUMP"):  # a dir: both normalised traces, to compare by hand
        Path(os.environ["DIFF_DUMP"], scenario.stem + ".go").write_text("\n".join(go))
        Path(os.environ["DIFF_DUMP"], scenario.stem + ".py").write_text("\n".join(py))
    steps = [flavoured(step, build_flavour()) for step in doc["steps"]]
    go_cmp, py_cmp = honour_known_differences(steps, go), honour_known_differences(steps, py)
    diff = "\n".join(difflib.unified_diff(go_cmp, py_cmp, "go libcontainerd", "pylibctrd",
                                          lineterm=""))
    assert go_cmp == py_cmp, f"traces differ for {scenario.stem}:\n{diff}"
    # A scenario that reads a figure that cannot be compared says so.
    assert volatile == set(doc.get("volatile_figures", [])), (
        f"{scenario.stem}: reads the volatile figures {sorted(volatile)}: list them in"
        f" volatile_figures (only their type and presence are compared)")
    check_expectations(steps, go, "go")
    check_expectations(steps, py, "pylibctrd")
