"""cffi (API mode) build of pylibctrd._native over the Go c-shared library.

The cdef is read from the same hand-written header that cgo compiles against,
so the two sides cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
INCLUDE_DIR = ROOT / "go" / "include"
GO_BUILD_DIR = ROOT / "build" / "go"

# The Python side of the trampolines (see go/capi/trampoline.c).
PYTHON_CALLBACKS = """
extern "Python" int _on_event(uint64_t, char *, size_t, char *, size_t);
extern "Python" int _on_stdio(uint64_t, uint64_t, uint64_t, uint64_t, char *, size_t);
extern "Python" void _on_log(int, char *, size_t);
"""


def header_cdef() -> str:
    """The header without comments and preprocessor lines (cffi parses neither)."""
    text = (INCLUDE_DIR / "pylibctrd.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


ffibuilder = cffi.FFI()
ffibuilder.cdef(header_cdef() + PYTHON_CALLBACKS)
ffibuilder.set_source(
    "pylibctrd._native",
    '#include "pylibctrd.h"',
    include_dirs=[str(INCLUDE_DIR)],
    libraries=["pylibctrd"],
    library_dirs=[str(GO_BUILD_DIR)],
    # libpylibctrd.so is installed next to the extension module.
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
