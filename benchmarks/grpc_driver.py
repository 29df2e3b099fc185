"""The pure-Python peer: containerd's API through the PyPI `containerd`
package (generated gRPC stubs) and grpcio, doing what libcontainerd does:
one channel reused, the spec as an Any, FIFOs in the bundle dir for IO, and
one events subscription filtered like libcontainerd's."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from typing import Any, Callable

import grpc
from google.protobuf import any_pb2, empty_pb2

from containerd.events import task_pb2 as task_events
from containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from containerd.services.events.v1 import events_pb2, events_pb2_grpc
from containerd.services.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from containerd.services.version.v1 import version_pb2_grpc

SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
PROCESS_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
BUNDLE_LABEL = "com.docker/engine.bundle.path"
SHIM = "io.containerd.runc.v2"
EVENT_TYPES: dict[str, Any] = {
    "containerd.events.TaskExit": task_events.TaskExit,
    "containerd.events.TaskPaused": task_events.TaskPaused,
}


CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 16 << 20),
                   ("grpc.max_send_message_length", 16 << 20)]


class _Api:
    """The stubs on one channel, and libcontainerd's events subscription."""

    def __init__(self, channel: Any, namespace: str, state_dir: str) -> None:
        self.ns = namespace
        self.state_dir = state_dir
        self.channel = channel
        self.md = (("containerd-namespace", namespace),)
        self.version_api = version_pb2_grpc.VersionStub(channel)
        self.containers = containers_pb2_grpc.ContainersStub(channel)
        self.tasks = tasks_pb2_grpc.TasksStub(channel)
        self.events_api = events_pb2_grpc.EventsStub(channel)
        self.on_paused: Callable[[str], None] | None = None
        self._stream = self.events_api.Subscribe(
            events_pb2.SubscribeRequest(filters=[f"namespace=={namespace},topic~=|^/tasks/|"]),
            metadata=self.md)

    def _exit_of(self, envelope: Any) -> tuple[str, str] | None:
        """(container, process) of a TaskExit; TaskPaused goes to on_paused."""
        kind = EVENT_TYPES.get(envelope.event.type_url)
        if kind is None:
            return None
        event = kind.FromString(envelope.event.value)
        if kind is task_events.TaskPaused:
            if self.on_paused is not None:
                self.on_paused(event.container_id)
            return None
        return event.container_id, event.id

    def _create_request(self, id: str, spec: dict[str, Any]) -> tuple[str, Any]:
        """The bundle dir (made here) and the Create request, as libcontainerd makes them."""
        bundle = os.path.join(self.state_dir, id)
        os.makedirs(bundle, mode=0o755, exist_ok=True)
        container = containers_pb2.Container(
            id=id, labels={BUNDLE_LABEL: bundle},
            runtime=containers_pb2.Container.Runtime(name=SHIM),
            spec=any_pb2.Any(type_url=SPEC_URL, value=json.dumps(spec).encode()))
        return bundle, containers_pb2.CreateContainerRequest(container=container)

    def _fifos(self, bundle: str, process_id: str) -> tuple[str, str, list[int]]:
        paths = [os.path.join(bundle, f"{process_id}-stdout"), os.path.join(bundle, f"{process_id}-stderr")]
        for p in paths:
            os.mkfifo(p, 0o700)
        fds = [os.open(p, os.O_RDONLY | os.O_NONBLOCK) for p in paths]
        return paths[0], paths[1], fds



class Driver(_Api):
    def __init__(self, address: str, namespace: str, state_dir: str) -> None:
        super().__init__(grpc.insecure_channel("unix://" + address, options=CHANNEL_OPTIONS),
                         namespace, state_dir)
        self._cond = threading.Condition()
        self._exits: set[tuple[str, str]] = set()
        threading.Thread(target=self._pump_events, daemon=True, name="grpc-events").start()

    def close(self) -> None:
        self._stream.cancel()
        self.channel.close()

    def _pump_events(self) -> None:
        try:
            for envelope in self._stream:
                if (exited := self._exit_of(envelope)) is not None:
                    with self._cond:
                        self._exits.add(exited)
                        self._cond.notify_all()
        except grpc.RpcError:
            pass  # cancelled by close()

    def wait_exit(self, container_id: str, process_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (container_id, process_id) not in self._exits:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no exit event for {container_id}/{process_id}")
                self._cond.wait(left)
            self._exits.discard((container_id, process_id))

    def version(self) -> None:
        self.version_api.Version(empty_pb2.Empty(), metadata=self.md)

    def load(self, id: str) -> None:
        self.containers.Get(containers_pb2.GetContainerRequest(id=id), metadata=self.md)

    def create(self, id: str, spec: dict[str, Any]) -> str:
        bundle, request = self._create_request(id, spec)
        self.containers.Create(request, metadata=self.md)
        return bundle

    def delete(self, id: str) -> None:
        self.containers.Delete(containers_pb2.DeleteContainerRequest(id=id), metadata=self.md)
        shutil.rmtree(os.path.join(self.state_dir, id), ignore_errors=True)

    @staticmethod
    def _read_all(fd: int) -> bytes:
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def start_task(self, id: str, spec: dict[str, Any]) -> list[int]:
        """Create the container and its task with FIFOs, and start it."""
        bundle = self.create(id, spec)
        stdout, stderr, fds = self._fifos(bundle, id)
        self.tasks.Create(tasks_pb2.CreateTaskRequest(container_id=id, stdout=stdout, stderr=stderr),
                          metadata=self.md)
        self.tasks.Start(tasks_pb2.StartRequest(container_id=id), metadata=self.md)
        return fds

    def remove_task(self, id: str, fds: list[int]) -> None:
        """After the exit event: delete the task, close the FIFOs, delete the container."""
        self.wait_exit(id, id)
        self.tasks.Delete(tasks_pb2.DeleteTaskRequest(container_id=id), metadata=self.md)
        for fd in fds:
            os.close(fd)
        self.delete(id)

    def lifecycle(self, id: str, spec: dict[str, Any]) -> None:
        self.remove_task(id, self.start_task(id, spec))

    def stop_task(self, id: str, fds: list[int]) -> None:
        self.tasks.Kill(tasks_pb2.KillRequest(container_id=id, signal=9, all=True), metadata=self.md)
        self.remove_task(id, fds)

    def exec(self, container_id: str, exec_id: str, process: dict[str, Any]) -> bytes:
        bundle = os.path.join(self.state_dir, container_id)
        stdout, stderr, fds = self._fifos(bundle, exec_id)
        try:
            self.tasks.Exec(tasks_pb2.ExecProcessRequest(
                container_id=container_id, exec_id=exec_id, stdout=stdout, stderr=stderr,
                spec=any_pb2.Any(type_url=PROCESS_URL, value=json.dumps(process).encode())),
                metadata=self.md)
            self.tasks.Start(tasks_pb2.StartRequest(container_id=container_id, exec_id=exec_id),
                             metadata=self.md)
            out = self._read_all(fds[0])
            self.wait_exit(container_id, exec_id)
            self.tasks.DeleteProcess(tasks_pb2.DeleteProcessRequest(
                container_id=container_id, exec_id=exec_id), metadata=self.md)
        finally:
            for fd in fds:
                os.close(fd)
            for p in (stdout, stderr):
                os.unlink(p)
        return out


class AioDriver(_Api):
    """The same calls over grpc.aio on one event loop: the asyncio peer."""

    def __init__(self, address: str, namespace: str, state_dir: str) -> None:
        super().__init__(grpc.aio.insecure_channel("unix://" + address, options=CHANNEL_OPTIONS),
                         namespace, state_dir)
        self._exits: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._pump = asyncio.ensure_future(self._pump_events())

    async def close(self) -> None:
        self._stream.cancel()
        self._pump.cancel()
        await self.channel.close()

    async def _pump_events(self) -> None:
        try:
            async for envelope in self._stream:
                if (exited := self._exit_of(envelope)) is not None:
                    self._exit_future(exited).set_result(None)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass  # cancelled by close()

    def _exit_future(self, key: tuple[str, str]) -> asyncio.Future[None]:
        fut = self._exits.get(key)
        if fut is None:
            fut = self._exits[key] = asyncio.get_running_loop().create_future()
        return fut

    async def version(self) -> None:
        await self.version_api.Version(empty_pb2.Empty(), metadata=self.md)

    async def lifecycle(self, id: str, spec: dict[str, Any]) -> None:
        bundle, request = self._create_request(id, spec)
        await self.containers.Create(request, metadata=self.md)
        stdout, stderr, fds = self._fifos(bundle, id)
        exited = self._exit_future((id, id))
        try:
            await self.tasks.Create(tasks_pb2.CreateTaskRequest(
                container_id=id, stdout=stdout, stderr=stderr), metadata=self.md)
            await self.tasks.Start(tasks_pb2.StartRequest(container_id=id), metadata=self.md)
            await asyncio.wait_for(exited, 30)
            await self.tasks.Delete(tasks_pb2.DeleteTaskRequest(container_id=id), metadata=self.md)
        finally:
            self._exits.pop((id, id), None)
            for fd in fds:
                os.close(fd)
            await self.containers.Delete(containers_pb2.DeleteContainerRequest(id=id),
                                         metadata=self.md)
            shutil.rmtree(bundle, ignore_errors=True)
