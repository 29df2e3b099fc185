"""Where the Go sources this build pins live, for tests that compare the
Python side with them (read, never copied); None when Go is not here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

GO_MOD = Path(__file__).resolve().parents[2] / "go" / "go.mod"


def pinned(module: str) -> str:
    """The version go.mod requires of `module`."""
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", GO_MOD.read_text(), re.M)
    assert m, f"{module} is not in {GO_MOD}"
    return m.group(1)


def go(*args: str) -> str | None:
    if shutil.which("go") is None:
        return None
    return subprocess.run(["go", *args], capture_output=True, text=True, check=True,
                          cwd=GO_MOD.parent).stdout.strip()


def module_source(module: str) -> Path | None:
    """The module's sources in the Go module cache (`make build` downloads them)."""
    cache = go("env", "GOMODCACHE")
    if not cache:
        return None
    path = Path(cache) / f"{module}@{pinned(module)}"
    return path if path.is_dir() else None
