"""Builds the Go c-shared library, then the cffi extension that links it.

cffi_modules cannot be declared in pyproject.toml alone, hence this file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
GO_LIB = ROOT / "build" / "go" / "libpylibctrd.so"


class build_go_then_ext(build_ext):
    """Runs `go build -buildmode=c-shared` first and ships the .so beside the extension."""

    def run(self) -> None:
        GO_LIB.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-buildmode=c-shared", "-trimpath", "-o", str(GO_LIB), "./capi"],
            cwd=ROOT / "go",
            check=True,
        )
        super().run()
        for ext in self.extensions:
            target = Path(self.get_ext_fullpath(ext.name)).parent
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(GO_LIB, target / GO_LIB.name)


setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": build_go_then_ext},
)
