"""The runtime table's rules (pylibctrd.runtimes: Moby's setupRuntimes and
runtimes.Get, with its messages)."""

from __future__ import annotations

import json
import re
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


def test_runtime_args_make_mobys_wrapper_script(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYLIBCTRD_EXEC_ROOT", str(tmp_path))
    rt = Runtimes({"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--cgroup-manager=disabled"]}})
    shim, options = rt.get("crun")
    assert shim == RUNC_V2 and options is not None
    script = Path(options["BinaryName"])
    assert script.parent == tmp_path / "runtimes"
    assert script.read_text() == "#!/bin/sh\n/usr/bin/crun --cgroup-manager=disabled $@\n"
    assert script.stat().st_mode & 0o777 == 0o700
    # Named as dockerd names it: <name>.<base32 of the script's sha256, no vowels>.
    assert re.fullmatch(r"crun\.[0-9B-DF-HJ-NP-TV-Z-]{52}====", script.name), script.name
    assert rt.get("crun") == (shim, options)  # the same script, kept
    other = Runtimes(
        {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}}).get("crun")
    assert other.options != options and script.exists()


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(errors.InvalidParameter, match="unable to configure the daemon with file"):
        Runtimes.load(bad)
    bad.write_text(json.dumps({"runtimes": {"a": "x"}}))
    with pytest.raises(errors.InvalidParameter, match="runtimes: must map names to objects"):
        Runtimes.load(bad)
