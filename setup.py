"""Builds the Go c-shared library, then the cffi extension that links it.

cffi_modules cannot be declared in pyproject.toml alone, hence this file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
GO_LIB = ROOT / "build" / "go" / "libpylibctrd.so"
# Stripped by default (35 MB -> ~24 MB); `make build` passes PYLIBCTRD_GO_LDFLAGS=
# so that the development library keeps its symbols for perf and Go traces.
GO_LDFLAGS = os.environ.get("PYLIBCTRD_GO_LDFLAGS", "-s -w")


def require_tools() -> None:
    """Building from source needs Go and a C compiler (cgo and the cffi
    extension); say which one is missing instead of a traceback."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "gcc")[0]
    missing = [f"{tool} ({why})" for tool, why in (
        ("go", "Go >= 1.22, https://go.dev/dl/"), (cc, "a C compiler, e.g. Debian's gcc"),
    ) if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            "pylibctrd: building from source needs " + " and ".join(missing)
            + " on PATH; or install a binary wheel (manylinux2014, x86_64 or aarch64), which needs neither"
        )


class build_go_then_ext(build_ext):
    """Runs `go build -buildmode=c-shared` first and ships the .so beside the extension."""

    def run(self) -> None:
        require_tools()
        GO_LIB.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "build", "-buildmode=c-shared", "-trimpath", f"-ldflags={GO_LDFLAGS}",
             "-o", str(GO_LIB), "./capi"],
            cwd=ROOT / "go",
            check=True,
        )
        super().run()
        for ext in self.extensions:
            target = Path(self.get_ext_fullpath(ext.name)).parent
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(GO_LIB, target / GO_LIB.name)

    def build_extensions(self) -> None:
        # A Python built with an rpath (pyenv, a /usr/local prefix) puts
        # `-Wl,-rpath,<its lib dir>` in LDSHARED, which would land in the
        # extension's RUNPATH before our `$ORIGIN`: keep only ours.
        linker = self.compiler.linker_so
        self.compiler.linker_so = [a for a in linker if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]
        super().build_extensions()


setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": build_go_then_ext},
    # cffi builds the extension against the stable ABI (Py_LIMITED_API):
    # one cp310-abi3 wheel serves every CPython >= 3.10.
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
