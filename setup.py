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
GO_BUILD_DIR = ROOT / "build" / "go"
# Stripped by default (35 MB -> ~24 MB); `make build` passes PYLIBCTRD_GO_LDFLAGS=
# so that the development library keeps its symbols for perf and Go traces.
GO_LDFLAGS = os.environ.get("PYLIBCTRD_GO_LDFLAGS", "-s -w")

# The build flavours (docs/flavours.md; names as in build_ffi.py): the Moby
# generation each Go library is built from, and how `go build` selects it
# (go/go.<flavour>.flags).
# PYLIBCTRD_BUILD_FLAVOURS lists those to build (default: v26 alone); each is
# its own Go library and cffi module, so several fit in one installation.
DEFAULT_FLAVOUR = "v26"
FLAVOUR_NAMES = ("v26", "v28")


def go_flavour_flags(flavour: str) -> list[str]:
    """go/go.<flavour>.flags, one flag a line (none for the default)."""
    if flavour == DEFAULT_FLAVOUR:
        return []
    text = (ROOT / "go" / f"go.{flavour}.flags").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def build_flavours() -> list[str]:
    names = os.environ.get("PYLIBCTRD_BUILD_FLAVOURS", DEFAULT_FLAVOUR).replace(",", " ").split()
    unknown = [n for n in names if n not in FLAVOUR_NAMES]
    if unknown or not names:
        raise SystemExit(
            f"pylibctrd: PYLIBCTRD_BUILD_FLAVOURS={os.environ.get('PYLIBCTRD_BUILD_FLAVOURS')!r}: "
            f"want one or more of {', '.join(FLAVOUR_NAMES)}"
        )
    return sorted(set(names))


def go_library(flavour: str) -> Path:
    name = "libpylibctrd.so" if flavour == DEFAULT_FLAVOUR else f"libpylibctrd_{flavour}.so"
    return GO_BUILD_DIR / name


FLAVOURS = build_flavours()


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


def replace_file(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` through a new file renamed over it: a process that
    has the old `dst` mapped (a test run, a service on this tree) keeps its
    copy, where writing over it in place kills that process with SIGBUS."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


class build_go_then_ext(build_ext):
    """Runs `go build -buildmode=c-shared` first (once per flavour) and ships
    the .so files beside the extensions."""

    def run(self) -> None:
        require_tools()
        GO_BUILD_DIR.mkdir(parents=True, exist_ok=True)
        for flavour in FLAVOURS:
            subprocess.run(
                ["go", "build", *go_flavour_flags(flavour), "-buildmode=c-shared", "-trimpath",
                 f"-ldflags={GO_LDFLAGS}", "-o", str(go_library(flavour)), "./capi"],
                cwd=ROOT / "go",
                check=True,
            )
        super().run()
        for ext in self.extensions:
            target = Path(self.get_ext_fullpath(ext.name)).parent
            target.mkdir(parents=True, exist_ok=True)
            for flavour in FLAVOURS:
                replace_file(go_library(flavour), target / go_library(flavour).name)

    def copy_file(self, infile: str, outfile: str, *args: object, **kwargs: object) -> tuple[str, bool]:
        """The extension into the source tree (an editable install) by
        rename, as the Go libraries."""
        if os.path.isdir(outfile):
            outfile = os.path.join(outfile, os.path.basename(infile))
        replace_file(Path(infile), Path(outfile))
        return outfile, True

    def build_extensions(self) -> None:
        # A Python built with an rpath (pyenv, a /usr/local prefix) puts
        # `-Wl,-rpath,<its lib dir>` in LDSHARED, which would land in the
        # extension's RUNPATH before our `$ORIGIN`: keep only ours.
        linker = self.compiler.linker_so
        self.compiler.linker_so = [a for a in linker if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]
        super().build_extensions()


setup(
    cffi_modules=["build_ffi.py:ffibuilder" + ("" if f == DEFAULT_FLAVOUR else f"_{f}") for f in FLAVOURS],
    cmdclass={"build_ext": build_go_then_ext},
    # cffi builds the extension against the stable ABI (Py_LIMITED_API):
    # one cp310-abi3 wheel serves every CPython >= 3.10.
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
