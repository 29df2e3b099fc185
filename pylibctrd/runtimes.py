"""OCI runtimes by name, as dockerd's `runtimes` and `default-runtime`
(daemon.json, `--add-runtime`): a name gives the shim and its options that
`Client.new_container` passes to libcontainerd.

Moby keeps these rules in unexported code of its `daemon` package
(daemon/runtime_unix.go: setupRuntimes, runtimes.Get), which cannot be
imported; they are followed here, with Moby's messages:

- `runc` (reserved) and `io.containerd.runc.v2` are the stock runtime: the
  runc shim with `{"BinaryName": "runc"}`.
- `{"path": P}`: the runc shim running the OCI runtime P (`BinaryName`,
  looked up on containerd's PATH when not absolute). With `"runtimeArgs"`,
  `BinaryName` is a wrapper script that runs `P ARGS $@`, written as dockerd
  writes it (wrapRuntime: `<name>.<hash of the script>` under the runtimes
  dir, `$PYLIBCTRD_EXEC_ROOT/runtimes`, default /run/pylibctrd/runtimes).
- `{"runtimeType": T, "options": {...}}`: shim T with those options.
- Any other name that containerd takes as a shim name (`io.containerd.kata.v2`)
  is that shim with no options; anything else is unknown.

The table is read from a daemon.json: `$PYLIBCTRD_CONFIG`, else
`/etc/pylibctrd/daemon.json` if it exists. `crun` is known without one
(`{"path": "crun"}`, Debian's package); the file can redefine it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from . import errors

#: The runc shim, libcontainerd's default runtime.
RUNC_V2 = "io.containerd.runc.v2"
#: dockerd's name for the stock runtime (config.StockRuntimeName).
STOCK_RUNTIME = "runc"
CONFIG_ENV = "PYLIBCTRD_CONFIG"
DEFAULT_CONFIG = "/etc/pylibctrd/daemon.json"
#: Where runtimeArgs wrapper scripts go (dockerd: <exec-root>/runtimes).
def scripts_dir() -> str:
    return os.path.join(os.environ.get("PYLIBCTRD_EXEC_ROOT", "/run/pylibctrd"), "runtimes")


#: Runtimes known without a config file.
BUILTIN: Mapping[str, Mapping[str, Any]] = {"crun": {"path": "crun"}}


class Runtime(NamedTuple):
    """What a runtime name stands for: `Client.new_container(id, spec,
    *runtime)` (shim, runtime_options)."""
    shim: str
    options: Mapping[str, Any] | None


def _stock() -> Runtime:
    return Runtime(RUNC_V2, {"BinaryName": STOCK_RUNTIME})


@dataclass(frozen=True)
class Runtimes:
    """A runtime table (daemon.json's "runtimes") and its default."""
    table: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default: str | None = None

    def __post_init__(self) -> None:
        if STOCK_RUNTIME in self.table:
            raise errors.InvalidParameter(f"runtime name '{STOCK_RUNTIME}' is reserved")
        for name, rt in self.table.items():
            self._configured(name, rt)
        if self.default is not None and self.default not in self.table \
                and self.default not in (STOCK_RUNTIME, RUNC_V2) \
                and not permissible_shim_name(self.default):
            raise errors.InvalidParameter(
                f"specified default runtime '{self.default}' does not exist")

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Runtimes:
        """The table of a daemon.json (default: `$PYLIBCTRD_CONFIG`, else
        /etc/pylibctrd/daemon.json if present) over the built-in ones."""
        if path is None:
            path = os.environ.get(CONFIG_ENV) or (
                DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None)
        config: Mapping[str, Any] = {}
        if path is not None:
            try:
                with open(path, encoding="utf-8") as f:
                    config = json.load(f)
            except (OSError, ValueError) as e:
                raise errors.InvalidParameter(f"unable to configure the daemon with file "
                                              f"{os.fspath(path)}: {e}") from None
            if not isinstance(config, Mapping):
                raise errors.InvalidParameter(f"{os.fspath(path)}: not a JSON object")
        table = config.get("runtimes") or {}
        default = config.get("default-runtime") or None
        if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
            raise errors.InvalidParameter("runtimes: must map names to objects")
        if default is not None and not isinstance(default, str):
            raise errors.InvalidParameter("default-runtime: must be a string")
        return cls({**BUILTIN, **table}, default)

    @staticmethod
    def _configured(name: str, rt: Mapping[str, Any]) -> Runtime:
        path, kind = rt.get("path") or "", rt.get("runtimeType") or ""
        options, args = rt.get("options") or {}, rt.get("runtimeArgs") or []
        if not path and not kind:
            raise errors.InvalidParameter(
                f"runtime {name}: either a runtimeType or a path must be configured")
        if path:
            if kind:
                raise errors.InvalidParameter(f"runtime {name}: cannot configure both path and"
                                              " runtimeType for the same runtime")
            if options:
                raise errors.InvalidParameter(
                    f"runtime {name}: options cannot be used with a path runtime")
            if args:
                if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                    raise errors.InvalidParameter(f"runtime {name}: runtimeArgs must be strings")
                return Runtime(RUNC_V2, {"BinaryName": wrap_runtime(name, path, args)})
            return Runtime(RUNC_V2, {"BinaryName": path})
        if args:
            raise errors.InvalidParameter(
                f"runtime {name}: args cannot be used with a runtimeType runtime")
        return Runtime(kind, dict(options) if options else None)

    def get(self, name: str | None = None) -> Runtime:
        """The runtime called `name` ("" or None: the default, else runc).
        An unknown name raises `InvalidParameter` as dockerd does."""
        name = name or self.default or STOCK_RUNTIME
        if name in (STOCK_RUNTIME, RUNC_V2):
            return _stock()
        rt = self.table.get(name)
        if rt is not None:
            return self._configured(name, rt)
        if not permissible_shim_name(name):
            raise errors.InvalidParameter(f"unknown or invalid runtime name: {name}")
        return Runtime(name, None)


# Moby's base32 alphabet without vowels, for the wrapper's name.
_B32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789BCDFGHJKLMNPQRSTVWXYZ-")


def wrap_runtime(name: str, binary: str, args: list[str], directory: str | None = None) -> str:
    """Moby's wrapRuntime: a shell script running `binary args $@` (the
    runc shim has no option for runtime arguments), named after a hash of
    its content so that scripts still used by running containers stay."""
    script = f"#!/bin/sh\n{binary} {' '.join(args)} $@\n".encode()
    suffix = base64.b32encode(hashlib.sha256(script).digest()).decode().translate(_B32)
    directory = directory or scripts_dir()
    path = os.path.join(directory, f"{name}.{suffix}")
    try:
        with open(path, "rb") as f:
            if f.read() == script:
                return path
    except OSError:
        pass
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.write(fd, script)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def permissible_shim_name(name: str) -> bool:
    """Moby's isPermissibleC8dRuntimeName: a name containerd resolves to a
    shim on PATH (`io.containerd.kata.v2` -> containerd-shim-kata-v2), never
    a path."""
    if os.path.isabs(name) or "/" in name:
        return False
    # containerd's shim.BinaryName: at least two dot-separated parts, the
    # last two name the binary, the first is not empty.
    parts = name.split(".")
    return len(parts) >= 2 and parts[0] != ""
