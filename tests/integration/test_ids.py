"""Container and exec ids as dockerd's callers might pass them: checked with
containerd's identifier rules before any file system work, so that nothing
is created outside the state dir (Moby's libcontainerd creates the bundle
dir `<state_dir>/<id>` before containerd refuses the id)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import errors
from pylibctrd.testing import Env, MakeContainer

HOSTILE = ["../escaped", "/abs-escaped", "a/b", "x" * (1 << 20), "ünïcode", "", "..", "-dash"]


def tree(env: Env) -> set[str]:
    """The state dir's tree and its siblings (containerd's own dirs change by themselves)."""
    return ({os.path.join(d, f) for d, dirs, files in os.walk(env.bundles) for f in dirs + files}
            | set(os.listdir(env.bundles.parent)))


@pytest.mark.parametrize("id", HOSTILE, ids=lambda i: repr(i[:20]))
def test_hostile_container_ids_are_refused_before_any_file_is_made(
        env: Env, client: pylibctrd.Client, id: str) -> None:
    before = tree(env)
    with pytest.raises(errors.InvalidParameter):
        client.new_container(id, env.spec("hostile", ["true"]))
    with pytest.raises(errors.InvalidParameter):
        client.replace_container(id, env.spec("hostile", ["true"]))
    assert tree(env) == before
    assert not Path("/abs-escaped").exists()
    assert env.ctr("containers", "list", "-q").split() == []


def test_nul_in_an_id_is_refused_in_python(client: pylibctrd.Client, env: Env) -> None:
    with pytest.raises(errors.InvalidParameter, match="NUL"):
        client.new_container("a\0b", env.spec("nul", ["true"]))


@pytest.mark.parametrize("exec_id", ["../escaped-exec", "/abs-exec", "e/f", "", "e" * 300])
def test_hostile_exec_ids_are_refused_before_fifos_are_made(
        env: Env, make_container: MakeContainer, exec_id: str) -> None:
    ctr = make_container(["sleep", "30"])
    task = ctr.new_task()
    task.start()
    before = tree(env)
    with pytest.raises(errors.InvalidParameter):
        task.exec(exec_id, pylibctrd.process_spec(env.spec(ctr.id, ["sh"]), ["true"]),
                  attach_stdio=pylibctrd.stdio.Capture())
    assert tree(env) == before
    assert not Path("/abs-exec-stdout").exists()
    task.force_delete()
