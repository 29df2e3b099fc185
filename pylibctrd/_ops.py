"""One description per operation: its arguments checked and its answer
decoded here, once. Each class owns one native handle and what both faces of
that object share; its methods build `_ffi.Op`s, which the sync classes
(pylibctrd.client) run now and pylibctrd.aio runs on its completion port.
Defaults live on those faces (a unit test holds them equal); the methods
here take every argument.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from . import _args, _ffi
from . import images as _images
from . import services as _services
from . import registry as _registry
from . import networks as _networks
from ._ffi import Op, json_result, lib, no_result, number_result, op, stdio_op, text_result
from ._hub import Hub
from .daemon import Daemon, default_daemon, default_state_dir
from .events import Backend
from .runtimes import RUNC_V2 as RUNC_V2, Runtimes
from .stdio import AttachStdio, Log, to_sink
from .types import ExitStatus, ProcessInfo, Stats, Status, Version, from_unix_nanos

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


def check_backend(backend: Backend | None, *, allow_async: bool) -> bool:
    """Whether `backend.process_event` is a coroutine function (only the
    asyncio client can await it)."""
    if backend is None:
        return False
    handler = getattr(backend, "process_event", None)
    if not callable(handler):
        raise TypeError("backend must have a process_event(container_id, event, info) method")
    is_async = inspect.iscoroutinefunction(handler)
    if is_async and not allow_async:
        raise TypeError("an async backend needs the asyncio client: pylibctrd.aio.Client")
    return is_async


# The last version answer and its Version: containerd answers the same on
# every call, and a frozen dataclass costs ~1 us to make (Version is immutable,
# so handing out the same one is safe).
_last_version: tuple[bytes | None, Version | None] = (None, None)


def _decode_version(number: int, data: bytes | None) -> Version:
    global _last_version
    last_data, last = _last_version
    if last is not None and data == last_data:
        return last
    version, revision = text_result(number, data)
    made = Version(version, revision)
    _last_version = (data, made)
    return made


class ClientOps(_ffi.Owned):
    """One libcontainerd Client: its handle, event hub and connection facts."""

    def __init__(self, handle: int, *, address: str, namespace: str, state_dir: str,
                 daemon: Daemon | None, hub: Hub, events_key: int,
                 runtimes: Runtimes | None = None) -> None:
        super().__init__(handle, close_at_exit=True)
        self.runtimes = runtimes if runtimes is not None else Runtimes()
        self.events_key = events_key
        self.hub = hub
        self.closed = False
        self.address = address
        self.namespace = namespace
        self.state_dir = state_dir
        self.daemon = daemon  # kept alive while the client is
        self._version: Op[Version] | None = None

    @classmethod
    def connect(cls, address: str | None, namespace: str,
                state_dir: str | os.PathLike[str] | None, backend: Backend | None,
                timeout: float, loop: asyncio.AbstractEventLoop | None,
                daemon: Daemon | None = None) -> Op[ClientOps]:
        """`loop`: an async backend's loop. With no address and no `daemon`,
        the embedded default containerd is started (blocking) first."""
        timeout_ms = _args.millis(timeout, "timeout")
        check_backend(backend, allow_async=loop is not None)
        runtimes = Runtimes.load()
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

        def connected(handle: int, _: bytes | None) -> ClientOps:
            return cls(handle, address=address, namespace=namespace, state_dir=state,
                       daemon=daemon, hub=hub, events_key=events_key, runtimes=runtimes)

        connect = op(connected, lib().pylibctrd_client_connect, address_c, namespace_c, state_c,
                     events_key, timeout_ms)
        connect.on_error = lambda: _ffi.unregister_events(events_key)
        return connect

    def shut(self, wait: bool) -> Op[None] | None:
        """Close the event stream and the connection (None: closed already).
        `wait`: for event callbacks in flight (not from inside one)."""
        if self.closed:
            return None
        self.closed = True

        def closed(number: int, data: bytes | None) -> None:
            _ffi.unregister_events(self.events_key)
            self.hub.close()

        close = op(closed, lib().pylibctrd_client_close, self._handle, int(wait))
        close.on_error = lambda: closed(0, None)
        return close

    def close(self) -> None:  # at exit (Owned)
        shut = self.shut(wait=not _ffi.in_event_callback())
        if shut is not None:
            shut.run()

    def _finalize(self) -> None:
        shut = self.shut(wait=False)
        if shut is not None:
            shut.run()

    def version(self) -> Op[Version]:
        # One Op serves every call: it holds only the handle, and running an
        # Op changes nothing in it (no on_error, no stdio).
        native = lib()  # each call: in a forked child this raises ForkedChild
        if self._version is None:
            self._version = op(_decode_version, native.pylibctrd_client_version, self._handle)
        return self._version

    def list_containers(self) -> Op[list[ContainerRecord]]:
        def decode(number: int, data: bytes | None) -> list[ContainerRecord]:
            return [ContainerRecord(r["id"], r["labels"], r["image"], r["runtime"],
                                    from_unix_nanos(r["created_at"]), r["spec"])
                    for r in json_result(number, data)]

        return op(decode, lib().pylibctrd_client_list_containers, self._handle)

    def load_container(self, id: str) -> Op[ContainerOps]:
        id_c = _args.text(id, "id")
        return op(lambda handle, _: ContainerOps(handle, self, id),
                  lib().pylibctrd_client_load_container, self._handle, id_c)

    def new_container(self, id: str, spec: Mapping[str, Any], shim: str,
                      runtime_options: Mapping[str, Any] | None,
                      labels: Mapping[str, str] | None, replace: bool) -> Op[ContainerOps]:
        if runtime_options is None and shim == RUNC_V2 and self.runtimes.default is not None:
            # daemon.json's default-runtime, as dockerd applies it to `docker run`.
            default = self.runtimes.get(None)
            shim, runtime_options = default.shim, default.options
        spec_json = _args.json_object(spec, "spec")
        opts_json = b"" if runtime_options is None else _args.json_object(
            runtime_options, "runtime_options")
        labels_json = b"" if labels is None else _args.json_object(labels, "labels")
        id_c, shim_c = _args.text(id, "id"), _args.text(shim, "shim")
        return op(lambda handle, _: ContainerOps(handle, self, id),
                  lib().pylibctrd_client_new_container, self._handle, id_c,
                  spec_json, len(spec_json), shim_c, opts_json,
                  len(opts_json), labels_json, len(labels_json), int(replace))

    # Images (pylibctrd/images.py holds their decoders).
    def import_image(self, archive: _images.Archive,
                     name: str | None) -> tuple[Op[list[_images.Image]], _images.Pump | None]:
        return _images.import_op(self._handle, archive, name)

    def images(self) -> Op[list[_images.Image]]:
        return _images.images_op(self._handle)

    def get_image(self, ref: str) -> Op[_images.Image]:
        return _images.get_image_op(self._handle, ref)

    def remove_image(self, ref: str) -> Op[None]:
        return _images.remove_image_op(self._handle, ref)

    def prepare_rootfs(self, container_id: str, ref: str) -> Op[str]:
        return _images.prepare_rootfs_op(self._handle, container_id, ref)

    def release_rootfs(self, container_id: str) -> Op[None]:
        return _images.release_rootfs_op(self._handle, container_id)

    # Volumes and logs (pylibctrd/services.py holds their decoders).
    def create_volume(self, name: str | None,
                      labels: Mapping[str, str] | None) -> Op[_services.Volume]:
        return _services.create_volume_op(self._handle, name, labels)

    def volumes(self) -> Op[list[_services.Volume]]:
        return _services.volumes_op(self._handle)

    def remove_volume(self, name: str) -> Op[None]:
        return _services.remove_volume_op(self._handle, name)

    def logs(self, container_id: str, follow: bool, since: datetime | float | None,
             until: datetime | float | None, tail: int | None, timestamps: bool,
             stdout: bool, stderr: bool) -> Op[_services.LogReaderOps]:
        return _services.logs_op(self._handle, container_id, follow, since, until, tail,
                                 timestamps, stdout, stderr)
    # Registries (pylibctrd/registry.py holds their builders).
    def pull(self, ref: str, platform: str | None, auth: _registry.Auth | None,
             progress: _registry.ProgressCallback | None,
             deliver: _registry.Deliver | None = None) -> Op[_images.Image]:
        return _registry.pull_op(self._handle, ref, platform, auth, progress, deliver)

    def push(self, ref: str, auth: _registry.Auth | None,
             progress: _registry.ProgressCallback | None,
             deliver: _registry.Deliver | None = None) -> Op[str]:
        return _registry.push_op(self._handle, ref, auth, progress, deliver)

    def tag(self, source: str, target: str) -> Op[None]:
        return _registry.tag_op(self._handle, source, target)

    def save(self, refs: str | Sequence[str],
             file: _registry.SaveTarget) -> tuple[Op[None], _registry.Drain | None]:
        return _registry.save_op(self._handle, refs, file)

    def login(self, auth: _registry.Auth, config_dir: str | os.PathLike[str] | None) -> Op[str]:
        return _registry.login_op(self._handle, auth, config_dir)

    def configure_registry(self, options: Mapping[str, Any]) -> Op[None]:
        return _registry.configure_registry_op(self._handle, options)
    # Networks (pylibctrd/networks.py holds their decoders).
    def create_network(self, name: str, subnet: str | None, gateway: str | None,
                       internal: bool, labels: Mapping[str, str] | None) -> Op[_networks.Network]:
        return _networks.create_network_op(self._handle, name, subnet, gateway, internal, labels)

    def networks(self) -> Op[list[_networks.Network]]:
        return _networks.networks_op(self._handle)

    def remove_network(self, name: str) -> Op[None]:
        return _networks.remove_network_op(self._handle, name)

    def connect_network(self, container_id: str, network: str, ports: Sequence[_networks.Port],
                        aliases: Sequence[str], ip: str | None) -> Op[_networks.Endpoint]:
        return _networks.connect_network_op(self._handle, container_id, network, ports, aliases,
                                            ip)

    def disconnect_network(self, container_id: str, network: str) -> Op[None]:
        return _networks.disconnect_network_op(self._handle, container_id, network)

    def endpoints(self, container_id: str) -> Op[list[_networks.Endpoint]]:
        return _networks.endpoints_op(self._handle, container_id)

    def cleanup_networks(self) -> Op[list[str]]:
        return _networks.cleanup_networks_op(self._handle)


class ContainerOps(_ffi.Owned):
    """One libcontainerd Container."""

    def __init__(self, handle: int, client: ClientOps, id: str) -> None:
        super().__init__(handle)
        self.client = client
        self.id = id

    def new_task(self, checkpoint_dir: str, with_stdin: bool,
                 attach_stdio: AttachStdio | None) -> Op[TaskOps]:
        checkpoint_c = _args.text(checkpoint_dir, "checkpoint_dir")
        stdin_c = _args.flag(with_stdin, "with_stdin")
        self.client.hub.forget_exit(self.id, self.id)
        self._bind_log(attach_stdio)
        return stdio_op(lambda handle, _: TaskOps(handle, self), to_sink(attach_stdio),
                        lib().pylibctrd_container_new_task, self._handle, checkpoint_c, stdin_c)

    def task(self) -> Op[TaskOps]:
        return op(lambda handle, _: TaskOps(handle, self), lib().pylibctrd_container_task,
                  self._handle)

    def attach_task(self, attach_stdio: AttachStdio | None) -> Op[TaskOps]:
        self._bind_log(attach_stdio)
        return stdio_op(lambda handle, _: TaskOps(handle, self), to_sink(attach_stdio),
                        lib().pylibctrd_container_attach_task, self._handle)

    def delete(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_container_delete, self._handle)

    def _bind_log(self, attach_stdio: AttachStdio | None) -> None:
        """A stdio.Log writes this container's log, in its client's home."""
        if isinstance(attach_stdio, Log):
            attach_stdio._bind(self.client, self.id)
    def host_port(self, port: int, proto: str) -> Op[int]:
        return _networks.host_port_op(self.client._handle, self.id, port, proto)


class ProcessOps(_ffi.Owned):
    """One libcontainerd Process (TaskOps extends it, as Task embeds Process)."""

    def __init__(self, handle: int, id: str, container: ContainerOps) -> None:
        super().__init__(handle)
        self.id = id
        self.container = container  # keeps the client alive
        self.container_id = container.id
        self.hub = container.client.hub
        self._pid: int | None = None

    def pid(self) -> int:
        """The system pid (asked once: it does not change)."""
        if self._pid is None:
            self._pid = op(number_result, lib().pylibctrd_process_pid, self._handle).run()
        return self._pid

    def kill(self, signal: int) -> Op[None]:
        signal_c = _args.c_int(signal, "signal")
        return op(no_result, lib().pylibctrd_process_kill, self._handle, signal_c)

    def resize(self, width: int, height: int) -> Op[None]:
        width_c, height_c = _args.uint32(width, "width"), _args.uint32(height, "height")
        return op(no_result, lib().pylibctrd_process_resize, self._handle, width_c, height_c)

    def delete(self) -> Op[ExitStatus]:
        def decode(number: int, data: bytes | None) -> ExitStatus:
            self.hub.forget_exit(self.container_id, self.id)
            d = json_result(number, data)
            return ExitStatus(d["exit_code"], from_unix_nanos(d["exited_at"]), d["error"])

        return op(decode, lib().pylibctrd_process_delete, self._handle)


class TaskOps(ProcessOps):
    """One libcontainerd Task: the container's main process."""

    def __init__(self, handle: int, container: ContainerOps) -> None:
        super().__init__(handle, container.id, container)

    def start(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_start, self._handle)

    def pause(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_pause, self._handle)

    def resume(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_resume, self._handle)

    def force_delete(self) -> Op[None]:
        return op(no_result, lib().pylibctrd_task_force_delete, self._handle)

    def status(self) -> Op[Status]:
        return op(lambda n, d: Status(text_result(n, d)[0] or "unknown"),
                  lib().pylibctrd_task_status, self._handle)

    def stats(self) -> Op[Stats]:
        def decode(number: int, data: bytes | None) -> Stats:
            s = json_result(number, data)
            return Stats(from_unix_nanos(s["read"]), s["metrics"] or {})

        return op(decode, lib().pylibctrd_task_stats, self._handle)

    def pids(self) -> Op[list[ProcessInfo]]:
        return op(lambda n, d: [ProcessInfo(p["pid"], p["info"]) for p in json_result(n, d)],
                  lib().pylibctrd_task_pids, self._handle)

    def summary(self) -> Op[list[dict[str, Any]]]:
        return op(lambda n, d: list(json_result(n, d)), lib().pylibctrd_task_summary,
                  self._handle)

    def exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool,
             attach_stdio: AttachStdio | None) -> Op[ProcessOps]:
        id_c = _args.text(process_id, "process_id")
        spec_json = _args.json_object(process_spec, "process_spec")
        stdin_c = _args.flag(with_stdin, "with_stdin")
        if isinstance(attach_stdio, Log):
            raise TypeError("stdio.Log writes a container's log: it is for new_task/attach_task, "
                            "not exec (dockerd does not log execs)")
        self.hub.forget_exit(self.container_id, process_id)
        return stdio_op(lambda handle, _: ProcessOps(handle, process_id, self.container),
                        to_sink(attach_stdio), lib().pylibctrd_task_exec, self._handle, id_c,
                        spec_json, len(spec_json), stdin_c)

    def update_resources(self, resources: Mapping[str, Any]) -> Op[None]:
        data = _args.json_object(resources, "resources")
        return op(no_result, lib().pylibctrd_task_update_resources, self._handle, data, len(data))

    # Health checks (pylibctrd/services.py)
    def start_health(self, healthcheck: Mapping[str, Any]) -> Op[None]:
        return _services.start_health_op(self._handle, healthcheck)

    def stop_health(self) -> Op[None]:
        return _services.stop_health_op(self._handle)

    def health(self) -> Op[_services.Health]:
        return _services.health_op(self._handle)

    def watch_health(self, after: int, timeout: float | None) -> Op[_services.HealthUpdate]:
        return _services.watch_health_op(self._handle, after, timeout)

    def create_checkpoint(self, checkpoint_dir: str, exit: bool) -> Op[None]:
        dir_c, exit_c = _args.text(checkpoint_dir, "checkpoint_dir"), _args.flag(exit, "exit")
        return op(no_result, lib().pylibctrd_task_create_checkpoint, self._handle, dir_c, exit_c)
