"""pylibctrd: Moby's real libcontainerd (Go), importable from Python.

    import pylibctrd
    with pylibctrd.Client.connect(backend=recorder) as client:   # embedded containerd
        ctr = client.new_container("demo", pylibctrd.container_spec(rootfs, ["echo", "hi"]))
"""

from __future__ import annotations

from . import errors, networks, stdio
from .client import RUNC_V2, Client, Container, Process, Task
from .daemon import Daemon, default_daemon
from .events import Backend, Recorder
from .images import Image
from .registry import Auth, Progress, logout
from .networks import Endpoint, Network, PortBinding
from .rootfs import busybox_rootfs
from .runtimes import Runtime, Runtimes
from .spec import container_spec, default_spec, process_spec
from .stdio import AttachStdio as StdioCallback
from .types import (
    DirectIO, EventInfo, EventType, ExitStatus, ProcessInfo, Stats, Status, Version,
)
from ._versions import Versions, __version__, versions

__all__ = [
    "RUNC_V2", "Auth", "Backend", "Progress", "logout", "Client", "Container", "Daemon", "DirectIO",
    "Endpoint", "EventInfo", "EventType", "ExitStatus", "Image", "Network", "PortBinding", "networks",
    "Process", "ProcessInfo", "Recorder", "Runtime", "Runtimes", "Stats", "Status", "StdioCallback",
    "Task", "Version", "busybox_rootfs", "container_spec", "default_daemon", "default_spec",
    "errors", "process_spec", "stdio", "Versions", "__version__", "versions",
]
