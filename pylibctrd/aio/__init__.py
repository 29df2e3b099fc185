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
once. The objects wrap the sync ones, so the arguments are checked and the
answers decoded by the same code.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
from typing import Any, AsyncIterator, Mapping, TypeVar

from .. import _ffi, errors
from .. import client as _api
from .. import images as _images
from ..daemon import Daemon, adopt_default, default_root_dir, default_state_dir, running_default
from ..events import Backend
from ..stdio import AttachStdio, _Stream
from ..types import DirectIO, Event, EventInfo, ExitStatus, ProcessInfo, Stats, Status, Version

__all__ = ["Client", "Container", "Event", "EventStream", "Process", "Stdio", "StreamReader",
           "StreamWriter", "Task"]

T = TypeVar("T")


class Client:
    """libcontainerd's Client for asyncio. It belongs to the event loop that
    connected it; `close()` (or `async with`) ends it: no callback after."""

    def __init__(self, sync: _api.Client, port: _ffi.Port) -> None:
        self._sync = sync
        self._port = port

    @classmethod
    async def connect(cls, address: str | None = None, *,
                      namespace: str = _api.DEFAULT_NAMESPACE,
                      state_dir: str | os.PathLike[str] | None = None,
                      backend: Backend | Any = None, timeout: float = 30.0) -> Client:
        """As `pylibctrd.Client.connect`. `backend.process_event` may be a plain
        method (called on Go's event thread) or `async def` (run on this loop;
        libcontainerd's per-container queue waits for it, as in dockerd)."""
        loop = asyncio.get_running_loop()
        is_async = backend is not None and inspect.iscoroutinefunction(
            getattr(backend, "process_event", None))
        port = _ffi.Port(loop)
        try:
            daemon = None
            if address is None:
                daemon = running_default() or adopt_default(await port.run(
                    Daemon._start(default_root_dir(), default_state_dir(), None)))
            connect = _api.Client._connect(address, namespace, state_dir, backend, timeout,
                                            loop if is_async else None, daemon)
            return cls(await port.run(connect), port)
        except BaseException:
            port.close()
            raise

    @property
    def address(self) -> str:
        return self._sync.address

    @property
    def namespace(self) -> str:
        return self._sync.namespace

    @property
    def state_dir(self) -> str:
        return self._sync.state_dir

    @property
    def closed(self) -> bool:
        return self._sync.closed

    @property
    def sync(self) -> _api.Client:
        """The same client for blocking calls (e.g. from a thread)."""
        return self._sync

    async def close(self) -> None:
        """Stop the event stream and the connection, waiting (without blocking
        the loop) for event callbacks in flight; then cancel what still runs."""
        close = self._sync._close(wait=True)
        try:
            if close is not None:
                await self._port.run(close)
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
        return EventStream(self._sync._hub, self._port.loop, container_id)

    async def version(self) -> Version:
        return await self._port.run(self._sync._version())

    async def list_containers(self) -> list[_api.ContainerRecord]:
        return await self._port.run(self._sync._list_containers())

    # Images (pylibctrd/images.py)

    async def import_image(self, archive: _images.Archive, *,
                           name: str | None = None) -> list[_images.Image]:
        call, pump = _images.import_op(self._sync._handle, archive, name)
        if pump is not None:
            pump.start()
        try:
            result = await self._port.run(call)
        except BaseException:
            if pump is not None:
                await asyncio.to_thread(pump.finish)
            raise
        if pump is not None:
            await asyncio.to_thread(pump.finish)
        return result

    async def images(self) -> list[_images.Image]:
        return await self._port.run(_images.images_op(self._sync._handle))

    async def get_image(self, ref: str) -> _images.Image:
        return await self._port.run(_images.get_image_op(self._sync._handle, ref))

    async def remove_image(self, ref: str) -> None:
        await self._port.run(_images.remove_image_op(self._sync._handle, ref))

    async def prepare_rootfs(self, container_id: str, ref: str) -> str:
        return await self._port.run(_images.prepare_rootfs_op(self._sync._handle, container_id, ref))

    async def release_rootfs(self, container_id: str) -> None:
        await self._port.run(_images.release_rootfs_op(self._sync._handle, container_id))

    async def load_container(self, id: str) -> Container:
        return Container(await self._port.run(self._sync._load_container(id)), self._port)

    async def new_container(self, id: str, spec: Mapping[str, Any], shim: str = _api.RUNC_V2,
                            runtime_options: Mapping[str, Any] | None = None, *,
                            labels: Mapping[str, str] | None = None) -> Container:
        made = self._sync._new_container(id, spec, shim, runtime_options, labels, False)
        return Container(await self._port.run(made), self._port)

    async def replace_container(self, id: str, spec: Mapping[str, Any],
                                shim: str = _api.RUNC_V2,
                                runtime_options: Mapping[str, Any] | None = None, *,
                                labels: Mapping[str, str] | None = None) -> Container:
        made = self._sync._new_container(id, spec, shim, runtime_options, labels, True)
        return Container(await self._port.run(made), self._port)

    def __repr__(self) -> str:
        return f"<aio.Client {self.address!r} namespace={self.namespace!r}>"


class EventStream:
    """`aio.Client.events()`: an async iterator of `Event(type, info)`;
    `aclose()` (or leaving `async with`) ends it, as does closing the client."""

    def __init__(self, hub: Any, loop: asyncio.AbstractEventLoop,
                 container_id: str | None) -> None:
        self._hub = hub
        self._loop = loop
        self._container_id = container_id
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ended = False
        hub.subscribe(self._deliver)

    def _deliver(self, event: Event | None) -> None:  # on Go's event thread
        if event is None or self._container_id in (None, event.info.container_id):
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._ended = True
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._hub.unsubscribe(self._deliver)
        self._ended = True

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _bind(attach: AttachStdio | None, port: _ffi.Port) -> AttachStdio | None:
    if isinstance(attach, Stdio):
        attach._port = port
    return attach


class Container:
    """libcontainerd's Container for asyncio."""

    def __init__(self, sync: _api.Container, port: _ffi.Port) -> None:
        self._sync = sync
        self._port = port
        self.id = sync.id

    async def new_task(self, checkpoint_dir: str = "", with_stdin: bool = False,
                       attach_stdio: AttachStdio | None = None) -> Task:
        made = self._sync._new_task(checkpoint_dir, with_stdin, _bind(attach_stdio, self._port))
        return Task(await self._port.run(made), self._port)

    async def task(self) -> Task:
        return Task(await self._port.run(self._sync._task()), self._port)

    async def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        made = self._sync._attach_task(_bind(attach_stdio, self._port))
        return Task(await self._port.run(made), self._port)

    async def delete(self) -> None:
        await self._port.run(self._sync._delete())

    def __repr__(self) -> str:
        return f"<aio.Container {self.id!r}>"


class Process:
    """libcontainerd's Process for asyncio (Task extends it)."""

    def __init__(self, sync: _api.Process, port: _ffi.Port) -> None:
        self._sync = sync
        self._port = port
        self.id = sync.id
        self.container_id = sync.container_id

    @property
    def pid(self) -> int:
        return self._sync.pid  # no round trip

    async def kill(self, signal: int = 9) -> None:
        await self._port.run(self._sync._kill(signal))

    async def resize(self, width: int, height: int) -> None:
        await self._port.run(self._sync._resize(width, height))

    async def wait(self, timeout: float | None = None) -> EventInfo:
        """The EXIT event libcontainerd delivered for this process."""
        self._port.check_loop()
        hub = self._sync._hub
        done: asyncio.Future[EventInfo] = self._port.loop.create_future()
        loop = self._port.loop

        def deliver(event: Event | None) -> None:  # on Go's event thread
            if event is None:
                loop.call_soon_threadsafe(_settle, done, None)
            elif (event.type.value == "exit" and event.info.container_id == self.container_id
                  and event.info.process_id == self.id):
                loop.call_soon_threadsafe(_settle, done, event.info)

        hub.subscribe(deliver)
        try:
            known = hub.exit_of(self.container_id, self.id)
            if known is not None:
                return known
            try:
                return await asyncio.wait_for(done, timeout)
            except asyncio.TimeoutError:
                raise errors.Deadline(f"no exit event for {self.container_id}/{self.id}"
                                      f" within {timeout}s") from None
        finally:
            hub.unsubscribe(deliver)

    async def delete(self) -> ExitStatus:
        return await self._port.run(self._sync._delete())

    def __repr__(self) -> str:
        return f"<aio.{type(self).__name__} {self.id!r}>"


def _settle(future: asyncio.Future[EventInfo], info: EventInfo | None) -> None:
    if future.done():
        return
    if info is None:
        future.set_exception(errors.Closed("client is closed"))
    else:
        future.set_result(info)


class Task(Process):
    """libcontainerd's Task for asyncio."""

    _sync: _api.Task

    def __init__(self, sync: _api.Task, port: _ffi.Port) -> None:
        super().__init__(sync, port)

    async def start(self) -> None:
        await self._port.run(self._sync._start())

    async def pause(self) -> None:
        await self._port.run(self._sync._pause())

    async def resume(self) -> None:
        await self._port.run(self._sync._resume())

    async def force_delete(self) -> None:
        await self._port.run(self._sync._force_delete())

    async def status(self) -> Status:
        return await self._port.run(self._sync._status())

    async def stats(self) -> Stats:
        return await self._port.run(self._sync._stats())

    async def pids(self) -> list[ProcessInfo]:
        return await self._port.run(self._sync._pids())

    async def summary(self) -> list[dict[str, Any]]:
        return await self._port.run(self._sync._summary())

    async def exec(self, process_id: str, process_spec: Mapping[str, Any],
                   with_stdin: bool = False, attach_stdio: AttachStdio | None = None) -> Process:
        made = self._sync._exec(process_id, process_spec, with_stdin,
                                _bind(attach_stdio, self._port))
        return Process(await self._port.run(made), self._port)

    async def update_resources(self, resources: Mapping[str, Any]) -> None:
        await self._port.run(self._sync._update_resources(resources))

    async def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        await self._port.run(self._sync._create_checkpoint(checkpoint_dir, exit))


class StreamReader:
    """A process's stdout or stderr, read with coroutines."""

    def __init__(self, raw: _Stream, port: _ffi.Port) -> None:
        self._raw = raw
        self._port = port

    async def read(self, n: int = 65536) -> bytes:
        """Up to n bytes; b"" at end of stream."""
        return await self._port.run(self._raw._recv(n))

    async def readall(self) -> bytes:
        chunks = []
        while chunk := await self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if not self._raw.closed:
            await self._port.run(self._raw._close_op())


class StreamWriter:
    """A process's stdin, written with coroutines; `close()` gives it EOF."""

    def __init__(self, raw: _Stream, port: _ffi.Port) -> None:
        self._raw = raw
        self._port = port

    async def write(self, data: bytes) -> int:
        return await self._port.run(self._raw._send(bytes(data)))

    async def close(self) -> None:
        if not self._raw.closed:
            await self._port.run(self._raw._close_op())


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


def _raw(f: Any) -> _Stream:
    """The FIFO stream under a DirectIO file; a buffered wrapper is detached,
    since dropping it would close the FIFO under the shim (whose open blocks
    without a reader)."""
    raw = f.detach() if isinstance(f, io.BufferedIOBase) else f
    assert isinstance(raw, _Stream)
    return raw
