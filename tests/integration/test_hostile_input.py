"""Odd and hostile input beyond ids (tests/integration/test_ids.py): huge specs, exec ids
that collide, signals out of range, absurd resources. Each gives a
pylibctrd.errors class (the one libcontainerd's stack gives: runc's own
refusals come back as containerd's `Unknown`) or TypeError, never a crash
or hang, and the task, the client and the process stay usable."""

from __future__ import annotations

import os
import re
import signal
import uuid
from typing import Any

import pytest

import pylibctrd
from pylibctrd import errors, stdio
from pylibctrd.testing import ContainerFactory, Env, runtime_under_test

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The matrix's crun rows (PYLIBCTRD_TEST_RUNTIME=crun): where the refusal is
#: the runtime's, crun 1.8.1 words it its own way, or takes the value
#: (COMPATIBILITY.md, "runc and crun"). The classes are the same.
CRUN = runtime_under_test() == "crun"


def run(ctr: pylibctrd.Container) -> tuple[int, bytes, bytes]:
    """Run the container's task to its end: exit code, stdout, stderr."""
    cap = stdio.Capture()
    task = ctr.new_task(attach_stdio=cap)
    task.start()
    info = task.wait(30)
    assert cap.wait(10)
    task.delete()
    return info.exit_code, cap.stdout, cap.stderr


def still_usable(client: pylibctrd.Client, task: pylibctrd.Task | None = None) -> None:
    assert client.version().version
    if task is not None:
        assert task.status() is pylibctrd.Status.RUNNING


@pytest.fixture
def running(make_container: ContainerFactory) -> pylibctrd.Task:
    task = make_container(["sleep", "120"]).new_task()
    task.start()
    return task


# -- huge specs ---------------------------------------------------------------

def test_a_20000_entry_env_reaches_the_process(make_container: ContainerFactory,
                                              client: pylibctrd.Client) -> None:
    env = [PATH] + [f"V{i}=x{i}" for i in range(20000)]
    assert run(make_container(["sh", "-c", "echo $V19999"], env=env)) == (0, b"x19999\n", b"")
    still_usable(client)


def test_20000_args_reach_the_process(make_container: ContainerFactory,
                                      client: pylibctrd.Client) -> None:
    ctr = make_container(["sh", "-c", "echo $#", "sh"] + ["a" * 10] * 20000)
    assert run(ctr) == (0, b"20000\n", b"")
    still_usable(client)


def test_args_beyond_arg_max_fail_in_the_container_as_execve_does(
        make_container: ContainerFactory, client: pylibctrd.Client) -> None:
    # 3 MB of args: containerd takes the spec, execve refuses it (E2BIG).
    code, out, err = run(make_container(["sh", "-c", "echo $#", "sh"] + ["a" * 100] * 30000))
    # strerror(E2BIG) as crun prints it; Go's wording of it in runc's.
    e2big = b"Argument list too long" if CRUN else b"argument list too long"
    assert (code, out) == (1, b"") and e2big in err
    still_usable(client)


def test_a_spec_over_grpcs_message_limit_is_refused(env: Env, make_container: ContainerFactory,
                                                     client: pylibctrd.Client) -> None:
    # 20 MB of args: containerd's client refuses to send it (16 MiB limit).
    with pytest.raises(errors.Unknown, match="larger than max"):
        run(make_container(["true"] + ["a" * 1000] * 20000))
    still_usable(client)


def test_1000_mounts(env: Env, client: pylibctrd.Client, make_container: ContainerFactory) -> None:
    id = f"m-{uuid.uuid4().hex[:12]}"
    spec = env.spec(id, ["sh", "-c", "grep -c ' /m' /proc/mounts"])
    spec["mounts"] += [{"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs"}
                       for i in range(1000)]
    make_container.made.append(id)  # removed with the others
    assert run(client.new_container(id, spec)) == (0, b"1000\n", b"")
    still_usable(client)


def test_an_exec_spec_over_the_shims_message_limit_is_refused(
        env: Env, client: pylibctrd.Client, running: pylibctrd.Task) -> None:
    spec = pylibctrd.process_spec(env.spec(running.container_id, ["sh"]), ["true"])
    spec["env"] = [PATH, "V=" + "x" * (5 << 20)]
    with pytest.raises(errors.Unknown, match="exceed maximum message size"):
        running.exec("big", spec, attach_stdio=stdio.Capture())
    still_usable(client, running)
    assert not any(f.startswith("big-") for f in os.listdir(env.bundles / running.container_id))


# -- exec ids that collide ------------------------------------------------------

def test_exec_ids_that_collide(env: Env, client: pylibctrd.Client,
                               running: pylibctrd.Task) -> None:
    base = env.spec(running.container_id, ["sh"])
    spec = pylibctrd.process_spec(base, ["sleep", "30"])
    first = running.exec("dup", spec)
    with pytest.raises(errors.Conflict, match="id already in use"):
        running.exec("dup", spec, attach_stdio=stdio.Capture())
    first.kill(signal.SIGKILL)
    first.wait(10)
    # Exited but not deleted: containerd still holds the id.
    with pytest.raises(errors.Conflict, match="id already in use"):
        running.exec("dup", spec)
    first.delete()
    again = running.exec("dup", pylibctrd.process_spec(base, ["true"]))
    assert again.wait(10).exit_code == 0
    again.delete()
    still_usable(client, running)


def test_an_exec_named_like_its_container_is_refused(env: Env, client: pylibctrd.Client,
                                                    make_container: ContainerFactory) -> None:
    """containerd accepts it, but Moby names the init FIFOs after the
    container id: the exec would write into the container's own stdout and its
    EXIT event would read as the container's exit (found by this suite:
    task.wait() returned the exec's exit while the task ran on)."""
    ctr = make_container(["sh", "-c", "sleep 1; echo main"])
    out = stdio.Capture()
    task = ctr.new_task(attach_stdio=out)
    task.start()
    before = sorted(os.listdir(env.bundles / ctr.id))
    with pytest.raises(errors.InvalidParameter, match="FIFOs of the container.s init process"):
        task.exec(ctr.id, pylibctrd.process_spec(env.spec(ctr.id, ["sh"]), ["echo", "exec"]),
                  attach_stdio=stdio.Capture())
    assert sorted(os.listdir(env.bundles / ctr.id)) == before
    assert task.wait(10).pid == task.pid
    assert out.wait(10) and out.stdout == b"main\n"
    task.delete()
    still_usable(client)


# -- signals --------------------------------------------------------------------

@pytest.mark.parametrize("sig", [-1, 65, 1000, 2**31 - 1, -(2**31)])
def test_signals_the_kernel_refuses_give_runcs_einval(
        client: pylibctrd.Client, running: pylibctrd.Task, sig: int) -> None:
    # As in Go: libcontainerd passes the number on, runc's kill(2) says EINVAL.
    # crun's pidfd_send_signal(2) says it too, in its words; a negative number,
    # read as unsigned, crun refuses itself.
    einval = ("invalid argument" if not CRUN else
              "send signal to pidfd: Invalid argument" if sig >= 0 else
              rf"unknown signal {sig % 2**32}\b")
    with pytest.raises(errors.Unknown, match=einval):
        running.kill(sig)
    still_usable(client, running)


@pytest.mark.parametrize("sig", [2**31, -(2**31) - 1, 2**64])
def test_signals_beyond_a_c_int_are_refused_in_python(
        client: pylibctrd.Client, running: pylibctrd.Task, sig: int) -> None:
    with pytest.raises(errors.InvalidParameter, match="signal must be between"):
        running.kill(sig)
    still_usable(client, running)


@pytest.mark.parametrize("sig", [None, 9.0, "9", True])
def test_signals_of_the_wrong_type(running: pylibctrd.Task, sig: Any) -> None:
    with pytest.raises(TypeError, match="signal must be int"):
        running.kill(sig)
    still_usable(running.container.client, running)


def test_signal_0_probes_and_an_execs_bad_signal_leaves_it_running(
        env: Env, client: pylibctrd.Client, running: pylibctrd.Task) -> None:
    running.kill(0)
    proc = running.exec("sig", pylibctrd.process_spec(env.spec(running.container_id, ["sh"]),
                                                      ["sleep", "30"]))
    with pytest.raises(errors.Unknown, match="invalid argument"):
        proc.kill(65)
    proc.kill(signal.SIGTERM)
    assert proc.wait(10).exit_code == 128 + signal.SIGTERM
    proc.delete()
    still_usable(client, running)


# -- absurd resources -----------------------------------------------------------

REFUSED: list[tuple[dict[str, Any], type[errors.Error], str]] = [
    # Decoding into the OCI types (Go, before containerd).
    ({"memory": {"limit": 2**64}}, errors.InvalidParameter, "cannot unmarshal number"),
    ({"pids": {"limit": 2**63}}, errors.InvalidParameter, "cannot unmarshal number"),
    ({"memory": {"limit": 10**30}}, errors.InvalidParameter, "cannot unmarshal number"),
    ({"memory": {"limit": 1.5}}, errors.InvalidParameter, "cannot unmarshal number 1.5"),
    ({"memory": {"limit": "x"}}, errors.InvalidParameter, "cannot unmarshal string"),
    ({"memory": {"limit": float("nan")}}, errors.InvalidParameter, "invalid character 'N'"),
    ({"nonsense": 1}, errors.InvalidParameter, 'unknown field "nonsense"'),
    # runc refusing to write the cgroup files.
    ({"memory": {"limit": -5}}, errors.Unknown, 'failed to write "-5"'),
    ({"memory": {"limit": 1}}, errors.Unknown, "unable to set memory limit to 1"),
    ({"pids": {"limit": 2**63 - 1}}, errors.Unknown, "invalid argument"),
    ({"cpu": {"shares": 2**64 - 1}}, errors.Unknown, "maximum allowed cpu-shares"),
    ({"cpu": {"period": 1, "quota": 1}}, errors.Unknown, "invalid argument"),
    ({"cpu": {"cpus": "0-1000"}}, errors.Unknown, "out of range"),
]
#: crun's own words for runc's refusals above (None: crun writes the value and
#: the kernel takes it: cgroup v1 clamps cpu.shares to 262144, where runc
#: refuses anything over it). The kernel's errno, crun names the file.
CRUN_REFUSED: dict[str, str | None] = {
    repr({"memory": {"limit": -5}}): "writing file `memory.limit_in_bytes`: Invalid argument",
    repr({"memory": {"limit": 1}}): "writing file `memory.limit_in_bytes`: Device or resource busy",
    repr({"pids": {"limit": 2**63 - 1}}): "writing file `pids.max`: Invalid argument",
    repr({"cpu": {"shares": 2**64 - 1}}): None,
    repr({"cpu": {"period": 1, "quota": 1}}): "writing file `cpu.cfs_period_us`: Invalid argument",
}


@pytest.mark.parametrize("resources,cls,message", REFUSED, ids=lambda v: repr(v)[:40])
def test_absurd_resources_are_refused(client: pylibctrd.Client, running: pylibctrd.Task,
                                      resources: dict[str, Any], cls: type[errors.Error],
                                      message: str) -> None:
    expected = CRUN_REFUSED.get(repr(resources), message) if CRUN else message
    if expected is None:  # crun takes it
        running.update_resources(resources)
    else:
        with pytest.raises(cls) as raised:
            running.update_resources(resources)
        assert expected in str(raised.value)
    still_usable(client, running)
    running.update_resources({"pids": {"limit": 100}})  # a sane update still works


# runc's own meaning of values that look absurd: 0 = leave as is, negative = no limit.
ACCEPTED = [{"cpu": {"quota": 0}}, {"cpu": {"shares": 0}}, {"pids": {"limit": -5}},
            {"pids": {"limit": 0}}, {"memory": {"limit": 2**63 - 1}}, {}]


#: What crun refuses of those: it writes a negative pids limit as it is.
CRUN_REFUSES = {repr({"pids": {"limit": -5}}): "writing file `pids.max`: Invalid argument"}


@pytest.mark.parametrize("resources", ACCEPTED, ids=repr)
def test_resources_runc_takes_as_no_limit(client: pylibctrd.Client, running: pylibctrd.Task,
                                          resources: dict[str, Any]) -> None:
    if CRUN and repr(resources) in CRUN_REFUSES:
        with pytest.raises(errors.Unknown, match=re.escape(CRUN_REFUSES[repr(resources)])):
            running.update_resources(resources)
    else:
        running.update_resources(resources)
    still_usable(client, running)


@pytest.mark.parametrize("resources", [[], None, "{}", {"memory": {"limit": {1}}}],
                         ids=repr)
def test_resources_that_are_not_json_objects(running: pylibctrd.Task, resources: Any) -> None:
    with pytest.raises(TypeError, match="resources"):
        running.update_resources(resources)
    still_usable(running.container.client, running)


def test_absurd_resources_in_the_spec_fail_the_task_not_the_client(
        env: Env, client: pylibctrd.Client, make_container: ContainerFactory) -> None:
    ctr = make_container(["true"])
    spec = env.spec(ctr.id, ["true"])
    spec["linux"]["resources"] = {"memory": {"limit": -5}}
    bad = f"r-{uuid.uuid4().hex[:12]}"
    make_container.made.append(bad)
    # The record takes any spec; the task's create is where runc refuses it.
    refusal = ("the memory limit could be too low: writing file `memory.limit_in_bytes`:"
               " Invalid argument" if CRUN else 'failed to write "-5"')
    with pytest.raises(errors.Unknown, match=re.escape(refusal)):
        client.new_container(bad, spec).new_task(attach_stdio=stdio.Capture())
    with pytest.raises(errors.NotFound):
        client.load_container(bad).task()
    assert run(ctr)[0] == 0
    still_usable(client)
