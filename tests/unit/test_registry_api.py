"""The registry API without a daemon: the sync and asyncio clients agree,
references are checked in Go, the docker config is read with the docker
CLI's own package, and docker's progress display."""

from __future__ import annotations

import base64
import inspect
import io
import json
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import Auth, Progress, aio, errors
from pylibctrd.cli._progress import Display
from pylibctrd.registry import registry_of

METHODS = ("pull", "push", "tag", "save", "login", "configure_registry")


@pytest.mark.parametrize("name", METHODS)
def test_sync_and_aio_have_the_same_signatures(name: str) -> None:
    sync = inspect.signature(getattr(pylibctrd.Client, name))
    async_ = inspect.signature(getattr(aio.Client, name))
    assert list(sync.parameters) == list(async_.parameters)
    for p in sync.parameters.values():
        assert p.default == async_.parameters[p.name].default
        assert p.kind == async_.parameters[p.name].kind
    assert inspect.iscoroutinefunction(getattr(aio.Client, name))


def test_registry_of_follows_the_docker_cli() -> None:
    assert registry_of("busybox") == "https://index.docker.io/v1/"
    assert registry_of("docker.io/library/busybox:1") == "https://index.docker.io/v1/"
    assert registry_of("127.0.0.1:5000/a/b:1") == "127.0.0.1:5000"
    assert registry_of("registry.example.com/app") == "registry.example.com"
    for bad in ("Upper/Case", "bad ref!", ""):
        with pytest.raises(errors.InvalidParameter):
            registry_of(bad)


def test_docker_config_credentials_and_logout(tmp_path: Path) -> None:
    auth = base64.b64encode(b"carol:pa:ss").decode()
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"reg.example.com:5000": {"auth": auth}}}))
    found = Auth.from_docker_config("reg.example.com:5000", config_dir=tmp_path)
    assert found == Auth("carol", "pa:ss", server="reg.example.com:5000")
    assert "pa:ss" not in repr(found)
    assert Auth.from_docker_config("other.example.com", config_dir=tmp_path) is None
    assert Auth.from_docker_config(config_dir=tmp_path) is None  # Docker Hub
    assert pylibctrd.logout("reg.example.com:5000", config_dir=tmp_path) is True
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {}
    assert pylibctrd.logout("reg.example.com:5000", config_dir=tmp_path) is False


def test_display_redraws_on_a_terminal_and_prints_steps_in_a_pipe() -> None:
    steps = [Progress("1", "Pulling from team/app"), Progress("aaa", "Pulling fs layer"),
             Progress("bbb", "Pulling fs layer"), Progress("aaa", "Downloading", 50, 100),
             Progress("aaa", "Downloading", 100, 100), Progress("aaa", "Download complete"),
             Progress("", "Status: Downloaded newer image for app:1")]
    pipe = io.StringIO()
    display = Display(pipe, tty=False)
    for p in steps:
        display(p)
    assert pipe.getvalue().splitlines() == [
        "1: Pulling from team/app", "aaa: Pulling fs layer", "bbb: Pulling fs layer",
        "aaa: Download complete", "Status: Downloaded newer image for app:1"]
    tty = io.StringIO()
    display = Display(tty, tty=True)
    for p in steps:
        display(p)
    out = tty.getvalue()
    assert "\x1b[2A\r\x1b[2Kaaa: Downloading [" in out  # aaa is two lines up: redrawn there
    assert "50B/100B" in out and out.count("\n") == 4  # one line per id, plus the status


def test_bad_arguments_are_refused_before_go() -> None:
    with pytest.raises(TypeError):
        pylibctrd.registry.pull_op(0, "x", None, "notauth", None)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidParameter):
        Auth("a\0", "b")._json()
    with pytest.raises(TypeError):
        pylibctrd.registry.save_op(0, ["x"], io.StringIO())  # type: ignore[arg-type]
