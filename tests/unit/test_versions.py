"""pylibctrd.versions(): read from the library's Go build info, so they
must be what go.mod pins and what the local toolchain built."""

from __future__ import annotations

import dataclasses
import platform
import re
from pathlib import Path

from importlib import metadata

import pytest

import pylibctrd
from pylibctrd.testing import drops_tasks_that_exited_while_down, server_release

from gomod import CONTAINERD_MODULE, MOD_FILES, go, pinned

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_versions_come_from_the_build() -> None:
    v = pylibctrd.versions()
    assert v.flavour in MOD_FILES
    assert v.moby == pinned("github.com/docker/docker").removesuffix("+incompatible")
    assert v.moby.startswith(v.flavour + "."), (v.flavour, v.moby)  # v26 -> v26.1.5, v28 -> v28.5.2
    assert v.containerd == pinned(CONTAINERD_MODULE[v.flavour])
    assert re.fullmatch(r"go1\.\d+(\.\d+)?\S*", v.go), v.go
    assert v.cffi == metadata.version("cffi") and v.python == platform.python_version()
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.go = "go0"  # type: ignore[misc]


def test_go_version_is_the_toolchain_that_built_the_library() -> None:
    local = go("env", "GOVERSION")
    if local is None:
        pytest.skip("no go on PATH to compare with")
    assert pylibctrd.versions().go == local


def test_package_version_comes_from_pyproject() -> None:
    m = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(), re.M)
    assert m
    assert pylibctrd.__version__ == m.group(1) == pylibctrd.versions().pylibctrd


@pytest.mark.parametrize("version, release, drops", [
    ("1.6.20~ds1", (1, 6), False),  # Debian's
    ("v1.7.35", (1, 7), True),      # containerd's own builds
    ("v2.4.2", (2, 4), True),
])
def test_server_release_and_the_per_server_expectations(version: str, release: tuple[int, int],
                                                        drops: bool) -> None:
    assert server_release(version) == release
    assert drops_tasks_that_exited_while_down(version) is drops
