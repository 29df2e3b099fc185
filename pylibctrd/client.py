"""Client, Container, Task and Process: libcontainerd's interfaces in Python.

Each class is a thin face over one object of pylibctrd._ops, which owns the
native handle (released when the object is collected; releasing a handle
never touches the container itself) and describes every operation once:
this face runs the operation now, pylibctrd.aio's awaits it.
"""

from __future__ import annotations

import os
import signal as _signal
from datetime import datetime
from typing import Any, Mapping, Sequence

from . import images as _images
from . import networks as _networks
from . import registry as _registry
from . import services as _services
from .services import Health, HealthUpdate, LogReader
from ._faces import ClientFace, ContainerFace, ProcessFace
from ._hub import EventStream
from ._ops import (
    DEFAULT_NAMESPACE, RUNC_V2, ClientOps, ContainerOps, ContainerRecord, ProcessOps, TaskOps,
)
from .events import Backend
from .stdio import AttachStdio
from .types import EventInfo, ExitStatus, ProcessInfo, Stats, Status, Version

__all__ = ["DEFAULT_NAMESPACE", "RUNC_V2", "Client", "Container", "ContainerRecord",
           "EventStream", "Process", "Task"]


class Client(ClientFace):
    """libcontainerd's Client (`libcontainerd.NewClient`) on one containerd.

    Use `Client.connect()`; close it (or use `with`) to stop its event stream:
    once `close()` returns, no callback for it runs any more, and every call
    on it or its objects raises `errors.Closed`.
    """

    @classmethod
    def connect(cls, address: str | None = None, *, namespace: str = DEFAULT_NAMESPACE,
                state_dir: str | os.PathLike[str] | None = None, backend: Backend | None = None,
                timeout: float = 30.0, registry: Mapping[str, Any] | None = None) -> Client:
        """Connect to containerd at `address`; with no address, to the embedded
        containerd this library starts and supervises (see `Daemon`).

        `state_dir` holds the bundle dirs `<state_dir>/<id>` with the FIFOs
        (dockerd: /var/run/docker/containerd); `backend.process_event` receives
        libcontainerd's events. `timeout` (seconds) bounds every call.
        `registry` takes dockerd's daemon.json registry keys (see
        `configure_registry`).
        """
        client = cls(ClientOps.connect(address, namespace, state_dir, backend, timeout,
                                       None).run())
        if registry is not None:
            try:
                client.configure_registry(registry)
            except BaseException:
                client.close()  # bad options: no client left behind
                raise
        return client

    def close(self) -> None:
        """Stop the event stream and the connection. Waits for running event
        callbacks, except when called from inside one."""
        self._ops.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def events(self, container_id: str | None = None) -> EventStream:
        """libcontainerd's events from now on, in its order, as an iterator of
        `Event(type, info)`; only one container's with `container_id`. Ends
        when `close()` is called on it (from any thread) or the client closes."""
        return EventStream(self._ops.hub, container_id)

    def version(self) -> Version:
        """containerd's version."""
        return self._ops.version().run()

    def list_containers(self) -> list[ContainerRecord]:
        """containerd's records of the containers in this namespace (libcontainerd
        has no list: dockerd keeps its own; this reads containerd's)."""
        return self._ops.list_containers().run()

    # Images (pylibctrd/images.py): Moby's containerd image service.

    def import_image(self, archive: _images.Archive, *, name: str | None = None) -> list[_images.Image]:
        """`docker load`: import a `docker save` or OCI image-layout archive
        (a path or a binary file object, plain or compressed) into containerd
        and unpack it; `name` tags the archive's untagged image. Nothing of a
        failed import is left behind."""
        return _images.run_import(*self._ops.import_image(archive, name))

    def images(self) -> list[_images.Image]:
        """The images in this namespace, one entry per name."""
        return self._ops.images().run()

    def get_image(self, ref: str) -> _images.Image:
        """The image `ref` names (name, digest or ID prefix); `NotFound` otherwise."""
        return self._ops.get_image(ref).run()

    def remove_image(self, ref: str) -> None:
        """`docker rmi` (without --force); `NotFound` when absent, `Conflict`
        while a rootfs prepared by this client uses the image."""
        self._ops.remove_image(ref).run()

    def prepare_rootfs(self, container_id: str, ref: str) -> str:
        """Unpack `ref` if needed, make the writable snapshot keyed by
        `container_id` on Moby's init layer, mount it and return the mount
        point `<state_dir>-images/rootfs/overlayfs/<container_id>`."""
        return self._ops.prepare_rootfs(container_id, ref).run()

    def release_rootfs(self, container_id: str) -> None:
        """Unmount the rootfs and remove its snapshots and lease; `Conflict`
        while the container's task has not stopped."""
        self._ops.release_rootfs(container_id).run()

    # Volumes and logs (pylibctrd/services.py): Moby's local volume driver and log drivers.

    def create_volume(self, name: str | None = None, *,
                      labels: Mapping[str, str] | None = None) -> _services.Volume:
        """`docker volume create`: a named volume with Moby's local driver
        (an existing one of that name is returned as it is; no name: an
        anonymous one). `container_spec(mounts=["name:/path"])` also creates
        it on first use, filled with the image's content at that path."""
        return self._ops.create_volume(name, labels).run()

    def volumes(self) -> list[_services.Volume]:
        """`docker volume ls`, by name."""
        return self._ops.volumes().run()

    def remove_volume(self, name: str) -> None:
        """`docker volume rm`: `NotFound` when absent, `Conflict("remove <name>:
        volume is in use - [<ids>]")` while a container mounts it."""
        self._ops.remove_volume(name).run()

    def logs(self, container_id: str, *, follow: bool = False,
             since: datetime | float | None = None, until: datetime | float | None = None,
             tail: int | None = None, timestamps: bool = False, stdout: bool = True,
             stderr: bool = True) -> LogReader:
        """`docker logs`: the container's log (written by `stdio.Log`) read
        back with Moby's driver, as an iterator of `LogLine(stream, time,
        data)`. `follow` goes on until the output ends (only while this
        process writes the log); `since`/`until` are datetimes or Unix
        seconds, `tail` the number of last lines, `timestamps` prefixes each
        line's data with its time as `docker logs -t`."""
        return LogReader(self._ops.logs(container_id, follow, since, until, tail,
                                                  timestamps, stdout, stderr).run())
    # Registries (pylibctrd/registry.py): Moby's image and registry services.

    def pull(self, ref: str, *, platform: str | None = None, auth: _registry.Auth | None = None,
             progress: _registry.ProgressCallback | None = None) -> _images.Image:
        """`docker pull ref` (":latest" if no tag); `progress` gets Moby's per-layer progress."""
        return self._ops.pull(ref, platform, auth, progress).run()

    def push(self, ref: str, *, auth: _registry.Auth | None = None,
             progress: _registry.ProgressCallback | None = None) -> str:
        """`docker push ref`; returns the pushed manifest (or index) digest."""
        return self._ops.push(ref, auth, progress).run()

    def tag(self, source: str, target: str) -> None:
        """`docker tag source target`."""
        self._ops.tag(source, target).run()

    def save(self, refs: str | Sequence[str], file: _registry.SaveTarget) -> None:
        """`docker save`: the images as one tar, to a path or a binary file object."""
        _registry.run_save(*self._ops.save(refs, file))

    def login(self, auth: _registry.Auth, *,
              config_dir: str | os.PathLike[str] | None = None) -> str:
        """`docker login`: check `auth` with its registry and store it in the
        docker config (`$DOCKER_CONFIG`); returns the registry's status."""
        return self._ops.login(auth, config_dir).run()

    def configure_registry(self, options: Mapping[str, Any]) -> None:
        """dockerd's daemon.json registry keys ("insecure-registries",
        "registry-mirrors", "allow-nondistributable-artifacts") and
        "certs-dir" (instead of /etc/docker/certs.d; process-wide; on the
        v28 flavour set once, at first use: a different one is `Conflict`)."""
        self._ops.configure_registry(options).run()
    # Networks (pylibctrd/networks.py, docs/networking.md): CNI through go-cni.

    def create_network(self, name: str, *, subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False,
                       labels: Mapping[str, str] | None = None) -> _networks.Network:
        """`docker network create`: a bridge network (made on first use).
        Without `subnet`, a free /24; `internal`: no route out. `Conflict`
        for a taken name; `InvalidParameter` for a subnet that overlaps
        another network's or a route of the host's. Creating "bridge" first
        sets the default network's subnet."""
        return self._ops.create_network(name, subnet, gateway, internal, labels).run()

    def networks(self) -> list[_networks.Network]:
        """The networks, by name ("bridge" once a container used it)."""
        return self._ops.networks().run()

    def remove_network(self, name: str) -> None:
        """`docker network rm`, with its bridge; `Conflict` while a container
        is on it, `NotFound` when there is none."""
        self._ops.remove_network(name).run()

    def connect_network(self, container_id: str, network: str, *,
                        ports: Sequence[_networks.Port] = (), aliases: Sequence[str] = (),
                        ip: str | None = None) -> _networks.Endpoint:
        """`docker network connect`: attach a container (created with a
        network namespace of the library's: network "none" or a network) to
        one more network."""
        return self._ops.connect_network(container_id, network, ports, aliases, ip).run()

    def disconnect_network(self, container_id: str, network: str) -> None:
        """`docker network disconnect`."""
        self._ops.disconnect_network(container_id, network).run()

    def endpoints(self, container_id: str) -> list[_networks.Endpoint]:
        """The container's endpoints with their published ports (`docker
        port`); `NotFound` for a container without a network setup."""
        return self._ops.endpoints(container_id).run()

    def cleanup_networks(self) -> list[str]:
        """Tear down the network setups whose container containerd does not
        have (after a crash; `Container.delete` does it otherwise) and
        namespaces nothing names; returns the container ids."""
        return self._ops.cleanup_networks().run()

    def load_container(self, id: str) -> Container:
        """An existing container; `NotFound("no such container")` otherwise."""
        return Container(self._ops.load_container(id).run(), self)

    def new_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                      runtime_options: Mapping[str, Any] | None = None, *,
                      labels: Mapping[str, str] | None = None) -> Container:
        """Create a container from an OCI runtime spec (a dict, e.g. built on
        `default_spec()`). `runtime_options` are the shim's options as in
        dockerd's runtime config (e.g. {"BinaryName": "runc"}); the bundle dir
        `<state_dir>/<id>` is recorded in label com.docker/engine.bundle.path.
        A duplicate id raises `Conflict("id already in use")`."""
        made = self._ops.new_container(id, spec, shim, runtime_options, labels, False)
        return Container(made.run(), self)

    def replace_container(self, id: str, spec: Mapping[str, Any], shim: str = RUNC_V2,
                          runtime_options: Mapping[str, Any] | None = None, *,
                          labels: Mapping[str, str] | None = None) -> Container:
        """`libcontainerd.ReplaceContainer`: like new_container, but first
        force-deletes any container (and task) with the same id."""
        made = self._ops.new_container(id, spec, shim, runtime_options, labels, True)
        return Container(made.run(), self)


class Container(ContainerFace):
    """libcontainerd's Container."""

    def __init__(self, ops: ContainerOps, client: Client) -> None:
        super().__init__(ops)
        self.client = client

    def new_task(self, checkpoint_dir: str = "", with_stdin: bool = False,
                 attach_stdio: AttachStdio | None = None) -> Task:
        """Create (not start) the container's task. `attach_stdio` gets the
        FIFOs (see pylibctrd.stdio); None drains output and closes stdin."""
        return Task(self._ops.new_task(checkpoint_dir, with_stdin, attach_stdio).run(), self)

    def task(self) -> Task:
        """The existing task; `NotFound` if there is none."""
        return Task(self._ops.task().run(), self)

    def attach_task(self, attach_stdio: AttachStdio | None = None) -> Task:
        """The existing task, reattached to its IO (only one reader at a time)."""
        return Task(self._ops.attach_task(attach_stdio).run(), self)

    def delete(self) -> None:
        """Delete the container and its bundle dir (kept with LIBCONTAINERD_NOCLEAN=1),
        then tear down its network setup, if it has one."""
        self._ops.delete().run()

    def host_port(self, port: int, proto: str = "tcp") -> int:
        """The host port container port `port`/`proto` is published on
        (`docker port`); `NotFound` if it is not published."""
        return self._ops.host_port(port, proto).run()


class Process(ProcessFace):
    """libcontainerd's Process (an exec'd process; Task extends it)."""

    def __init__(self, ops: ProcessOps, container: Container) -> None:
        super().__init__(ops)
        self._container = container

    def kill(self, signal: int = _signal.SIGKILL) -> None:
        """Send a signal (an int or a `signal.Signals`)."""
        self._ops.kill(signal).run()

    def resize(self, width: int, height: int) -> None:
        """Resize the process's terminal."""
        self._ops.resize(width, height).run()

    def wait(self, timeout: float | None = None) -> EventInfo:
        """The EXIT event libcontainerd delivered for this process (what dockerd
        acts on), waiting for it up to `timeout` seconds (`errors.Deadline`)."""
        return self._ops.hub.wait_exit(self.container_id, self.id, timeout)

    def delete(self) -> ExitStatus:
        """Remove the process and return its exit status."""
        return self._ops.delete().run()


class Task(Process):
    """libcontainerd's Task: the container's main process."""

    _ops: TaskOps

    def __init__(self, ops: TaskOps, container: Container) -> None:
        super().__init__(ops, container)
        self.container = container

    def start(self) -> None:
        """Start the created task."""
        self._ops.start().run()

    def pause(self) -> None:
        """Freeze every process of the task."""
        self._ops.pause().run()

    def resume(self) -> None:
        """Thaw a paused task."""
        self._ops.resume().run()

    def force_delete(self) -> None:
        """Kill every process of the task and delete it. containerd 2.x may
        publish no EXIT event for it (docs/servers.md): `wait()` after this
        can wait forever there."""
        self._ops.force_delete().run()

    def status(self) -> Status:
        """containerd's status of the task."""
        return self._ops.status().run()

    def stats(self) -> Stats:
        """cgroup metrics (v1 or v2 Metrics as a nested dict)."""
        return self._ops.stats().run()

    def pids(self) -> list[ProcessInfo]:
        """The task's processes."""
        return self._ops.pids().run()

    def summary(self) -> list[dict[str, Any]]:
        """libcontainerd's Summary (its entries are empty on Linux)."""
        return self._ops.summary().run()

    def exec(self, process_id: str, process_spec: Mapping[str, Any], with_stdin: bool = False,
             attach_stdio: AttachStdio | None = None) -> Process:
        """Create and start a process in the task (an OCI process spec dict)."""
        made = self._ops.exec(process_id, process_spec, with_stdin, attach_stdio)
        return Process(made.run(), self.container)

    def update_resources(self, resources: Mapping[str, Any]) -> None:
        """Update the cgroup limits (OCI LinuxResources dict)."""
        self._ops.update_resources(resources).run()

    def start_health(self, healthcheck: Mapping[str, Any]) -> None:
        """Probe the container's health with dockerd's semantics, each probe
        an exec, while this client is open and the task runs: `healthcheck`
        is docker's HealthConfig (an image's `config["Healthcheck"]`, or
        `services.health_config("cmd", interval=1)` for `--health-*`)."""
        self._ops.start_health(healthcheck).run()

    def stop_health(self) -> None:
        """Stop probing (a probe in flight is killed and deleted)."""
        self._ops.stop_health().run()

    def health(self) -> Health:
        """The container's health (`NotFound` unless this client probes it)."""
        return self._ops.health().run()

    def watch_health(self, after: int = 0, timeout: float | None = None) -> HealthUpdate:
        """Wait until more than `after` probe results are recorded (or
        probing ended, or `timeout` seconds passed) and return the state
        then, with dockerd's `health_status` events since `after`: pass the
        answer's `seq` back to follow every change (`NotFound` as `health`)."""
        return self._ops.watch_health(after, timeout).run()

    def create_checkpoint(self, checkpoint_dir: str, exit: bool = False) -> None:
        """Checkpoint with CRIU into `checkpoint_dir` (needs a working CRIU)."""
        self._ops.create_checkpoint(checkpoint_dir, exit).run()
