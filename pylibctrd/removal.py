"""Removing a container with whatever state it has: its task (and with it
the task's execs and shim), the rootfs `prepare_rootfs` made for it, and
containerd's record. The one place that rule lives: the CLI (`run --rm`,
`rm`), `pylibctrd.testing` and the differential runner all call it.

The order is docker rm's (Moby's daemon/delete.go cleanupContainer): the task
first (a running one only with `force`, else `errors.Conflict`), then the
rootfs, released while the record still exists (a failed release can be
retried with the record there to say whose it was), then the record. A
detached container's monitor is stood down first (no restart any more: Moby
marks the container dead), once the removal goes ahead.
"""

from __future__ import annotations

import contextlib
import signal as _signal

from . import errors, monitor
from .client import Client, Container, Task
from .types import Status


def refuse_unless_stopped(status: Status, container_id: str) -> None:
    """docker rm without -f: a task that is not stopped stays, and the
    removal is a Conflict with Moby's message (daemon/delete.go)."""
    if status is Status.STOPPED:
        return
    if status in (Status.PAUSED, Status.PAUSING):
        raise errors.Conflict(f"cannot remove container \"{container_id}\": container is"
                              f" {status.value} and must be unpaused first")
    raise errors.Conflict(f"cannot remove container \"{container_id}\": container is"
                          f" {status.value}: stop the container before removing or force remove")


def remove_container(client: Client, id: str, *, force: bool = True, rootfs: bool = False,
                     best_effort: bool = False) -> bool:
    """Remove container `id` with its task, and with `rootfs` the rootfs
    prepared for it (`Client.prepare_rootfs`); what is already gone is fine.
    Returns whether containerd had the container (with `rootfs`, the rootfs
    is released even when it had not).

    With `force` the task is killed and deleted whatever its state (a paused
    one is killed and resumed first, as docker rm -f does). `force=False`
    deletes a stopped task and raises `errors.Conflict`, removing nothing,
    for any other (docker rm without -f). `best_effort` (cleanup in a `finally`, where an error must
    not hide the one being raised) passes over any `errors.Error` of a step
    and goes on with the next; only the Conflict is still raised."""
    tolerated: tuple[type[errors.Error], ...] = (
        (errors.Error,) if best_effort else (errors.NotFound,))
    ctr: Container | None = None
    with contextlib.suppress(*tolerated):
        ctr = client.load_container(id)
    if ctr is not None:
        if force:
            monitor.stand_down(client, id)  # before the task is looked up: none starts after
        else:
            state = monitor.read_state(client.state_dir, id)
            if state is not None and state.alive and state.status == "restarting":
                raise errors.Conflict(f"cannot remove container \"{id}\": container is"
                                      " restarting: stop the container before removing or"
                                      " force remove")
        task: Task | None = None
        with contextlib.suppress(*tolerated):
            task = ctr.task()
        if task is not None:
            if force:
                with contextlib.suppress(errors.Error):
                    if task.status() in (Status.PAUSED, Status.PAUSING):
                        # docker rm -f kills first: the force delete alone
                        # leaves a task frozen under crun
                        monitor.kill_paused_task(task, _signal.SIGKILL)
                with contextlib.suppress(*tolerated):
                    task.force_delete()
            else:
                status: Status | None = None
                with contextlib.suppress(*tolerated):
                    status = task.status()
                if status is not None:
                    refuse_unless_stopped(status, id)
                    monitor.stand_down(client, id)
                    with contextlib.suppress(*tolerated):
                        task.delete()
        elif not force:
            monitor.stand_down(client, id)
    if rootfs:
        with contextlib.suppress(*tolerated):
            client.release_rootfs(id)
    if ctr is not None:
        with contextlib.suppress(*tolerated):
            ctr.delete()
    return ctr is not None
