"""Container and exec ids as dockerd's callers might pass them. Moby's
libcontainerd makes files named after them before containerd checks them:
the bundle dir `<state_dir>/<id>` (NewContainer) and the FIFOs
`<bundle>/<exec id>-std*` (Exec). pylibctrd passes every id through, so the
outcome is Go's, except an id whose files would land outside the state dir
(container) or outside the bundle dir (exec): that one is refused first,
with the error containerd gives a Go caller for it, and nothing is made
(README: ids-escaping)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import errors
from pylibctrd.testing import Env, MakeContainer

ID_RULE = r"must match \^\[A-Za-z0-9\]\+"


def tree(env: Env) -> set[str]:
    """The state dir's tree and its siblings (containerd's own dirs change by themselves)."""
    return ({os.path.join(d, f) for d, dirs, files in os.walk(env.bundles) for f in dirs + files}
            | set(os.listdir(env.bundles.parent)))


@pytest.mark.parametrize("id", ["../escaped", "..", "a/../../escaped", "../bundles-escaped"])
def test_container_ids_escaping_the_state_dir_are_refused_before_any_file_is_made(
        env: Env, client: pylibctrd.Client, id: str) -> None:
    before = tree(env)
    for create in (client.new_container, client.replace_container):
        with pytest.raises(errors.InvalidParameter) as exc:
            create(id, env.spec("hostile", ["true"]))
        # containerd's own error for the id, as libcontainerd returns it to Go
        assert str(exc.value).startswith(
            f'create container failed validation: container.ID: identifier "{id}" must match ')
        assert str(exc.value).endswith(": invalid argument")
    assert tree(env) == before
    assert env.ctr("containers", "list", "-q").split() == []


@pytest.mark.parametrize("id,message", [
    ("a/b", ID_RULE), ("/abs-inside", ID_RULE), ("ünïcode", ID_RULE), ("-dash", ID_RULE),
    ("x" * 77, r"greater than maximum length \(76 characters\)"),
    ("", "identifier must not be empty"),
], ids=lambda v: repr(v[:20]))
def test_other_invalid_container_ids_pass_through_to_containerd(
        env: Env, client: pylibctrd.Client, id: str, message: str) -> None:
    """As for a Go caller: libcontainerd makes the bundle dir (inside the
    state dir), containerd refuses the id, the dir stays."""
    env.bundles.mkdir(parents=True, exist_ok=True)
    before = tree(env)
    try:
        with pytest.raises(errors.InvalidParameter,
                           match="^create container failed validation: container.ID: .*" + message):
            client.new_container(id, env.spec("hostile", ["true"]))
        made = tree(env) - before
        assert all(p.startswith(str(env.bundles) + os.sep) for p in made), made
        assert Path(f"{env.bundles}/{id}").is_dir()  # filepath.Join, not pathlib's /
    finally:
        if id:
            shutil.rmtree(env.bundles / id.lstrip("/").split("/")[0], ignore_errors=True)
    assert env.ctr("containers", "list", "-q").split() == []


def test_a_container_id_too_long_for_a_file_name_fails_making_the_bundle_dir(
        env: Env, client: pylibctrd.Client) -> None:
    before = tree(env)
    with pytest.raises(errors.Error, match="file name too long"):
        client.new_container("x" * (1 << 20), env.spec("hostile", ["true"]))
    assert tree(env) == before


def test_nul_in_an_id_is_refused_in_python(client: pylibctrd.Client, env: Env) -> None:
    with pytest.raises(errors.InvalidParameter, match="NUL"):
        client.new_container("a\0b", env.spec("nul", ["true"]))


@pytest.mark.parametrize("exec_id", ["../escaped-exec", "../../x", "a/../../x"])
def test_exec_ids_escaping_the_bundle_dir_are_refused_before_fifos_are_made(
        env: Env, make_container: MakeContainer, exec_id: str) -> None:
    ctr = make_container(["sleep", "30"])
    task = ctr.new_task()
    task.start()
    before = tree(env)
    with pytest.raises(errors.InvalidParameter,
                       match=f"^invalid exec id {exec_id}: identifier .* {ID_RULE}"):
        task.exec(exec_id, pylibctrd.process_spec(env.spec(ctr.id, ["sh"]), ["true"]),
                  attach_stdio=pylibctrd.stdio.Capture())
    assert tree(env) == before
    task.force_delete()


@pytest.mark.parametrize("exec_id,cls,message", [
    ("", errors.InvalidParameter, "^exec id must not be empty: invalid argument$"),
    ("/abs-exec", errors.InvalidParameter, f"^invalid exec id /abs-exec: identifier .* {ID_RULE}"),
    ("e" * 77, errors.InvalidParameter, "^invalid exec id e{77}: identifier .* greater than maximum"),
    ("e/f", errors.Unknown, "error creating fifo .*/e/f-stdout: no such file or directory"),
    ("e" * 300, errors.Unknown, "file name too long"),
], ids=lambda v: repr(v)[:20])
def test_other_invalid_exec_ids_pass_through_to_libcontainerd(
        env: Env, make_container: MakeContainer, exec_id: str, cls: type[Exception],
        message: str) -> None:
    """As for a Go caller: FIFOs made inside the bundle dir are removed again
    when containerd (or mkfifo) refuses the id."""
    ctr = make_container(["sleep", "30"])
    task = ctr.new_task()
    task.start()
    before = tree(env)
    with pytest.raises(cls, match=message):
        task.exec(exec_id, pylibctrd.process_spec(env.spec(ctr.id, ["sh"]), ["true"]),
                  attach_stdio=pylibctrd.stdio.Capture())
    assert tree(env) == before
    assert not Path("/abs-exec-stdout").exists()
    task.force_delete()
