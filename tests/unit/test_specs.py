"""Specs: Moby's default spec from Go, and the builders on top of it."""

from __future__ import annotations

from pathlib import Path

import pylibctrd


def test_default_spec_is_mobys() -> None:
    spec = pylibctrd.default_spec()
    assert spec["ociVersion"].startswith("1.")
    assert "CAP_NET_BIND_SERVICE" in spec["process"]["capabilities"]["bounding"]
    assert {"type": "pid"} in spec["linux"]["namespaces"]
    spec["process"]["args"] = ["mutated"]
    assert "args" not in pylibctrd.default_spec()["process"], "default_spec must return a copy"


def test_container_spec_fills_in_rootfs_command_and_terminal(tmp_path: Path) -> None:
    spec = pylibctrd.container_spec(tmp_path, ["sh", "-c", "echo hi"], terminal=True,
                                    cgroups_path="/x/y", cwd="/tmp")
    assert spec["root"] == {"path": str(tmp_path), "readonly": False}
    p = spec["process"]
    assert p["args"] == ["sh", "-c", "echo hi"] and p["cwd"] == "/tmp" and p["terminal"] is True
    assert "TERM=xterm" in p["env"] and any(e.startswith("PATH=") for e in p["env"])
    assert spec["linux"]["cgroupsPath"] == "/x/y"
    plain = pylibctrd.container_spec(tmp_path, ["true"], env=["A=1"])
    assert plain["process"]["env"] == ["A=1"] and plain["process"]["terminal"] is False
    assert "cgroupsPath" not in plain["linux"]


def test_process_spec_is_an_independent_copy(tmp_path: Path) -> None:
    spec = pylibctrd.container_spec(tmp_path, ["sleep", "60"])
    proc = pylibctrd.process_spec(spec, ["echo", "hi"], terminal=True)
    assert proc["args"] == ["echo", "hi"] and proc["terminal"] is True
    assert proc["capabilities"] == spec["process"]["capabilities"]
    proc["env"].append("B=2")
    assert "B=2" not in spec["process"]["env"]
    assert spec["process"]["args"] == ["sleep", "60"]
