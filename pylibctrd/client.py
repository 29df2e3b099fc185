"""Client, Container, Task and Process: libcontainerd's interfaces in Python.

Each object owns one native handle (`_ffi.Owned`), released when the object
is collected; releasing a handle never touches the container itself. Each
method is built from an `_ffi.Op` (`_name()` makes it: arguments checked,
answer decoded), which the sync method runs now and `pylibctrd.aio` runs in
the background.
"""

from __future__ import annotations

import inspect
import os
import queue
import signal as _signal
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from . import _args, _ffi
from . import images as _images
from ._ffi import Op, json_result, lib, no_result, number_result, op, stdio_op, text_result
from ._hub import Hub
from .daemon import Daemon, default_daemon, default_state_dir
from .events import Backend
from .stdio import AttachStdio, to_sink
from .types import (
    Event, EventInfo, ExitStatus, ProcessInfo, Stats, Status, Version, from_unix_nanos,
)

if TYPE_CHECKING:
    import asyncio

RUNC_V2 = "io.containerd.runc.v2"
DEFAULT_NAMESPACE = "moby"


@dataclass(frozen=True)
class ContainerRecord:
    """containerd's record of a container (`ctr containers info`, in part):
    `spec` is the OCI runtime spec it was created with."""

    id: str
    labels: dict[str, str]
    image: str
    runtime: str
    created_at: datetime | None
    spec: dict[str, Any] | None = None


class Client(_ffi.Owned):
    """libcontainerd's Client (`libcontainerd.NewClient`) on one containerd.

    Use `Client.connect()`; close it (or use `with`) to stop its event stream:
    once `close()` returns, no callback for it runs any more, and every call
    on it or its objects raises `errors.Closed`.
    """

    def __init__(self, handle: int, *, address: str, namespace: str, state_dir: str,
                 daemon: Daemon | None, hub: Hub, events_key: int) -> None:
        super().__init__(handle, close_at_exit=True)
        self._events_key = events_key
        self._hub = hub
        self._closed = False
        self.address = address
        self.namespace = namespace
        self.state_dir = state_dir
        self.daemon = daemon  # kept alive while the client is

    @classmethod
    def connect(cls, address: str | None = None, *, namespace: str = DEFAULT_NAMESPACE,
                state_dir: str | os.PathLike[str] | None = None, backend: Backend | None = None,
                timeout: float = 30.0) -> Client:
        """Connect to containerd at `address`; with no address, to the embedded
        containerd this library starts and supervises (see `Daemon`).

        `state_dir` holds the bundle dirs `<state_dir>/<id>` with the FIFOs
        (dockerd: /var/run/docker/containerd); `backend.process_event` receives
        libcontainerd's events. `timeout` (seconds) bounds every call.
        """
        if backend is not None and inspect.iscoroutinefunction(
                getattr(backend, "process_event", None)):
            raise TypeError("an async backend needs the asyncio client: pylibctrd.aio.Client")
        return cls._connect(address, namespace, state_dir, backend, timeout, None).run()

    @classmethod
    def _connect(cls, address: str | None, namespace: str,
                 state_dir: str | os.PathLike[str] | None, backend: Backend | None,
                 timeout: float, loop: asyncio.AbstractEventLoop | None,
                 daemon: Daemon | None = None) -> Op[Client]:
        timeout_ms = _args.millis(timeout, "timeout")
        if backend is not None and not callable(getattr(backend, "process_event", None)):
            raise TypeError("backend must have a process_event(container_id, event, info) method")
        if daemon is not None:
            address = daemon.address
        elif address is None:
            daemon = default_daemon()
            address = daemon.address
        state = (_args.path(state_dir, "state_dir") if state_dir is not None
                 else daemon.state_dir if daemon is not None else default_state_dir())
        address_c, namespace_c = _args.text(address, "address"), _args.text(namespace, "namespace")
        state_c = _args.text(state, "state_dir")
        # The hub is registered first: events can arrive as soon as Go connects.
        hub = Hub(backend, loop)
        events_key = _ffi.register_events(hub)

        def connected(handle: int, _: bytes | None) -> Client:
            return cls(handle, address=address, namespace=namespace, state_dir=state,
                       daemon=daemon, hub=hub, events_key=events_key)

        connect = op(connected, lib().pylibctrd_client_connect, address_c, namespace_c, state_c,
                     events_key, timeout_ms)
        connect.on_error = lambda: _ffi.unregister_events(events_key)
        return connect

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the event stream and the connection. Waits for running event
        callbacks, except when called from inside one."""
        close = self._close(wait=not _ffi.in_event_callback())
        if close is not None:
            close.run()

    def _close(self, wait: bool) -> Op[None] | None:
        if self._closed:
            return None
        self._closed = True

        def closed(number: int, data: bytes | None) -> None:
            _ffi.unregister_events(self._events_key)
            self._hub.close()

        close = op(closed, lib().pylibctrd_client_close, self._handle, int(wait))
        close.on_error = lambda: closed(0, None)
        return close

    def _finalize(self) -> None:
        close = self._close(wait=False)
        if close is not None:
            close.run()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def events(self, container_id: str | None = None) -> EventStream:
        """libcontainerd's events from now on, in its order, as an iterator of
        `Event(type, info)`; only one container's with `container_id`. Ends
        when `close()` is called on it (from any thread) or the client closes."""
        return EventStream(self._hub, container_id)

    def version(self) -> Version:
        """containerd's version."""
        return self._version().run()

    def _version(self) -> Op[Version]:
        def decode(number: int, data: bytes | None) -> Version:
            version, revision = text_result(number, data)
            return Version(version, revision)

        return op(decode, lib().pylibctrd_client_version, self._handle)

    def list_containers(self) -> list[ContainerRecord]:
        """containerd's records of the containers in this namespace (libcontainerd
        has no list: dockerd keeps its own; this reads containerd's)."""
        return self._list_containers().run()

    def _list_containers(self) -> Op[list[ContainerRecord]]:
        def decode(number: int, data: bytes | None) -> list[ContainerRecord]:
            return [ContainerRecord(r["id"], r["labels"], r["image"], r["runtime"],
                                    from_unix_nanos(r["created_at"]), r["spec"])
                    for r in json_result(number, data)]

        return op(decode, lib().pylibctrd_client_list_containers, self._handle)

    # Images (pylibctrd/images.py): Moby's containerd image service.

    def import_image(self, archive: _images.Archive, *, name: str | None = None) -> list[_images.Image]:
        """`docker load`: import a `docker save` or OCI image-layout archive
        (a path or a binary file object, plain or compressed) into containerd
        and unpack it; `name` tags the archive's untagged image. Nothing of a
        failed import is left behind."""
        return _images.run_import(*_images.import_op(self._handle, archive, name))

    def images(self) -> list[_images.Image]:
        """The images in this namespace, one entry per name."""
        return _images.images_op(self._handle).run()

    def get_image(self, ref: str) -> _images.Image:
        """The image `ref` names (name, digest or ID prefix); `NotFound` otherwise."""
        return _images.get_image_op(self._handle, ref).run()

    def remove_image(self, ref: str) -> None:
        """`docker rmi` (without --force); `NotFound` when absent, `Conflict`
        while a rootfs prepared by this client uses the image."""
        _images.remove_image_op(self._handle, ref).run()

    def prepare_rootfs(self, container_id: str, ref: str) -> str:
        """Unpack `ref` if needed, make the writable snapshot keyed by
        `container_id` on Moby's init layer, mount it and return the mount
        point `<state_dir>-images/rootfs/overlayfs/<container_id>`."""
        return _images.prepare_rootfs_op(self._handle, container_id, ref).run()

    def release_rootfs(self, container_id: str) -> None:
        """Unmount the rootfs and remove its snapshots and lease; `Conflict`
        while the container's task has not stopped."""
        _images.release_rootfs_op(self._handle, container_id).run()

    def load_container(self, id: str) -> Container:
        """An existing container; `NotFound("no such container")` otherwise."""
        return self._load_container(id).run()

    def _load_container(self, id: str) -> Op[Container]:
        return op(lambda handle, _: Container(handle, self, id),
                  lib().pylibctrd_client_load_container, self._handle, _args.text(id, "id"))

    def new_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                      runtime_options: Mapping[str, Any] | None = None, *,
                      labels: Mapping[str, str] | None = None) -> Container:
        """Create a container from an OCI runtime spec (a dict, e.g. built on
        `default_spec()`). `runtime_options` are the shim's options as in
        dockerd's runtime config (e.g. {"BinaryName": "runc"}); the bundle dir
        `<state_dir>/<id>` is recorded in label com.docker/engine.bundle.path.
        A duplicate id raises `Conflict("id already in use")`."""
        return self._new_container(id, spec, shim, runtime_options, labels, False).run()

    def replace_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                          runtime_options: Mapping[str, Any] | None = None, *,
                          labels: Mapping[str, str] | None = None) -> Container:
        """`libcontainerd.ReplaceContainer`: like new_container, but first
        force-deletes any container (and task) with the same id."""
        return self._new_container(id, spec, shim, runtime_options, labels, True).run()

    def _new_container(self, id: str, spec: Mapping[str, Any], shim: str,
                       runtime_options: Mapping[str, Any] | None,
                       labels: Mapping[str, str] | None, replace: bool) -> Op[Container]:
        spec_json = _args.json_object(spec, "spec")
        opts_json = b"" if runtime_options is None else _args.json_object(
            runtime_options, "runtime_options")
        labels_json = b"" if labels is None else _args.json_object(labels, "labels")
        return op(lambda handle, _: Container(handle, self, id),
                  lib().pylibctrd_client_new_container, self._handle, _args.text(id, "id"),
                  spec_json, len(spec_json), _args.text(shim, "shim"), opts_json,
                  len(opts_json), labels_json, len(labels_json), int(replace))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Client {self.address!r} namespace={self.namespace!r} {state}>"


class EventStream:
    """`Client.events()`: an iterator of events, ended by `close()` from any
    thread (or by closing the client). Unbounded: consume it or close it."""

    def __init__(self, hub: Hub, container_id: str | None) -> None:
        self._hub = hub
        self._container_id = container_id
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._ended = False
        hub.subscribe(self._deliver)

    def _deliver(self, event: Event | None) -> None:
        if event is None or self._container_id in (None, event.info.container_id):
            self._queue.put(event)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._ended:
            raise StopIteration
        event = self._queue.get()
        if event is None:
            self._ended = True
            raise StopIteration
        return event

    def close(self) -> None:
        self._hub.unsubscribe(self._deliver)
        self._queue.put(None)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Container(_ffi.Owned):
    """libcontainerd's Container."""

    def __init__(self, handle: int, client: Client, id: str) -> None:
        super().__init__(handle)
        self.client = client
        self.id = id

    def new_task(self, checkpoint_dir: str = "", with_stdin: bool = False,
                 attach_stdio: AttachStdio | None = None) -> Task:
        """Create (not start) the container's task. `attach_stdio` gets the
        FIFOs (see pylibctrd.stdio); None drains output and closes stdin."""
        return self._new_task(checkpoint_dir, with_stdin, attach_stdio).run()

    def _new_task(self, checkpoint_dir: str, with_stdin: bool,
                  attach_stdio: AttachStdio | None) -> Op[Task]:
        checkpoint_c = _args.text(checkpoint_dir, "checkpoint_dir")
        stdin_c = _args.flag(with_stdin, "with_stdin")
        self.client._hub.forget_exit(self.id, self.id)
        return stdio_op(lambda handle, _: Task(handle, self), to_sink(attach_stdio),
                        lib().pylibctrd_container_new_task, self._handle, checkpoint_c, stdin_c)

    def task(self) -> Task:
        """The existing task; `NotFound` if there is none."""
        return self._task().run()

    def _task(self) -> Op[Task]:
        return op(lambda handle, _: Task(handle, self), lib().pylibctrd_container_task,
                  self._handle)

    def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        """The existing task, reattached to its IO (only one reader at a time)."""
        return self._attach_task(attach_stdio).run()

    def _attach_task(self, attach_stdio: AttachStdio | None) -> Op[Task]:
        return stdio_op(lambda handle, _: Task(handle, self), to_sink(attach_stdio),
                        lib().pylibctrd_container_attach_task, self._handle)

    def delete(self) -> None:
        """Delete the container and its bundle dir (kept with LIBCONTAINERD_NOCLEAN=1)."""
        self._delete().run()

    def _delete(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_container_delete, self._handle)

    def __repr__(self) -> str:
        return f"<Container {self.id!r}>"


class Process(_ffi.Owned):
    """libcontainerd's Process (an exec'd process; Task extends it)."""

    def __init__(self, handle: int, id: str, container: Container) -> None:
        super().__init__(handle)
        self.id = id
        self.container_id = container.id
        self._container = container  # keeps the client alive
        self._hub = container.client._hub
        self._pid: int | None = None

    @property
    def pid(self) -> int:
        """The system pid."""
        if self._pid is None:
            self._pid = op(number_result, lib().pylibctrd_process_pid, self._handle).run()
        return self._pid

    def kill(self, signal: int = _signal.SIGKILL) -> None:
        """Send a signal (an int or a `signal.Signals`)."""
        self._kill(signal).run()

    def _kill(self, signal: int) -> Op[None]:
        return op(no_result, lib().pylibctrd_process_kill, self._handle,
                  _args.c_int(signal, "signal"))

    def resize(self, width: int, height: int) -> None:
        """Resize the process's terminal."""
        self._resize(width, height).run()

    def _resize(self, width: int, height: int) -> Op[None]:
        return op(no_result, lib().pylibctrd_process_resize, self._handle,
                  _args.uint32(width, "width"), _args.uint32(height, "height"))

    def wait(self, timeout: float | None = None) -> EventInfo:
        """The EXIT event libcontainerd delivered for this process (what dockerd
        acts on), waiting for it up to `timeout` seconds (`errors.Deadline`)."""
        return self._hub.wait_exit(self.container_id, self.id, timeout)

    def delete(self) -> ExitStatus:
        """Remove the process and return its exit status."""
        return self._delete().run()

    def _delete(self) -> Op[ExitStatus]:
        def decode(number: int, data: bytes | None) -> ExitStatus:
            self._hub.forget_exit(self.container_id, self.id)
            d = json_result(number, data)
            return ExitStatus(d["exit_code"], from_unix_nanos(d["exited_at"]), d["error"])

        return op(decode, lib().pylibctrd_process_delete, self._handle)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


class Task(Process):
    """libcontainerd's Task: the container's main process."""

    def __init__(self, handle: int, container: Container) -> None:
        super().__init__(handle, container.id, container)
        self.container = container

    def start(self) -> None:
        self._start().run()

    def _start(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_start, self._handle)

    def pause(self) -> None:
        self._pause().run()

    def _pause(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_pause, self._handle)

    def resume(self) -> None:
        self._resume().run()

    def _resume(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_resume, self._handle)

    def force_delete(self) -> None:
        """Kill every process of the task and delete it."""
        self._force_delete().run()

    def _force_delete(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_force_delete, self._handle)

    def status(self) -> Status:
        return self._status().run()

    def _status(self) -> Op[Status]:
        return op(lambda n, d: Status(text_result(n, d)[0] or "unknown"),
                  lib().pylibctrd_task_status, self._handle)

    def stats(self) -> Stats:
        """cgroup metrics (v1 or v2 Metrics as a nested dict)."""
        return self._stats().run()

    def _stats(self) -> Op[Stats]:
        def decode(number: int, data: bytes | None) -> Stats:
            s = json_result(number, data)
            return Stats(from_unix_nanos(s["read"]), s["metrics"] or {})

        return op(decode, lib().pylibctrd_task_stats, self._handle)

    def pids(self) -> list[ProcessInfo]:
        return self._pids().run()

    def _pids(self) -> Op[list[ProcessInfo]]:
        return op(lambda n, d: [ProcessInfo(p["pid"], p["info"]) for p in json_result(n, d)],
                  lib().pylibctrd_task_pids, self._handle)

    def summary(self) -> list[dict[str, Any]]:
        """libcontainerd's Summary (its entries are empty on Linux)."""
        return self._summary().run()

    def _summary(self) -> Op[list[dict[str, Any]]]:
        return op(lambda n, d: list(json_result(n, d)), lib().pylibctrd_task_summary,
                  self._handle)

    def exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool = False,
             attach_stdio: AttachStdio | None = None) -> Process:
        """Create and start a process in the task (an OCI process spec dict)."""
        return self._exec(process_id, process_spec, with_stdin, attach_stdio).run()

    def _exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool,
              attach_stdio: AttachStdio | None) -> Op[Process]:
        id_c = _args.text(process_id, "process_id")
        spec_json = _args.json_object(process_spec, "process_spec")
        stdin_c = _args.flag(with_stdin, "with_stdin")
        self._hub.forget_exit(self.container_id, process_id)
        return stdio_op(lambda handle, _: Process(handle, process_id, self.container),
                        to_sink(attach_stdio), lib().pylibctrd_task_exec, self._handle, id_c,
                        spec_json, len(spec_json), stdin_c)

    def update_resources(self, resources: Mapping[str, Any]) -> None:
        """Update the cgroup limits (OCI LinuxResources dict)."""
        self._update_resources(resources).run()

    def _update_resources(self, resources: Mapping[str, Any]) -> Op[None]:
        data = _args.json_object(resources, "resources")
        return op(no_result, lib().pylibctrd_task_update_resources, self._handle, data, len(data))

    def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        """Checkpoint with CRIU into `checkpoint_dir` (needs a working CRIU)."""
        self._create_checkpoint(checkpoint_dir, exit).run()

    def _create_checkpoint(self, checkpoint_dir: str, exit: bool) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_create_checkpoint, self._handle,
                  _args.text(checkpoint_dir, "checkpoint_dir"), _args.flag(exit, "exit"))
