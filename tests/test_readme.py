"""The README's Python examples run as written: they are what a user copies
first. Each script runs in its own interpreter on the embedded containerd
(PYLIBCTRD_ROOT/PYLIBCTRD_EXEC_ROOT point it into a temp dir), the pytest
example through pytester with the plugin's own containerd."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylibctrd import imagebuild

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[str]:
    found = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)
    return [b for b in found if not b.startswith(">>>")]


def scripts() -> list[str]:
    return [b for b in examples() if "Client.connect(" in b]


def test_the_readme_has_the_examples_this_file_runs() -> None:
    assert len(scripts()) == 3, scripts()
    assert any("import_image(" in s for s in scripts())
    assert any("aio.Client.connect(" in s for s in scripts())
    assert len([b for b in examples() if "def test_" in b]) == 2


@pytest.fixture
def embedded(tmp_path: Path) -> dict[str, str]:
    """The environment of a user's process whose embedded containerd lives in tmp_path."""
    return dict(os.environ, PYLIBCTRD_ROOT=str(tmp_path / "lib"),
                PYLIBCTRD_EXEC_ROOT=str(tmp_path / "run"))


@pytest.mark.parametrize("index", range(3))
def test_script_example_runs(index: int, tmp_path: Path, embedded: dict[str, str]) -> None:
    script = scripts()[index]
    # app.tar: a `docker save` archive whose command says who ran it.
    imagebuild.busybox_image(tmp_path / "app.tar", name="app:latest",
                             config={"Cmd": ["echo", "hello from app"]})
    had_rootfs = Path("/tmp/rootfs").exists()
    try:
        out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=embedded,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120)
    finally:
        if not had_rootfs:
            shutil.rmtree("/tmp/rootfs", ignore_errors=True)
    assert out.returncode == 0, out.stderr
    if "aio." in script:
        assert out.stdout == "b'hi\\n'\n7\n"
    elif "import_image(" in script:
        assert out.stdout == "hello from app\n"
    else:
        lines = out.stdout.splitlines()
        assert lines[0] == "b'hi\\n'" and lines[1].startswith("ExitStatus(exit_code=7,"), lines
    # The example cleaned up after itself, and its containerd stopped with it.
    state = tmp_path / "run" / "containerd"
    assert not (state / "app").exists() and not (state / "demo").exists(), "bundle dir left"
    assert not (state / "containerd.sock").exists()


@pytest.mark.parametrize("index", range(2))
def test_pytest_example_runs(index: int, pytester: pytest.Pytester) -> None:
    example = [b for b in examples() if "def test_" in b][index]
    pytester.makepyfile(example)
    args = ["-p", "no:cacheprovider"]
    if "pylibctrd_image" in example:  # as the README runs it: with the user's archive
        (pytester.path / "build").mkdir()
        imagebuild.busybox_image(pytester.path / "build" / "app.tar", name="app:latest",
                                 config={"Cmd": ["echo", "hello from app"]})
        args.append("--pylibctrd-image=build/app.tar")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
