"""pylibctrd.aio: the asyncio API, every blocking method a coroutine.

    from pylibctrd import aio
    async with await aio.Client.connect() as client:
        ctr = await client.new_container("demo", spec)
        task = await ctr.new_task()
        await task.start()
        info = await task.wait()

Calls run on goroutines in the Go library, each with its own context; their
completions wake the loop through one eventfd per client (no Python thread
per call). Cancelling an awaiting task cancels that call's Go context at
once. Each class is a face over the same pylibctrd._ops object as its sync
twin, so the arguments are checked and the answers decoded by the same code;
a unit test holds the two faces to the same names, signatures and defaults.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal as _signal
from datetime import datetime
from typing import Any, AsyncIterator, Mapping, Sequence

from .. import _ffi
from .. import client as _sync
from .. import images as _images
from .. import services as _services
from ..services import Health, HealthUpdate
from .. import registry as _registry
from .. import networks as _networks
from .._faces import ClientFace, ContainerFace, ProcessFace
from .._hub import EventStream
from .._ops import DEFAULT_NAMESPACE, RUNC_V2, ClientOps, ContainerOps, ProcessOps, TaskOps
from .._ops import ContainerRecord, check_backend
from ..daemon import adopt_default, default_root_dir, default_state_dir, running_default
from ..daemon import start_op
from ..events import Backend
from ..stdio import AttachStdio, FifoStream
from ..types import DirectIO, Event, EventInfo, ExitStatus, ProcessInfo, Stats, Status, Version

__all__ = ["Client", "Container", "Event", "EventStream", "LogReader", "Process", "Stdio",
           "StreamReader",
           "StreamWriter", "Task"]


class Client(ClientFace):
    """libcontainerd's Client for asyncio. It belongs to the event loop that
    connected it; `close()` (or `async with`) ends it: no callback after."""

    def __init__(self, ops: ClientOps, port: _ffi.Port) -> None:
        super().__init__(ops)
        self._port = port
        self._sync = _sync.Client(ops)

    @classmethod
    async def connect(cls, address: str | None = None, *, namespace: str = DEFAULT_NAMESPACE,
                      state_dir: str | os.PathLike[str] | None = None,
                      backend: Backend | None = None, timeout: float = 30.0,
                      registry: Mapping[str, Any] | None = None) -> Client:
        """As `pylibctrd.Client.connect`. `backend.process_event` may be a plain
        method (called on Go's event thread) or `async def` (run on this loop;
        libcontainerd's per-container queue waits for it, as in dockerd)."""
        loop = asyncio.get_running_loop()
        is_async = check_backend(backend, allow_async=True)
        port = _ffi.Port(loop)
        try:
            daemon = None
            if address is None:
                daemon = running_default() or adopt_default(await port.run(
                    start_op(default_root_dir(), default_state_dir(), None)))
            connect = ClientOps.connect(address, namespace, state_dir, backend, timeout,
                                        loop if is_async else None, daemon)
            client = cls(await port.run(connect), port)
            if registry is not None:
                try:
                    await client.configure_registry(registry)
                except BaseException:
                    await client.close()  # bad options: no client left behind
                    raise
            return client
        except BaseException:
            port.close()
            raise

    @property
    def sync(self) -> _sync.Client:
        """The same client for blocking calls (e.g. from a thread)."""
        return self._sync

    async def close(self) -> None:
        """Stop the event stream and the connection, waiting (without blocking
        the loop) for event callbacks in flight; then cancel what still runs."""
        shut = self._ops.shut(wait=True)
        try:
            if shut is not None:
                await self._port.run(shut)
        finally:
            self._port.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def events(self, container_id: str | None = None) -> EventStream:
        """libcontainerd's events from now on, in its order: `async for ev in
        client.events(): ...`. Each stream gets every event."""
        self._port.check_loop()
        return EventStream(self._ops.hub, container_id, self._port.loop)

    async def version(self) -> Version:
        return await self._port.run(self._ops.version())

    async def list_containers(self) -> list[ContainerRecord]:
        return await self._port.run(self._ops.list_containers())

    # Images (pylibctrd/images.py)

    async def import_image(self, archive: _images.Archive, *,
                           name: str | None = None) -> list[_images.Image]:
        call, pump = self._ops.import_image(archive, name)
        if pump is None:
            return await self._port.run(call)
        pump.start()
        try:
            result = await self._port.run(call)
        finally:
            await asyncio.to_thread(pump.finish)
        return result

    async def images(self) -> list[_images.Image]:
        return await self._port.run(self._ops.images())

    async def get_image(self, ref: str) -> _images.Image:
        return await self._port.run(self._ops.get_image(ref))

    async def remove_image(self, ref: str) -> None:
        await self._port.run(self._ops.remove_image(ref))

    async def prepare_rootfs(self, container_id: str, ref: str) -> str:
        return await self._port.run(self._ops.prepare_rootfs(container_id, ref))

    async def release_rootfs(self, container_id: str) -> None:
        await self._port.run(self._ops.release_rootfs(container_id))

    # Volumes and logs (pylibctrd/services.py)

    async def create_volume(self, name: str | None = None, *,
                            labels: Mapping[str, str] | None = None) -> _services.Volume:
        return await self._port.run(self._ops.create_volume(name, labels))

    async def volumes(self) -> list[_services.Volume]:
        return await self._port.run(self._ops.volumes())

    async def remove_volume(self, name: str) -> None:
        await self._port.run(self._ops.remove_volume(name))

    def logs(self, container_id: str, *, follow: bool = False,
             since: datetime | float | None = None, until: datetime | float | None = None,
             tail: int | None = None, timestamps: bool = False, stdout: bool = True,
             stderr: bool = True) -> LogReader:
        """As `pylibctrd.Client.logs`, an async iterator: `async for line in
        client.logs(id, follow=True)`."""
        opened = self._ops.logs(container_id, follow, since, until, tail, timestamps,
                                stdout, stderr)
        return LogReader(opened, self._port)
    # Registries (pylibctrd/registry.py); progress callbacks run on this loop.

    async def pull(self, ref: str, *, platform: str | None = None,
                   auth: _registry.Auth | None = None,
                   progress: _registry.ProgressCallback | None = None) -> _images.Image:
        return await self._port.run(self._ops.pull(ref, platform, auth, progress,
                                                   _registry.on_loop(self._port.loop)))

    def pull_progress(self, ref: str, *, platform: str | None = None,
                      auth: _registry.Auth | None = None
                      ) -> AsyncIterator[_registry.Progress | _images.Image]:
        """`async for p in client.pull_progress(ref)`: Progress items, the Image last."""
        return _registry.pull_progress(
            lambda progress: self.pull(ref, platform=platform, auth=auth, progress=progress))

    async def push(self, ref: str, *, auth: _registry.Auth | None = None,
                   progress: _registry.ProgressCallback | None = None) -> str:
        return await self._port.run(self._ops.push(ref, auth, progress,
                                                   _registry.on_loop(self._port.loop)))

    async def tag(self, source: str, target: str) -> None:
        await self._port.run(self._ops.tag(source, target))

    async def save(self, refs: str | Sequence[str], file: _registry.SaveTarget) -> None:
        await _registry.save_async(self._port, *self._ops.save(refs, file))

    async def login(self, auth: _registry.Auth, *,
                    config_dir: str | os.PathLike[str] | None = None) -> str:
        return await self._port.run(self._ops.login(auth, config_dir))

    async def configure_registry(self, options: Mapping[str, Any]) -> None:
        await self._port.run(self._ops.configure_registry(options))
    # Networks (pylibctrd/networks.py)

    async def create_network(self, name: str, *, subnet: str | None = None,
                             gateway: str | None = None, internal: bool = False,
                             labels: Mapping[str, str] | None = None) -> _networks.Network:
        return await self._port.run(self._ops.create_network(name, subnet, gateway, internal,
                                                             labels))

    async def networks(self) -> list[_networks.Network]:
        return await self._port.run(self._ops.networks())

    async def remove_network(self, name: str) -> None:
        await self._port.run(self._ops.remove_network(name))

    async def connect_network(self, container_id: str, network: str, *,
                              ports: Sequence[_networks.Port] = (), aliases: Sequence[str] = (),
                              ip: str | None = None) -> _networks.Endpoint:
        return await self._port.run(self._ops.connect_network(container_id, network, ports,
                                                              aliases, ip))

    async def disconnect_network(self, container_id: str, network: str) -> None:
        await self._port.run(self._ops.disconnect_network(container_id, network))

    async def endpoints(self, container_id: str) -> list[_networks.Endpoint]:
        return await self._port.run(self._ops.endpoints(container_id))

    async def cleanup_networks(self) -> list[str]:
        return await self._port.run(self._ops.cleanup_networks())

    async def load_container(self, id: str) -> Container:
        return Container(await self._port.run(self._ops.load_container(id)), self)

    async def new_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                            runtime_options: Mapping[str, Any] | None = None, *,
                            labels: Mapping[str, str] | None = None) -> Container:
        made = self._ops.new_container(id, spec, shim, runtime_options, labels, False)
        return Container(await self._port.run(made), self)

    async def replace_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                                runtime_options: Mapping[str, Any] | None = None, *,
                                labels: Mapping[str, str] | None = None) -> Container:
        made = self._ops.new_container(id, spec, shim, runtime_options, labels, True)
        return Container(await self._port.run(made), self)


def _bind(attach: AttachStdio | None, port: _ffi.Port) -> AttachStdio | None:
    if isinstance(attach, Stdio):
        attach._port = port
    return attach


class Container(ContainerFace):
    """libcontainerd's Container for asyncio."""

    def __init__(self, ops: ContainerOps, client: Client) -> None:
        super().__init__(ops)
        self._port = client._port
        self.client = client

    async def new_task(self, checkpoint_dir: str = "", with_stdin: bool = False,
                       attach_stdio: AttachStdio | None = None) -> Task:
        made = self._ops.new_task(checkpoint_dir, with_stdin, _bind(attach_stdio, self._port))
        return Task(await self._port.run(made), self)

    async def task(self) -> Task:
        return Task(await self._port.run(self._ops.task()), self)

    async def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        made = self._ops.attach_task(_bind(attach_stdio, self._port))
        return Task(await self._port.run(made), self)

    async def delete(self) -> None:
        await self._port.run(self._ops.delete())

    async def host_port(self, port: int, proto: str = "tcp") -> int:
        return await self._port.run(self._ops.host_port(port, proto))


class Process(ProcessFace):
    """libcontainerd's Process for asyncio (Task extends it)."""

    def __init__(self, ops: ProcessOps, container: Container) -> None:
        super().__init__(ops)
        self._port = container._port
        self._container = container

    async def kill(self, signal: int = _signal.SIGKILL) -> None:
        await self._port.run(self._ops.kill(signal))

    async def resize(self, width: int, height: int) -> None:
        await self._port.run(self._ops.resize(width, height))

    async def wait(self, timeout: float | None = None) -> EventInfo:
        """The EXIT event libcontainerd delivered for this process."""
        self._port.check_loop()
        return await self._ops.hub.wait_exit_async(self.container_id, self.id, timeout)

    async def delete(self) -> ExitStatus:
        return await self._port.run(self._ops.delete())


class Task(Process):
    """libcontainerd's Task for asyncio."""

    _ops: TaskOps

    def __init__(self, ops: TaskOps, container: Container) -> None:
        super().__init__(ops, container)
        self.container = container

    async def start(self) -> None:
        await self._port.run(self._ops.start())

    async def pause(self) -> None:
        await self._port.run(self._ops.pause())

    async def resume(self) -> None:
        await self._port.run(self._ops.resume())

    async def force_delete(self) -> None:
        await self._port.run(self._ops.force_delete())

    async def status(self) -> Status:
        return await self._port.run(self._ops.status())

    async def stats(self) -> Stats:
        return await self._port.run(self._ops.stats())

    async def pids(self) -> list[ProcessInfo]:
        return await self._port.run(self._ops.pids())

    async def summary(self) -> list[dict[str, Any]]:
        return await self._port.run(self._ops.summary())

    async def exec(self, process_id: str, process_spec: Mapping[str, Any],
                   with_stdin: bool = False, attach_stdio: AttachStdio | None = None) -> Process:
        made = self._ops.exec(process_id, process_spec, with_stdin,
                              _bind(attach_stdio, self._port))
        return Process(await self._port.run(made), self.container)

    async def update_resources(self, resources: Mapping[str, Any]) -> None:
        await self._port.run(self._ops.update_resources(resources))

    async def start_health(self, healthcheck: Mapping[str, Any]) -> None:
        await self._port.run(self._ops.start_health(healthcheck))

    async def stop_health(self) -> None:
        await self._port.run(self._ops.stop_health())

    async def health(self) -> Health:
        return await self._port.run(self._ops.health())

    async def watch_health(self, after: int = 0, timeout: float | None = None) -> HealthUpdate:
        return await self._port.run(self._ops.watch_health(after, timeout))

    async def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        await self._port.run(self._ops.create_checkpoint(checkpoint_dir, exit))


class LogReader:
    """`aio.Client.logs()`: an async iterator of `LogLine`s."""

    def __init__(self, opened: _ffi.Op[_services.LogReaderOps], port: _ffi.Port) -> None:
        self._open: _ffi.Op[_services.LogReaderOps] | None = opened
        self._ops: _services.LogReaderOps | None = None
        self._port = port
        self._lines: list[_services.LogLine] = []

    def __aiter__(self) -> LogReader:
        return self

    async def _reader(self) -> _services.LogReaderOps:
        if self._ops is None:
            assert self._open is not None
            self._ops, self._open = await self._port.run(self._open), None
        return self._ops

    async def __anext__(self) -> _services.LogLine:
        ops = await self._reader()
        while not self._lines:
            if ops.ended:
                raise StopAsyncIteration
            self._lines = await self._port.run(ops.next_op(1 << 20, None))
            self._lines.reverse()
        return self._lines.pop()

    async def read(self, timeout: float | None = None) -> list[_services.LogLine] | None:
        """As `pylibctrd.services.LogReader.read`."""
        ops = await self._reader()
        if self._lines:
            lines, self._lines = self._lines[::-1], []
            return lines
        if ops.ended:
            return None
        lines = await self._port.run(ops.next_op(1 << 20, timeout))
        return None if not lines and ops.ended else lines

    def close(self) -> None:
        if self._ops is not None:
            self._ops.close()
        self._open = None

    async def __aenter__(self) -> LogReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class StreamReader:
    """A process's stdout or stderr, read with coroutines."""

    def __init__(self, raw: FifoStream, port: _ffi.Port) -> None:
        self._raw = raw
        self._port = port

    async def read(self, n: int = 65536) -> bytes:
        """Up to n bytes; b"" at end of stream."""
        return await self._port.run(self._raw.recv_op(n))

    async def readall(self) -> bytes:
        chunks = []
        while chunk := await self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if not self._raw.closed:
            await self._port.run(self._raw.close_op())


class StreamWriter:
    """A process's stdin, written with coroutines; `close()` gives it EOF."""

    def __init__(self, raw: FifoStream, port: _ffi.Port) -> None:
        self._raw = raw
        self._port = port

    async def write(self, data: bytes) -> int:
        return await self._port.run(self._raw.send_op(bytes(data)))

    async def close(self) -> None:
        if not self._raw.closed:
            await self._port.run(self._raw.close_op())


class Stdio:
    """attach_stdio for asyncio: after new_task/exec/attach_task returns,
    `stdin`, `stdout` and `stderr` are async streams (each None where the
    process has none)."""

    def __init__(self) -> None:
        self._port: _ffi.Port | None = None
        self.stdin: StreamWriter | None = None
        self.stdout: StreamReader | None = None
        self.stderr: StreamReader | None = None

    def __call__(self, dio: DirectIO) -> DirectIO:
        if self._port is None:
            raise TypeError("aio.Stdio works with the pylibctrd.aio API only")
        port = self._port
        self.stdin = StreamWriter(_raw(dio.stdin), port) if dio.stdin is not None else None
        self.stdout = StreamReader(_raw(dio.stdout), port) if dio.stdout is not None else None
        self.stderr = StreamReader(_raw(dio.stderr), port) if dio.stderr is not None else None
        return dio


def _raw(f: Any) -> FifoStream:
    """The FIFO stream under a DirectIO file; a buffered wrapper is detached,
    since dropping it would close the FIFO under the shim (whose open blocks
    without a reader)."""
    raw = f.detach() if isinstance(f, io.BufferedIOBase) else f
    assert isinstance(raw, FifoStream)
    return raw
