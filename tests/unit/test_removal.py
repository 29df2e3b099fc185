"""`pylibctrd.removal.remove_container`'s decisions, against fakes of the
client, container and task (no daemon): what is removed, in which order,
what is tolerated, and docker rm's refusal without force."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pylibctrd import Client, Status, errors
from pylibctrd.removal import refuse_unless_stopped, remove_container


class World:
    """Container "c" (or none), its task in `status` (None: no task), the
    calls made on them, and the errors some calls raise."""

    def __init__(self, *, container: bool = True, status: Status | None = Status.RUNNING,
                 fail: dict[str, errors.Error] | None = None) -> None:
        self.container, self.status, self.fail = container, status, fail or {}
        self.calls: list[str] = []

    def call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def remove(self, **kw: Any) -> bool:
        return remove_container(cast(Client, _Client(self)), "c", **kw)


class _Client:
    state_dir = "/nonexistent/pylibctrd-unit"  # no monitor records: none is asked
    namespace = "unit"

    def __init__(self, world: World) -> None:
        self.world = world

    def load_container(self, id: str) -> _Container:
        self.world.call("load")
        if not self.world.container:
            raise errors.NotFound("container c: not found")
        return _Container(self.world)

    def release_rootfs(self, id: str) -> None:
        self.world.call("release_rootfs")


class _Container:
    def __init__(self, world: World) -> None:
        self.world = world

    def task(self) -> _Task:
        self.world.call("task")
        if self.world.status is None:
            raise errors.NotFound("no such task")
        return _Task(self.world)

    def delete(self) -> None:
        self.world.call("container.delete")


class _Task:
    def __init__(self, world: World) -> None:
        self.world = world

    def status(self) -> Status:
        self.world.call("status")
        assert self.world.status is not None
        return self.world.status

    def delete(self) -> None:
        self.world.call("task.delete")

    def kill(self, signum: int) -> None:
        self.world.call(f"kill {signum}")

    def resume(self) -> None:
        self.world.call("resume")

    def force_delete(self) -> None:
        self.world.call("force_delete")


def test_force_kills_the_task_then_the_rootfs_then_the_record() -> None:
    w = World()
    assert w.remove(rootfs=True) is True
    assert w.calls == ["load", "task", "status", "force_delete", "release_rootfs",
                       "container.delete"]


@pytest.mark.parametrize("status", [Status.PAUSED, Status.PAUSING])
def test_force_kills_a_paused_task_then_resumes_it_before_the_delete(status: Status) -> None:
    """docker rm -f: Moby's killWithSignal resumes a paused task after the
    SIGKILL (crun's kill --all leaves it frozen, and the delete would wait)."""
    w = World(status=status)
    assert w.remove() is True
    assert w.calls == ["load", "task", "status", "kill 9", "resume", "force_delete",
                       "container.delete"]


def test_force_goes_on_when_the_status_cannot_be_read() -> None:
    w = World(fail={"status": errors.Unavailable("down")})
    assert w.remove() is True
    assert w.calls == ["load", "task", "status", "force_delete", "container.delete"]


def test_without_a_task_or_a_rootfs() -> None:
    w = World(status=None)
    assert w.remove() is True
    assert w.calls == ["load", "task", "container.delete"]


def test_a_missing_container_is_fine_and_its_rootfs_still_goes() -> None:
    w = World(container=False)
    assert w.remove() is False and w.calls == ["load"]
    w = World(container=False)
    assert w.remove(rootfs=True) is False and w.calls == ["load", "release_rootfs"]


def test_without_force_a_stopped_task_is_deleted() -> None:
    w = World(status=Status.STOPPED)
    assert w.remove(force=False) is True
    assert w.calls == ["load", "task", "status", "task.delete", "container.delete"]


@pytest.mark.parametrize("status, text", [
    (Status.RUNNING, 'cannot remove container "c": container is running: stop the container'
                     " before removing or force remove"),
    (Status.CREATED, "container is created: stop the container"),
    (Status.PAUSED, 'cannot remove container "c": container is paused and must be unpaused'
                    " first"),
])
def test_without_force_any_other_task_is_a_conflict_and_nothing_goes(status: Status,
                                                                      text: str) -> None:
    w = World(status=status)
    with pytest.raises(errors.Conflict, match=text):
        w.remove(force=False, rootfs=True)
    assert w.calls == ["load", "task", "status"]
    with pytest.raises(errors.Conflict):  # also when the rest is best effort
        World(status=status).remove(force=False, best_effort=True)


def test_what_is_gone_already_is_fine() -> None:
    gone = errors.NotFound("gone")
    w = World(fail={"force_delete": gone, "release_rootfs": gone, "container.delete": gone})
    assert w.remove(rootfs=True) is True
    assert w.calls == ["load", "task", "status", "force_delete", "release_rootfs",
                       "container.delete"]


def test_other_errors_stop_the_removal_unless_best_effort() -> None:
    w = World(fail={"force_delete": errors.Unavailable("down")})
    with pytest.raises(errors.Unavailable):
        w.remove(rootfs=True)
    assert w.calls == ["load", "task", "status", "force_delete"]
    w = World(fail={"force_delete": errors.Unavailable("down"),
                    "release_rootfs": errors.System("busy"),
                    "container.delete": errors.FailedPrecondition("has a task")})
    assert w.remove(rootfs=True, best_effort=True) is True
    assert w.calls == ["load", "task", "status", "force_delete", "release_rootfs",
                       "container.delete"]


def test_best_effort_goes_on_when_the_container_cannot_be_loaded() -> None:
    w = World(fail={"load": errors.Unavailable("down")})
    with pytest.raises(errors.Unavailable):
        w.remove(rootfs=True)
    w = World(fail={"load": errors.Unavailable("down")})
    assert w.remove(rootfs=True, best_effort=True) is False
    assert w.calls == ["load", "release_rootfs"]


def test_a_programming_error_is_never_swallowed() -> None:
    w = World(fail={"force_delete": TypeError("bug")})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        w.remove(best_effort=True)


def test_refuse_unless_stopped() -> None:
    refuse_unless_stopped(Status.STOPPED, "c")
    for status in set(Status) - {Status.STOPPED}:
        with pytest.raises(errors.Conflict, match=f"container is {status.value}"):
            refuse_unless_stopped(status, "c")
