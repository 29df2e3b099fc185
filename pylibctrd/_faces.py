"""What the sync and the asyncio face of an object share besides its
operations: the pylibctrd._ops object behind it and the facts read from it
without a call into containerd."""

from __future__ import annotations

from typing import Generic, TypeVar

from ._ops import ClientOps, ContainerOps, ProcessOps
from .daemon import Daemon
from .runtimes import Runtimes

O = TypeVar("O", ClientOps, ContainerOps, ProcessOps)


class Face(Generic[O]):
    _ops: O

    def __init__(self, ops: O) -> None:
        self._ops = ops

    def _label(self) -> str:
        return type(self).__name__ if type(self).__module__ == "pylibctrd.client" \
            else f"aio.{type(self).__name__}"


class ClientFace(Face[ClientOps]):
    @property
    def address(self) -> str:
        """The containerd socket."""
        return self._ops.address

    @property
    def namespace(self) -> str:
        """The containerd namespace (dockerd's is "moby")."""
        return self._ops.namespace

    @property
    def state_dir(self) -> str:
        """Where the bundle dirs `<state_dir>/<id>` are."""
        return self._ops.state_dir

    @property
    def daemon(self) -> Daemon | None:
        """The embedded containerd this client uses (None: one at `address`)."""
        return self._ops.daemon

    @property
    def runtimes(self) -> Runtimes:
        """The runtime table read at connect (daemon.json's "runtimes" and
        "default-runtime": pylibctrd.runtimes): `new_container(id, spec,
        *client.runtimes.get("crun"))` runs under crun; with a default-runtime,
        `new_container` without shim and options uses it."""
        return self._ops.runtimes

    @property
    def closed(self) -> bool:
        return self._ops.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{self._label()} {self.address!r} namespace={self.namespace!r} {state}>"


class ContainerFace(Face[ContainerOps]):
    def __init__(self, ops: ContainerOps) -> None:
        super().__init__(ops)
        self.id = ops.id

    def __repr__(self) -> str:
        return f"<{self._label()} {self.id!r}>"


class ProcessFace(Face[ProcessOps]):
    def __init__(self, ops: ProcessOps) -> None:
        super().__init__(ops)
        self.id = ops.id
        self.container_id = ops.container_id

    @property
    def pid(self) -> int:
        """The system pid."""
        return self._ops.pid()

    def __repr__(self) -> str:
        return f"<{self._label()} {self.id!r}>"
