"""The test switch for the spec version (PYLIBCTRD_TEST_OCI_VERSION: the
matrix's crun rows, Debian 12's crun 1.8.1 refusing Moby v26's 1.2.0) and
the crun wrapper that applies it to bundles (pylibctrd.testing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pylibctrd import testing
from pylibctrd.testing import OCI_VERSION_ENV, crun_runtime, oci_version, with_oci_version

MOBY = {"ociVersion": "1.2.0", "process": {"args": ["sleep", "1"]}}


def test_unset_keeps_mobys_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OCI_VERSION_ENV, raising=False)
    assert oci_version() is None
    assert with_oci_version(dict(MOBY)) == MOBY
    monkeypatch.setenv(OCI_VERSION_ENV, "")  # the matrix's `--crun-oci-version ''`
    assert oci_version() is None


def test_set_gives_every_spec_that_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OCI_VERSION_ENV, "1.1.0")
    assert oci_version() == "1.1.0"
    assert with_oci_version(dict(MOBY)) == {**MOBY, "ociVersion": "1.1.0"}


@pytest.mark.parametrize("bad", ["1.1.0/x", "1'; rm -rf /; '", "1.1 0"])
def test_a_version_that_could_break_the_wrapper_is_refused(
        bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OCI_VERSION_ENV, bad)
    with pytest.raises(ValueError, match="no OCI spec version"):
        oci_version()
    with pytest.raises(ValueError, match="no OCI spec version"):
        crun_runtime(oci_version=bad)


def fake_crun(tmp_path: Path) -> Path:
    """A "crun" that records its arguments and the bundle's spec version."""
    crun = tmp_path / "fake-crun"
    crun.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\n')
    crun.chmod(0o755)
    return crun


def test_the_wrapper_rewrites_only_the_bundles_spec_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYLIBCTRD_EXEC_ROOT", str(tmp_path / "run"))
    monkeypatch.setattr(testing, "cgroup_hybrid_with_v2_controllers", lambda: False)
    crun = fake_crun(tmp_path)
    assert crun_runtime(str(crun)) == {"path": str(crun)}  # bare: crun itself
    wrapper = crun_runtime(str(crun), oci_version="1.1.0")["path"]
    assert Path(wrapper).parent == tmp_path / "run" / "runtimes"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    # As Go writes it: compact, ociVersion first; a later mention stays.
    spec = {**MOBY, "annotations": {"note": '"ociVersion":"1.2.0"'}}
    (bundle / "config.json").write_text(json.dumps(spec, separators=(",", ":")))
    args = ["--root", "/r", "--log", "/l", "create", "--bundle", str(bundle), "--pid-file",
            "/p", "c1"]
    subprocess.run([wrapper, *args], check=True, timeout=30)
    assert json.loads((bundle / "config.json").read_text()) == {**spec, "ociVersion": "1.1.0"}
    subprocess.run([wrapper, "state", "c1"], check=True, timeout=30)  # no bundle: nothing to do
    assert (tmp_path / "calls").read_text().splitlines() == [" ".join(args), "state c1"]
