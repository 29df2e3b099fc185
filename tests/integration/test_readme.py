"""The Python examples of the README and of docs/ run as written: they are
what a user copies first. Every ```python block runs: a script each in its own
interpreter on the embedded containerd (PYLIBCTRD_ROOT/PYLIBCTRD_EXEC_ROOT
point it into a temp dir), an example with a `def test_` through pytester with
the plugin's own containerd. An example that pulls gets $IMAGE: a busybox
image in a registry the test starts on 127.0.0.1 (Debian's docker-registry,
filled by skopeo), so nothing leaves this machine. A block that is the same in two pages (the
README's copies of docs/ examples) runs once.

Blocks fenced otherwise are not run: ```pycon shows an interactive session
whose output depends on the machine (`pylibctrd.versions()`), ```sh and
```console are shell. test_every_python_block_is_an_example keeps it so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylibctrd import imagebuild
from pylibctrd.testing import REGISTRY_TOOLS, Registry

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> dict[str, str]:
    """Each distinct block fenced as `lang`, by where it first appears (page:line)."""
    found: dict[str, str] = {}
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == lang and m.group(2) not in found.values():
                line = text.count("\n", 0, m.start()) + 1
                found[f"{page.relative_to(ROOT)}:{line}"] = m.group(2)
    return found


EXAMPLES = blocks("python")
TESTS = {k: v for k, v in EXAMPLES.items() if "def test_" in v}
SCRIPTS = {k: v for k, v in EXAMPLES.items() if k not in TESTS}


def test_every_python_block_is_an_example() -> None:
    # The README's two examples, the images one in the guide, and the
    # plugin page's two tests; a new block simply runs. A doctest-style
    # block fenced as python would not: it must be ```pycon.
    assert not [k for k, v in EXAMPLES.items() if v.startswith(">>>")]
    readme = [k for k in SCRIPTS if k.startswith("README.md")]
    assert len(readme) == 2 and any("aio.Client.connect(" in SCRIPTS[k] for k in readme), readme
    # Pulling first, the archive second (issue 18).
    assert "client.pull(" in SCRIPTS[readme[0]] and "import_image(" in SCRIPTS[readme[1]]
    assert any("import_image(" in s and "aio." not in s for s in SCRIPTS.values())
    assert len(TESTS) == 2, TESTS
    assert blocks("pycon"), "the versions() session in docs/install.md"


def test_the_readme_stays_short() -> None:
    # The pitch, the two commands, install and two examples; the rest is docs/.
    assert len(PAGES[0].read_text().splitlines()) < 250


@pytest.fixture
def embedded(tmp_path: Path) -> dict[str, str]:
    """The environment of a user's process whose embedded containerd lives in tmp_path."""
    return dict(os.environ, PYLIBCTRD_ROOT=str(tmp_path / "lib"),
                PYLIBCTRD_EXEC_ROOT=str(tmp_path / "run"))


@pytest.mark.parametrize("where", list(SCRIPTS))
def test_script_example_runs(where: str, tmp_path: Path, embedded: dict[str, str]) -> None:
    script = SCRIPTS[where]
    # app.tar: a `docker save` archive whose command says who ran it.
    imagebuild.busybox_image(tmp_path / "app.tar", name="app:latest",
                             config={"Cmd": ["echo", "hello from app"]})
    had_rootfs = Path("/tmp/rootfs").exists()
    registry: Registry | None = None
    try:
        if "client.pull(" in script:
            missing = [t for t in REGISTRY_TOOLS if shutil.which(t) is None]
            assert not missing, f"the pull example needs {missing} (make system)"
            registry = Registry(tmp_path / "registry").start()
            busybox = imagebuild.busybox_image(tmp_path / "busybox.tar")
            registry.copy_in(busybox.path, "library/busybox:latest")
            embedded = dict(embedded, IMAGE=f"{registry.address}/library/busybox:latest")
        out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=embedded,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120)
    finally:
        if registry is not None:
            registry.stop()
        if not had_rootfs:
            shutil.rmtree("/tmp/rootfs", ignore_errors=True)
    assert out.returncode == 0, out.stderr
    # The output each example's comments promise.
    if "aio." in script:
        assert out.stdout == "b'hi\\n'\n7\n"
    elif "import_image(" in script:
        assert out.stdout == "hello from app\n"
    elif "exit 7" in script:
        lines = out.stdout.splitlines()
        assert lines[0] == "b'hi\\n'" and lines[1].startswith("ExitStatus(exit_code=7,"), lines
    # The example cleaned up after itself, and its containerd stopped with it.
    state = tmp_path / "run" / "containerd"
    for id in re.findall(r'new_container\("([^"]+)"', script):
        assert not (state / id).exists(), f"bundle dir {id} left"
    assert not (state / "containerd.sock").exists()


@pytest.mark.parametrize("where", list(TESTS))
def test_pytest_example_runs(where: str, pytester: pytest.Pytester) -> None:
    example = TESTS[where]
    pytester.makepyfile(example)
    args = ["-p", "no:cacheprovider"]
    if "pylibctrd_image" in example:  # as the page runs it: with the user's archive
        (pytester.path / "build").mkdir()
        imagebuild.busybox_image(pytester.path / "build" / "app.tar", name="app:latest",
                                 config={"Cmd": ["echo", "hello from app"]})
        args.append("--pylibctrd-image=build/app.tar")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
