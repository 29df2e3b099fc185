"""Client, Container, Task and Process: libcontainerd's interfaces in Python.

Each object owns one native handle, released when the object is collected;
releasing a handle never touches the container itself.
"""

from __future__ import annotations

import os
import signal as _signal
import weakref
from typing import Any, Mapping

from . import _ffi, errors
from .daemon import Daemon, default_daemon, default_state_dir
from .events import Backend
from .stdio import AttachStdio, to_sink
from .types import (
    EventInfo, EventType, ExitStatus, ProcessInfo, Stats, Status, Version, from_unix_nanos,
)

RUNC_V2 = "io.containerd.runc.v2"
DEFAULT_NAMESPACE = "moby"


class _Native:
    """Owns a handle; the handle is released when the object is collected."""

    def __init__(self, handle: int) -> None:
        self._handle = handle

    def __del__(self) -> None:
        # __del__ rather than weakref.finalize: a quarter of the cost, and these
        # objects are made on every load/new_task/exec. release() is quiet at
        # exit and after a fork; late in interpreter teardown _ffi may be gone.
        if _ffi is not None:
            _ffi.release(self._handle)


def _close_client(handle: int, events_key: int) -> None:
    try:
        _ffi.call("client_close", handle, 0)
    except errors.Error:
        pass
    _ffi.unregister_events(events_key)
    _ffi.release(handle)


def _exit_status(data: dict[str, Any]) -> ExitStatus:
    return ExitStatus(data["exit_code"], from_unix_nanos(data["exited_at"]), data["error"])


def _flag(value: object, what: str) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be bool, not {type(value).__name__}")
    return int(value)


def _uint32(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise errors.InvalidParameter(f"{what} must be between 0 and 2**32-1, got {value}")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    return value


class Client:
    """libcontainerd's Client (`libcontainerd.NewClient`) on one containerd.

    Use `Client.connect()`; close it (or use `with`) to stop its event stream:
    once `close()` returns, no callback for it runs any more.
    """

    def __init__(self, handle: int, *, address: str, namespace: str, state_dir: str,
                 daemon: Daemon | None, events_key: int = 0) -> None:
        self._handle = handle
        self._events_key = events_key
        self.address = address
        self.namespace = namespace
        self.state_dir = state_dir
        self.daemon = daemon  # kept alive while the client is
        self._finalizer = weakref.finalize(self, _close_client, handle, events_key)

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
        daemon = None
        if address is None:
            daemon = default_daemon()
            address = daemon.address
            state = os.fspath(state_dir) if state_dir is not None else daemon.state_dir
        else:
            state = os.fspath(state_dir) if state_dir is not None else default_state_dir()
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number, got {timeout!r}")
        if backend is not None and not callable(getattr(backend, "process_event", None)):
            raise TypeError("backend must have a process_event(container_id, event, info) method")
        # The sink is registered first: events can arrive as soon as Go connects.
        events_key = _ffi.register_events(_event_sink(backend)) if backend is not None else 0
        try:
            handle, _ = _ffi.call(
                "client_connect", _ffi.cstr(address, "address"), _ffi.cstr(namespace, "namespace"),
                _ffi.cstr(state, "state_dir"), events_key, int(timeout * 1000),
            )
        except BaseException:
            _ffi.unregister_events(events_key)
            raise
        client = cls(handle, address=address, namespace=namespace, state_dir=state, daemon=daemon,
                     events_key=events_key)
        _ffi.close_at_exit(client)
        return client

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Stop the event stream and the connection. Waits for running event
        callbacks, except when called from inside one."""
        if self._finalizer.detach() is None:
            return
        try:
            _ffi.call("client_close", self._handle, int(not _ffi.in_event_callback()))
        finally:
            _ffi.unregister_events(self._events_key)
            _ffi.release(self._handle)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, name: str, *args: Any) -> tuple[int, bytes | None]:
        if self.closed:
            raise errors.Closed("client is closed")
        return _ffi.call(name, self._handle, *args)

    def version(self) -> Version:
        """containerd's version."""
        _, data = self._call("client_version")
        version, _, revision = (data or b"").decode().partition("\0")
        return Version(version, revision)

    def load_container(self, id: str) -> Container:
        """An existing container; `NotFound("no such container")` otherwise."""
        handle, _ = self._call("client_load_container", _ffi.cstr(id, "id"))
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
        spec_json = _ffi.cjson(_mapping(spec, "spec"), "spec")
        opts_json = b"" if runtime_options is None else _ffi.cjson(
            _mapping(runtime_options, "runtime_options"), "runtime_options")
        labels_json = b"" if labels is None else _ffi.cjson(_mapping(labels, "labels"), "labels")
        handle, _ = self._call(
            "client_new_container", _ffi.cstr(id, "id"), spec_json, len(spec_json),
            _ffi.cstr(shim, "shim"), opts_json, len(opts_json), labels_json, len(labels_json),
            int(replace),
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


class Container(_Native):
    """libcontainerd's Container."""

    def __init__(self, handle: int, client: Client, id: str) -> None:
        super().__init__(handle)
        self.client = client
        self.id = id

    def new_task(self, checkpoint_dir: str = "", with_stdin: bool = False,
                 attach_stdio: AttachStdio | None = None) -> Task:
        """Create (not start) the container's task. `attach_stdio` gets the
        FIFOs (see pylibctrd.stdio); None drains output and closes stdin."""
        handle, _ = _ffi.call_with_stdio(
            to_sink(attach_stdio), "container_new_task", self._handle,
            _ffi.cstr(checkpoint_dir, "checkpoint_dir"), _flag(with_stdin, "with_stdin"))
        return Task(handle, self)

    def task(self) -> Task:
        """The existing task; `NotFound` if there is none."""
        handle, _ = _ffi.call("container_task", self._handle)
        return Task(handle, self)

    def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        """The existing task, reattached to its IO (only one reader at a time)."""
        handle, _ = _ffi.call_with_stdio(to_sink(attach_stdio), "container_attach_task",
                                         self._handle)
        return Task(handle, self)

    def delete(self) -> None:
        """Delete the container and its bundle dir (kept with LIBCONTAINERD_NOCLEAN=1)."""
        _ffi.call("container_delete", self._handle)

    def __repr__(self) -> str:
        return f"<Container {self.id!r}>"


class Process(_Native):
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
            self._pid, _ = _ffi.call("process_pid", self._handle)
        return self._pid

    def kill(self, signal: int = _signal.SIGKILL) -> None:
        """Send a signal (an int or a `signal.Signals`)."""
        if not isinstance(signal, int) or isinstance(signal, bool):
            raise TypeError(f"signal must be int, not {type(signal).__name__}")
        _ffi.call("process_kill", self._handle, int(signal))

    def resize(self, width: int, height: int) -> None:
        """Resize the process's terminal."""
        _ffi.call("process_resize", self._handle, _uint32(width, "width"),
                  _uint32(height, "height"))

    def delete(self) -> ExitStatus:
        """Remove the process and return its exit status."""
        return _exit_status(_ffi.call_json("process_delete", self._handle))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


class Task(Process):
    """libcontainerd's Task: the container's main process."""

    def __init__(self, handle: int, container: Container) -> None:
        super().__init__(handle, container.id, container)
        self.container = container

    def start(self) -> None:
        _ffi.call("task_start", self._handle)

    def pause(self) -> None:
        _ffi.call("task_pause", self._handle)

    def resume(self) -> None:
        _ffi.call("task_resume", self._handle)

    def force_delete(self) -> None:
        """Kill every process of the task and delete it."""
        _ffi.call("task_force_delete", self._handle)

    def status(self) -> Status:
        _, data = _ffi.call("task_status", self._handle)
        return Status((data or b"unknown").decode())

    def stats(self) -> Stats:
        """cgroup metrics (v1 or v2 Metrics as a nested dict)."""
        s = _ffi.call_json("task_stats", self._handle)
        return Stats(from_unix_nanos(s["read"]), s["metrics"] or {})

    def pids(self) -> list[ProcessInfo]:
        return [ProcessInfo(p["pid"], p["info"]) for p in _ffi.call_json("task_pids", self._handle)]

    def summary(self) -> list[dict[str, Any]]:
        """libcontainerd's Summary (its entries are empty on Linux)."""
        return list(_ffi.call_json("task_summary", self._handle))

    def exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool = False,
             attach_stdio: AttachStdio | None = None) -> Process:
        """Create and start a process in the task (an OCI process spec dict)."""
        spec_json = _ffi.cjson(_mapping(process_spec, "process_spec"), "process_spec")
        handle, _ = _ffi.call_with_stdio(
            to_sink(attach_stdio), "task_exec", self._handle, _ffi.cstr(process_id, "process_id"),
            spec_json, len(spec_json), _flag(with_stdin, "with_stdin"))
        return Process(handle, process_id, self)

    def update_resources(self, resources: Mapping[str, Any]) -> None:
        """Update the cgroup limits (OCI LinuxResources dict)."""
        data = _ffi.cjson(_mapping(resources, "resources"), "resources")
        _ffi.call("task_update_resources", self._handle, data, len(data))

    def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        """Checkpoint with CRIU into `checkpoint_dir` (needs a working CRIU)."""
        _ffi.call("task_create_checkpoint", self._handle,
                  _ffi.cstr(checkpoint_dir, "checkpoint_dir"), _flag(exit, "exit"))
