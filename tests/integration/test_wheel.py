"""The binary wheel as a user gets it: installed into a fresh venv outside
the checkout, with neither Go nor a C compiler on PATH and pip forbidden to
build anything, then a container run end to end from that venv.

`make wheel` builds dist/pylibctrd-*-cp310-abi3-manylinux_*.whl (make test
depends on it and sets PYLIBCTRD_REQUIRE_WHEEL=1, so a missing wheel fails)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import testing
from pylibctrd.testing import Env

ROOT = Path(__file__).resolve().parents[2]

RUN_A_CONTAINER = textwrap.dedent("""
    import json, sys
    import pylibctrd, pylibctrd.aio, pylibctrd.testing  # every module is in the wheel
    from pylibctrd import EventType, stdio

    address, namespace, bundles, rootfs = sys.argv[1:5]
    events = pylibctrd.Recorder()
    with pylibctrd.Client.connect(address, namespace=namespace, state_dir=bundles,
                                  backend=events) as client:
        spec = pylibctrd.container_spec(rootfs, ["sh", "-c", "echo from-wheel; exit 5"],
                                        cgroups_path="/pylibctrd-test/wheel")
        ctr = client.new_container("wheel", spec)
        out = stdio.Capture()
        task = ctr.new_task(attach_stdio=out)
        task.start()
        info = events.wait_for("wheel", EventType.EXIT)
        out.wait(10)
        status = task.delete()
        ctr.delete()
    v = pylibctrd.versions()
    print(json.dumps({"file": pylibctrd.__file__, "version": pylibctrd.__version__,
                      "go": v.go, "moby": v.moby, "stdout": out.stdout.decode(),
                      "event_exit": info.exit_code, "exit": status.exit_code}))
""")


def the_wheel() -> Path:
    wheels = sorted((ROOT / "dist").glob(f"pylibctrd-{pylibctrd.__version__}-cp310-abi3-manylinux_*.whl"))
    if not wheels:
        if os.environ.get("PYLIBCTRD_REQUIRE_WHEEL") == "1":
            pytest.fail("no wheel in dist/: `make wheel` should have built it")
        pytest.skip("no wheel in dist/ (run `make wheel`)")
    # `make wheel` holds v26; `make wheel FLAVOUR=v28` both flavours.
    flavour = pylibctrd.versions().flavour
    with zipfile.ZipFile(wheels[-1]) as z:
        if flavour_library(flavour) not in z.namelist():
            why = f"{wheels[-1].name} holds no {flavour} library: `make wheel FLAVOUR={flavour}` builds one that does"
            if os.environ.get("PYLIBCTRD_REQUIRE_WHEEL") == "1":
                pytest.fail(why)
            pytest.skip(why)
    return wheels[-1]


def flavour_library(flavour: str) -> str:
    return f"pylibctrd/libpylibctrd{'' if flavour == 'v26' else '_' + flavour}.so"


def tools_without_compilers(where: Path) -> str:
    """A PATH holding only what a user of the wheel runs: no go, no gcc, no cc."""
    where.mkdir()
    for tool in ("ctr", *testing.CONTAINER_BINARIES):
        found = shutil.which(tool)
        assert found, tool
        (where / tool).symlink_to(found)
    for compiler in ("go", "gcc", "cc", "x86_64-linux-gnu-gcc"):
        assert shutil.which(compiler, path=str(where)) is None
    return str(where)


def test_wheel_installs_and_runs_without_go(env: Env, tmp_path_factory: pytest.TempPathFactory) -> None:
    wheel = the_wheel()
    work = tmp_path_factory.mktemp("wheel")
    assert ROOT not in work.parents
    tools = tools_without_compilers(work / "tools")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # The wheel's copy of the flavour under test (docs/flavours.md).
    flavour = pylibctrd.versions().flavour
    clean = {"PATH": f"{venv / 'bin'}:{tools}", "HOME": str(work), "LANG": "C.UTF-8",
             "PYLIBCTRD_FLAVOUR": flavour}

    # --only-binary: pip must not build anything, neither ours nor a dependency.
    start = time.monotonic()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--only-binary=:all:",
         "--no-input", "--disable-pip-version-check", str(wheel)],
        env={**clean, "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache/pip"))},
        capture_output=True, text=True, cwd=work, timeout=300)
    took = time.monotonic() - start
    assert install.returncode == 0, install.stdout + install.stderr
    assert not re.search(r"Building wheel|setup\.py|Running command", install.stdout + install.stderr)
    print(f"wheel {wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB, installed in {took:.1f} s")

    # What is installed is what the wheel holds, byte for byte (nothing rebuilt).
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                               env=clean, capture_output=True, text=True, check=True).stdout.strip())
    with zipfile.ZipFile(wheel) as z:
        suffix = "" if flavour == "v26" else f"_{flavour}"
        for name in (flavour_library(flavour), f"pylibctrd/_native{suffix}.abi3.so",
                     "pylibctrd/py.typed"):
            assert hashlib.sha256(z.read(name)).digest() == hashlib.sha256((site / name).read_bytes()).digest(), name

    namespace = f"{env.namespace}-wheel"
    try:
        run = subprocess.run([py, "-I", "-c", RUN_A_CONTAINER, env.address, namespace,
                              str(env.bundles), str(env.rootfs)],
                             env=clean, capture_output=True, text=True, cwd=work, timeout=120)
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout)
    finally:
        left = testing.sweep(env.address, str(env.bundles), namespace)
    assert left == []
    assert Path(got["file"]).is_relative_to(site)  # the venv's copy, not the checkout
    assert got["version"] == pylibctrd.__version__
    assert got["stdout"] == "from-wheel\n" and got["event_exit"] == 5 and got["exit"] == 5
    assert got["go"] == pylibctrd.versions().go and got["moby"] == pylibctrd.versions().moby


@pytest.mark.parametrize("missing", ["go", "gcc"])
def test_sdist_build_names_the_missing_tool(missing: str, tmp_path: Path) -> None:
    sdists = sorted((ROOT / "dist").glob(f"pylibctrd-{pylibctrd.__version__}.tar.gz"))
    build_py = ROOT / "build" / "venv" / "bin" / "python"  # setuptools, cffi: made by `make sdist`
    if not sdists or not build_py.exists():
        if os.environ.get("PYLIBCTRD_REQUIRE_WHEEL") == "1":
            pytest.fail("no sdist or build venv: `make wheel` should have made them")
        pytest.skip("no sdist in dist/ (run `make sdist`)")
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("go", "gcc"):
        if tool != missing:
            found = shutil.which(tool)
            assert found, tool
            (tools / tool).symlink_to(found)
    done = subprocess.run(
        [build_py, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index",
         "-w", str(tmp_path / "out"), str(sdists[-1])],
        env={"PATH": f"{build_py.parent}:{tools}", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert re.search(rf"pylibctrd: building from source needs {missing} \(", done.stdout + done.stderr), \
        done.stdout + done.stderr
