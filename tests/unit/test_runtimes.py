"""The runtime table's rules (pylibctrd.runtimes: Moby's setupRuntimes and
runtimes.Get, with its messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pylibctrd import RUNC_V2, Runtime, Runtimes, errors


def test_stock_and_builtin_runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYLIBCTRD_CONFIG", str(tmp_path / "absent.json"))
    with pytest.raises(errors.InvalidParameter, match="unable to configure the daemon"):
        Runtimes.load()
    (tmp_path / "empty.json").write_text("{}")
    monkeypatch.setenv("PYLIBCTRD_CONFIG", str(tmp_path / "empty.json"))
    rt = Runtimes.load()  # the built-in crun only
    assert rt.get() == rt.get("runc") == rt.get(RUNC_V2) == Runtime(RUNC_V2, {"BinaryName": "runc"})
    assert rt.get("crun") == (RUNC_V2, {"BinaryName": "crun"})
    shim, options = rt.get("io.containerd.kata.v2")  # any shim name containerd resolves
    assert (shim, options) == ("io.containerd.kata.v2", None)


@pytest.mark.parametrize("name", ["nope", "/usr/bin/crun", "a/b.v2", ".x.v2"])
def test_unknown_names(name: str) -> None:
    with pytest.raises(errors.InvalidParameter, match=f"unknown or invalid runtime name: {name}"):
        Runtimes().get(name)


def test_daemon_json(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({
        "runtimes": {"crun": {"path": "/opt/crun"},
                     "kata": {"runtimeType": "io.containerd.kata.v2", "options": {"X": 1}}},
        "default-runtime": "kata"}))
    rt = Runtimes.load(config)
    assert rt.get("crun") == (RUNC_V2, {"BinaryName": "/opt/crun"})  # the file wins
    assert rt.get() == rt.get("kata") == ("io.containerd.kata.v2", {"X": 1})


@pytest.mark.parametrize("table,default,match", [
    ({"runc": {"path": "/x"}}, None, "runtime name 'runc' is reserved"),
    ({"a": {}}, None, "runtime a: either a runtimeType or a path must be configured"),
    ({"a": {"path": "x", "runtimeType": "io.x.v2"}}, None,
     "runtime a: cannot configure both path and runtimeType for the same runtime"),
    ({"a": {"path": "x", "options": {"k": 1}}}, None,
     "runtime a: options cannot be used with a path runtime"),
    ({"a": {"runtimeType": "io.x.v2", "runtimeArgs": ["--x"]}}, None,
     "runtime a: args cannot be used with a runtimeType runtime"),
    ({}, "nope", "specified default runtime 'nope' does not exist"),
])
def test_mobys_config_errors(table: dict[str, dict[str, object]], default: str | None,
                             match: str) -> None:
    with pytest.raises(errors.InvalidParameter, match=match):
        Runtimes(table, default)


def test_runtime_args_are_not_supported() -> None:
    with pytest.raises(errors.NotImplemented, match="runtimeArgs are not supported"):
        Runtimes({"a": {"path": "x", "runtimeArgs": ["--debug"]}})


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(errors.InvalidParameter, match="unable to configure the daemon with file"):
        Runtimes.load(bad)
    bad.write_text(json.dumps({"runtimes": {"a": "x"}}))
    with pytest.raises(errors.InvalidParameter, match="runtimes: must map names to objects"):
        Runtimes.load(bad)
