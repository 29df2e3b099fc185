"""OCI runtimes by name, as dockerd's `runtimes` and `default-runtime`
(daemon.json, `--add-runtime`): a name gives the shim and its options that
`Client.new_container` passes to libcontainerd.

Moby keeps these rules in unexported code of its `daemon` package
(daemon/runtime_unix.go: setupRuntimes, runtimes.Get), which cannot be
imported; they are followed here, with Moby's messages:

- `runc` (reserved) and `io.containerd.runc.v2` are the stock runtime: the
  runc shim with `{"BinaryName": "runc"}`.
- `{"path": P}`: the runc shim running the OCI runtime P (`BinaryName`,
  looked up on containerd's PATH when not absolute). `runtimeArgs`, for which
  dockerd writes a wrapper script, are not supported.
- `{"runtimeType": T, "options": {...}}`: shim T with those options.
- Any other name that containerd takes as a shim name (`io.containerd.kata.v2`)
  is that shim with no options; anything else is unknown.

The table is read from a daemon.json: `$PYLIBCTRD_CONFIG`, else
`/etc/pylibctrd/daemon.json` if it exists. `crun` is known without one
(`{"path": "crun"}`, Debian's package); the file can redefine it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from . import errors

#: The runc shim, libcontainerd's default runtime.
RUNC_V2 = "io.containerd.runc.v2"
#: dockerd's name for the stock runtime (config.StockRuntimeName).
STOCK_RUNTIME = "runc"
CONFIG_ENV = "PYLIBCTRD_CONFIG"
DEFAULT_CONFIG = "/etc/pylibctrd/daemon.json"
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
                raise errors.NotImplemented(f"runtime {name}: runtimeArgs are not supported"
                                            " (dockerd wraps them in a script)")
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
