"""cffi (API mode) build of pylibctrd._native over the Go c-shared library.

The cdef is read from the same hand-written header that cgo compiles against,
so the two sides cannot drift; the typed stubs pylibctrd/_native.pyi are
written from it too, so that mypy checks every call into C.
"""

from __future__ import annotations

import re
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
INCLUDE_DIR = ROOT / "go" / "include"
GO_BUILD_DIR = ROOT / "build" / "go"
STUBS = ROOT / "pylibctrd" / "_native.pyi"

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


# libc's free, called directly: a result's `data` is malloc'd by Go (C.CBytes),
# and freeing it through pylibctrd_free cost a second crossing into Go per call.
LIBC = """
void free(void *);
"""


# C parameter types as Python sees them through cffi.
_PY_TYPES = {
    "int": "int", "int64_t": "int", "uint64_t": "int", "uint32_t": "int", "size_t": "int",
    "char *": "bytes | CData", "void *": "CData", "pylibctrd_result *": "Result",
    "pylibctrd_ring *": "CData",
    "pylibctrd_event_fn": "CData", "pylibctrd_stdio_fn": "CData", "pylibctrd_log_fn": "CData",
}
_RETURNS = {"int": "int", "void": "None"}


def _param(decl: str) -> str:
    m = re.fullmatch(r"\s*(.*?)\s*(\w+)\s*", decl)
    assert m, decl
    ctype, name = re.sub(r"\s*\*$", " *", m.group(1)), m.group(2)
    if ctype not in _PY_TYPES:
        raise ValueError(f"no Python type for C type {ctype!r} (parameter {name})")
    return f"{name}: {_PY_TYPES[ctype]}"


def stubs() -> str:
    """pylibctrd/_native.pyi: the cffi module's ffi and lib, typed from the header."""
    cdef = header_cdef()
    lines = [
        "# Written by build_ffi.py from go/include/pylibctrd.h: do not edit.",
        "from typing import Callable, Literal, TypeVar, overload",
        "",
        "_F = TypeVar(\"_F\", bound=Callable[..., object])",
        "",
        "class CData: ...",
        "",
        "class Result(CData):",
        "    number: int",
        "    data: CData",
        "    len: int",
        "    port: int",
        "    call: int",
        "    flags: int",
        "",
        "class FFI:",
        "    NULL: CData",
        "    def new(self, cdecl: Literal[\"pylibctrd_result *\"]) -> Result: ...",
        "    def unpack(self, cdata: CData, length: int) -> bytes: ...",
        "    def cast(self, cdecl: Literal[\"pylibctrd_ring *\"], value: int) -> CData: ...",
        "    def from_buffer(self, buffer: memoryview) -> CData: ...",
        "    def memmove(self, dest: CData, src: bytes, n: int) -> None: ...",
        "    def def_extern(self, name: str) -> Callable[[_F], _F]: ...",
        "",
        "class Lib:",
    ]
    for body in re.findall(r"enum pylibctrd_\w+ \{(.*?)\}", cdef, re.S):
        lines += [f"    {name}: int" for name in re.findall(r"(PYLIBCTRD_\w+)\s*=", body)]
    lines += [f"    {name}: CData" for name in re.findall(r"extern \"Python\" \w+ (\w+)\(",
                                                           PYTHON_CALLBACKS)]
    for ret, name, params in re.findall(r"^(int|void) (pylibctrd_\w+)\((.*?)\);", cdef, re.M):
        args = ", ".join(_param(p) for p in params.split(",")) if params.strip() else ""
        lines.append(f"    def {name}(self, {args}, /) -> {_RETURNS[ret]}: ...")
    lines.append("    def free(self, p: CData, /) -> None: ...")
    lines += ["", "ffi: FFI", "lib: Lib", ""]
    return "\n".join(lines)


def write_stubs() -> None:
    text = stubs()
    if not STUBS.exists() or STUBS.read_text() != text:
        STUBS.write_text(text)


# The build flavours (docs/flavours.md): the Moby generation the Go library
# is built from. Each is its own pair of Go library and cffi module, so that
# several can be built into one installation; v26, the default, keeps the
# plain names. setup.py builds PYLIBCTRD_BUILD_FLAVOURS (default: v26);
# pylibctrd/_ffi/native.py loads PYLIBCTRD_FLAVOUR (default: v26).
DEFAULT_FLAVOUR = "v26"
FLAVOURS = ("v26", "v28")


def go_library(flavour: str) -> str:
    """The Go library's name for `-l` (lib<name>.so)."""
    return "pylibctrd" if flavour == DEFAULT_FLAVOUR else f"pylibctrd_{flavour}"


def native_module(flavour: str) -> str:
    return "pylibctrd._native" if flavour == DEFAULT_FLAVOUR else f"pylibctrd._native_{flavour}"


def builder(flavour: str) -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(header_cdef() + PYTHON_CALLBACKS + LIBC)
    ffi.set_source(
        native_module(flavour),
        '#include <stdlib.h>\n#include "pylibctrd.h"',
        include_dirs=[str(INCLUDE_DIR)],
        libraries=[go_library(flavour)],
        library_dirs=[str(GO_BUILD_DIR)],
        # The Go library is installed next to the extension module.
        extra_link_args=["-Wl,-rpath,$ORIGIN"],
    )
    return ffi


ffibuilder = builder("v26")
ffibuilder_v28 = builder("v28")
write_stubs()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
