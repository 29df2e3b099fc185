"""What this installation was built from: `pylibctrd.versions()` and `__version__`.

The Go side answers from the library's own build information (the module
versions the linker used and the toolchain), never from text typed by hand;
the package version comes from the installed distribution's metadata, whose
one source is pyproject.toml.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata

from ._ffi import call, json_result, lib

try:
    __version__ = metadata.version("pylibctrd")
except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"


@dataclass(frozen=True)
class Versions:
    """Versions are as their projects write them: Go module versions keep
    their `v` (`moby="v26.1.5"`, `containerd="v1.7.18"`; the v28 flavour
    has `moby="v28.5.2"`, `containerd="v2.1.4"`), `go` is
    `runtime.Version()` (`"go1.22.5"`)."""

    pylibctrd: str
    flavour: str     # the build flavour: "v26" (the default) or "v28"
    moby: str        # github.com/docker/docker, where libcontainerd comes from
    containerd: str  # github.com/containerd/containerd (v2 in the v28 flavour), the Go client
    go: str          # the toolchain that built libpylibctrd.so
    cffi: str
    python: str


def versions() -> Versions:
    """This installation's versions; `Client.version()` is the daemon's."""
    built = json_result(*call(lib().pylibctrd_versions))
    return Versions(
        pylibctrd=__version__,
        flavour=built["flavour"],
        # Moby predates Go modules: its module version carries "+incompatible".
        moby=built["moby"].removesuffix("+incompatible"),
        containerd=built["containerd"],
        go=built["go"],
        cffi=metadata.version("cffi"),
        python=platform.python_version(),
    )
