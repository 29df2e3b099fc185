"""Where the Go sources this build pins live, for tests that compare the
Python side with them (read, never copied); None when Go is not here.

Each build flavour (docs/flavours.md) has its module file and `go` flags
(go/go.<flavour>.flags); the flavour is the loaded library's."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

GO_DIR = Path(__file__).resolve().parents[1] / "go"
GO_MOD = GO_DIR / "go.mod"  # the default flavour's
MOD_FILES = {"v26": "go.mod", "v28": "go.v28.mod"}
# The module of containerd's Go client, and the Moby tag, per flavour.
CONTAINERD_MODULE = {"v26": "github.com/containerd/containerd", "v28": "github.com/containerd/containerd/v2"}


@functools.cache
def flavour() -> str:
    """The flavour of the library this process loads."""
    import pylibctrd
    return pylibctrd.versions().flavour


def go_mod(flavour_: str | None = None) -> Path:
    return GO_DIR / MOD_FILES[flavour_ or flavour()]


def go_flags(flavour_: str | None = None) -> list[str]:
    """go/go.<flavour>.flags (as setup.py reads them)."""
    name = flavour_ or flavour()
    if name == "v26":
        return []
    lines = (GO_DIR / f"go.{name}.flags").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pinned(module: str, flavour_: str | None = None) -> str:
    """The version the flavour's module file requires of `module`."""
    mod = go_mod(flavour_)
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", mod.read_text(), re.M)
    assert m, f"{module} is not in {mod}"
    return m.group(1)


def go(*args: str) -> str | None:
    if shutil.which("go") is None:
        return None
    return subprocess.run(["go", *args], capture_output=True, text=True, check=True,
                          cwd=GO_DIR).stdout.strip()


def module_source(module: str) -> Path | None:
    """The module's sources in the Go module cache (`make build` downloads them)."""
    cache = go("env", "GOMODCACHE")
    if not cache:
        return None
    path = Path(cache) / f"{module}@{pinned(module)}"
    return path if path.is_dir() else None
