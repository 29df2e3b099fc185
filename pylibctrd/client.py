"""Client, Container, Task and Process: libcontainerd's interfaces in Python.

Each object owns one native handle (`_ffi.Owned`), released when the object
is collected; releasing a handle never touches the container itself.
"""

from __future__ import annotations

import os
import signal as _signal
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from . import _args, _ffi
from ._ffi import call, call_json, call_text, call_with_stdio, lib
from .daemon import Daemon, default_daemon, default_state_dir
from .events import Backend
from .stdio import AttachStdio, to_sink
from .types import (
    EventInfo, EventType, ExitStatus, ProcessInfo, Stats, Status, Version, from_unix_nanos,
)

RUNC_V2 = "io.containerd.runc.v2"
DEFAULT_NAMESPACE = "moby"


def _exit_status(data: dict[str, Any]) -> ExitStatus:
    return ExitStatus(data["exit_code"], from_unix_nanos(data["exited_at"]), data["error"])


@dataclass(frozen=True)
class ContainerRecord:
    """containerd's record of a container (`ctr containers info`, in part)."""

    id: str
    labels: dict[str, str]
    image: str
    runtime: str
    created_at: datetime | None


class Client(_ffi.Owned):
    """libcontainerd's Client (`libcontainerd.NewClient`) on one containerd.

    Use `Client.connect()`; close it (or use `with`) to stop its event stream:
    once `close()` returns, no callback for it runs any more, and every call
    on it or its objects raises `errors.Closed`.
    """

    def __init__(self, handle: int, *, address: str, namespace: str, state_dir: str,
                 daemon: Daemon | None, events_key: int = 0) -> None:
        super().__init__(handle, close_at_exit=True)
        self._events_key = events_key
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
        timeout_ms = _args.millis(timeout, "timeout")
        if backend is not None and not callable(getattr(backend, "process_event", None)):
            raise TypeError("backend must have a process_event(container_id, event, info) method")
        daemon = None
        if address is None:
            daemon = default_daemon()
            address = daemon.address
        state = (_args.path(state_dir, "state_dir") if state_dir is not None
                 else daemon.state_dir if daemon is not None else default_state_dir())
        address_c, namespace_c = _args.text(address, "address"), _args.text(namespace, "namespace")
        state_c = _args.text(state, "state_dir")
        # The sink is registered first: events can arrive as soon as Go connects.
        events_key = _ffi.register_events(_event_sink(backend)) if backend is not None else 0
        try:
            handle, _ = call(lib().pylibctrd_client_connect, address_c, namespace_c, state_c,
                             events_key, timeout_ms)
        except BaseException:
            _ffi.unregister_events(events_key)
            raise
        return cls(handle, address=address, namespace=namespace, state_dir=state, daemon=daemon,
                   events_key=events_key)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the event stream and the connection. Waits for running event
        callbacks, except when called from inside one."""
        self._close(wait=not _ffi.in_event_callback())

    def _close(self, wait: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            call(lib().pylibctrd_client_close, self._handle, int(wait))
        finally:
            _ffi.unregister_events(self._events_key)

    def _finalize(self) -> None:
        self._close(wait=False)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> Version:
        """containerd's version."""
        version, revision = call_text(lib().pylibctrd_client_version, self._handle)
        return Version(version, revision)

    def list_containers(self) -> list[ContainerRecord]:
        """containerd's records of the containers in this namespace (libcontainerd
        has no list: dockerd keeps its own; this reads containerd's)."""
        return [
            ContainerRecord(r["id"], r["labels"], r["image"], r["runtime"],
                            from_unix_nanos(r["created_at"]))
            for r in call_json(lib().pylibctrd_client_list_containers, self._handle)
        ]

    def load_container(self, id: str) -> Container:
        """An existing container; `NotFound("no such container")` otherwise."""
        handle, _ = call(lib().pylibctrd_client_load_container, self._handle, _args.text(id, "id"))
        return Container(handle, self, id)

    def new_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                      runtime_options: Mapping[str, Any] | None = None, *,
                      labels: Mapping[str, str] | None = None) -> Container:
        """Create a container from an OCI runtime spec (a dict, e.g. built on
        `default_spec()`). `runtime_options` are the shim's options as in
        dockerd's runtime config (e.g. {"BinaryName": "runc"}); the bundle dir
        `<state_dir>/<id>` is recorded in label com.docker/engine.bundle.path.
        A duplicate id raises `Conflict("id already in use")`."""
        return self._create(id, spec, shim, runtime_options, labels, replace=False)

    def replace_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                          runtime_options: Mapping[str, Any] | None = None, *,
                          labels: Mapping[str, str] | None = None) -> Container:
        """`libcontainerd.ReplaceContainer`: like new_container, but first
        force-deletes any container (and task) with the same id."""
        return self._create(id, spec, shim, runtime_options, labels, replace=True)

    def _create(self, id: str, spec: Mapping[str, Any], shim: str,
                runtime_options: Mapping[str, Any] | None, labels: Mapping[str, str] | None,
                replace: bool) -> Container:
        spec_json = _args.json_object(spec, "spec")
        opts_json = b"" if runtime_options is None else _args.json_object(
            runtime_options, "runtime_options")
        labels_json = b"" if labels is None else _args.json_object(labels, "labels")
        handle, _ = call(
            lib().pylibctrd_client_new_container, self._handle, _args.text(id, "id"),
            spec_json, len(spec_json), _args.text(shim, "shim"), opts_json, len(opts_json),
            labels_json, len(labels_json), int(replace),
        )
        return Container(handle, self, id)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Client {self.address!r} namespace={self.namespace!r} {state}>"


def _event_sink(backend: Backend) -> _ffi.EventSink:
    def sink(p: dict[str, Any]) -> None:
        info = EventInfo(p["container_id"], p["process_id"], p["pid"], p["exit_code"],
                         from_unix_nanos(p["exited_at"]), p["error"])
        backend.process_event(p["container_id"], EventType(p["type"]), info)

    return sink


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
        handle, _ = call_with_stdio(
            to_sink(attach_stdio), lib().pylibctrd_container_new_task, self._handle,
            _args.text(checkpoint_dir, "checkpoint_dir"), _args.flag(with_stdin, "with_stdin"))
        return Task(handle, self)

    def task(self) -> Task:
        """The existing task; `NotFound` if there is none."""
        handle, _ = call(lib().pylibctrd_container_task, self._handle)
        return Task(handle, self)

    def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        """The existing task, reattached to its IO (only one reader at a time)."""
        handle, _ = call_with_stdio(to_sink(attach_stdio), lib().pylibctrd_container_attach_task,
                                    self._handle)
        return Task(handle, self)

    def delete(self) -> None:
        """Delete the container and its bundle dir (kept with LIBCONTAINERD_NOCLEAN=1)."""
        call(lib().pylibctrd_container_delete, self._handle)

    def __repr__(self) -> str:
        return f"<Container {self.id!r}>"


class Process(_ffi.Owned):
    """libcontainerd's Process (an exec'd process; Task extends it)."""

    def __init__(self, handle: int, id: str, owner: object) -> None:
        super().__init__(handle)
        self.id = id
        self._owner = owner  # keeps the task (and so the client) alive
        self._pid: int | None = None

    @property
    def pid(self) -> int:
        """The system pid."""
        if self._pid is None:
            self._pid, _ = call(lib().pylibctrd_process_pid, self._handle)
        return self._pid

    def kill(self, signal: int = _signal.SIGKILL) -> None:
        """Send a signal (an int or a `signal.Signals`)."""
        call(lib().pylibctrd_process_kill, self._handle, _args.c_int(signal, "signal"))

    def resize(self, width: int, height: int) -> None:
        """Resize the process's terminal."""
        call(lib().pylibctrd_process_resize, self._handle, _args.uint32(width, "width"),
             _args.uint32(height, "height"))

    def delete(self) -> ExitStatus:
        """Remove the process and return its exit status."""
        return _exit_status(call_json(lib().pylibctrd_process_delete, self._handle))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


class Task(Process):
    """libcontainerd's Task: the container's main process."""

    def __init__(self, handle: int, container: Container) -> None:
        super().__init__(handle, container.id, container)
        self.container = container

    def start(self) -> None:
        call(lib().pylibctrd_task_start, self._handle)

    def pause(self) -> None:
        call(lib().pylibctrd_task_pause, self._handle)

    def resume(self) -> None:
        call(lib().pylibctrd_task_resume, self._handle)

    def force_delete(self) -> None:
        """Kill every process of the task and delete it."""
        call(lib().pylibctrd_task_force_delete, self._handle)

    def status(self) -> Status:
        (status,) = call_text(lib().pylibctrd_task_status, self._handle)
        return Status(status or "unknown")

    def stats(self) -> Stats:
        """cgroup metrics (v1 or v2 Metrics as a nested dict)."""
        s = call_json(lib().pylibctrd_task_stats, self._handle)
        return Stats(from_unix_nanos(s["read"]), s["metrics"] or {})

    def pids(self) -> list[ProcessInfo]:
        return [ProcessInfo(p["pid"], p["info"])
                for p in call_json(lib().pylibctrd_task_pids, self._handle)]

    def summary(self) -> list[dict[str, Any]]:
        """libcontainerd's Summary (its entries are empty on Linux)."""
        return list(call_json(lib().pylibctrd_task_summary, self._handle))

    def exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool = False,
             attach_stdio: AttachStdio | None = None) -> Process:
        """Create and start a process in the task (an OCI process spec dict)."""
        spec_json = _args.json_object(process_spec, "process_spec")
        handle, _ = call_with_stdio(
            to_sink(attach_stdio), lib().pylibctrd_task_exec, self._handle,
            _args.text(process_id, "process_id"), spec_json, len(spec_json),
            _args.flag(with_stdin, "with_stdin"))
        return Process(handle, process_id, self)

    def update_resources(self, resources: Mapping[str, Any]) -> None:
        """Update the cgroup limits (OCI LinuxResources dict)."""
        data = _args.json_object(resources, "resources")
        call(lib().pylibctrd_task_update_resources, self._handle, data, len(data))

    def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        """Checkpoint with CRIU into `checkpoint_dir` (needs a working CRIU)."""
        call(lib().pylibctrd_task_create_checkpoint, self._handle,
             _args.text(checkpoint_dir, "checkpoint_dir"), _args.flag(exit, "exit"))
