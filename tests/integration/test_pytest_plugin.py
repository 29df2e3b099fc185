"""The pytest plugin as a user's project sees it: generated test files run in
a child pytest (pytester), which loads the plugin through its pytest11 entry
point like any project that installs pylibctrd."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

import pylibctrd
from pylibctrd import imagebuild
from pylibctrd.testing import Env

USES_EVERY_FIXTURE = """
import json, os
import pylibctrd
from pylibctrd import EventType, stdio

def test_daemon_and_rootfs(pylibctrd_daemon, pylibctrd_rootfs, pylibctrd_env):
    assert os.path.exists(pylibctrd_daemon.address)
    assert (pylibctrd_rootfs / "bin" / "busybox").exists()
    assert pylibctrd_env.rootfs == pylibctrd_rootfs
    daemon = pylibctrd_daemon.daemon
    with open(os.environ["SESSION_FILE"], "w") as f:
        json.dump([pylibctrd_daemon.namespace, daemon and daemon.state_dir], f)

def test_client(pylibctrd_client):
    assert pylibctrd_client.version().version

def test_container_runs(pylibctrd_container, pylibctrd_recorder):
    out = stdio.Capture()
    ctr = pylibctrd_container(["sh", "-c", "echo hi; exit 3"])
    task = ctr.new_task(attach_stdio=out)
    task.start()
    assert pylibctrd_recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 3
    out.wait(10)
    assert out.stdout == b"hi\\n"
    # left for the fixture: the stopped task and the container

def test_cleanup_even_when_the_test_fails(pylibctrd_container, pylibctrd_env):
    ctr = pylibctrd_container(["sleep", "60"])
    task = ctr.new_task()
    task.start()
    task.exec("e1", pylibctrd.process_spec(pylibctrd_env.spec(ctr.id, ["sleep", "60"]), ["sleep", "60"]))
    raise AssertionError("this test fails on purpose")
"""


def namespace_left(env: Env, namespace: str) -> list[str]:
    with pylibctrd.Client.connect(env.address, namespace=namespace, state_dir=str(env.bundles)) as c:
        return [r.id for r in c.list_containers()]


def test_every_fixture_with_a_managed_containerd(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("SESSION_FILE", str(tmp_path / "session"))
    pytester.makepyfile(USES_EVERY_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)  # no teardown error: nothing leaked
    result.stdout.fnmatch_lines(["*this test fails on purpose*"])
    namespace, state_dir = json.loads((tmp_path / "session").read_text())
    assert namespace.startswith("pylibctrd-test-") and state_dir
    # Its containerd was stopped and its temp dir removed.
    assert not Path(state_dir).exists()


def test_cleanup_with_an_existing_containerd(pytester: pytest.Pytester, env: Env,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("SESSION_FILE", str(tmp_path / "session"))
    pytester.makepyfile(USES_EVERY_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}")
    result.assert_outcomes(passed=3, failed=1)
    namespace, state_dir = json.loads((tmp_path / "session").read_text())
    assert state_dir is None  # not ours to start
    assert namespace_left(env, namespace) == []  # even the failed test's container


def test_a_leaked_container_fails_the_session(pytester: pytest.Pytester, env: Env) -> None:
    pytester.makepyfile("""
        import pylibctrd

        def test_leaks(pylibctrd_client, pylibctrd_env):
            pylibctrd_client.new_container("leaked", pylibctrd_env.spec("leaked", ["true"]))
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret != 0
    text = result.stdout.str()
    m = re.search(r"the tests left containers in namespace (\S+): \['leaked'\]", text)
    assert m, text
    assert namespace_left(env, m.group(1)) == []  # and it was removed


def test_no_containerd_skips_with_the_reason(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    pytester.makepyfile("""
        def test_a(pylibctrd_container):
            raise AssertionError("must not run")

        def test_b(pylibctrd_client):
            raise AssertionError("must not run")
    """)
    monkeypatch.setenv("PATH", str(tmp_path))  # no containerd, shim or runc
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines([
        "*pylibctrd: cannot run containers here: no containerd on PATH; "
        "no containerd-shim-runc-v2 on PATH; no runc on PATH*",
    ])


def test_xdist_workers_get_their_own_namespace_and_dirs(pytester: pytest.Pytester, env: Env,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("OUT_DIR", str(tmp_path))
    # The same container id in every test: shared namespaces would conflict.
    pytester.makepyfile("""
        import json, os, time

        def record(d):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            path = os.path.join(os.environ["OUT_DIR"], worker)
            with open(path, "w") as f:
                json.dump([d.namespace, str(d.workdir)], f)

        def test_1(pylibctrd_container, pylibctrd_daemon):
            record(pylibctrd_daemon)
            pylibctrd_container(["true"], id="same-id")
            time.sleep(1)

        def test_2(pylibctrd_container, pylibctrd_daemon):
            record(pylibctrd_daemon)
            pylibctrd_container(["true"], id="same-id")
            time.sleep(1)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           f"--pylibctrd-address={env.address}")
    result.assert_outcomes(passed=2)
    seen = [json.loads(p.read_text()) for p in sorted(tmp_path.iterdir())]
    assert len(seen) == 2, seen
    (ns0, dir0), (ns1, dir1) = seen
    assert ns0 != ns1 and dir0 != dir1
    assert ns0.endswith("-gw0") and ns1.endswith("-gw1")


def ctr_rows(env: Env, namespace: str, *args: str) -> list[str]:
    """The rows `ctr` lists in another namespace (without the header)."""
    out = subprocess.run(["ctr", "-a", env.address, "-n", namespace, *args], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[1:]


def test_image_fixture_imports_once_and_is_removed_at_session_end(
        pytester: pytest.Pytester, env: Env, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("SESSION_FILE", str(tmp_path / "session"))
    pytester.makepyfile("""
        import json, os
        from pylibctrd import EventType, stdio

        def test_image(pylibctrd_image, pylibctrd_client, pylibctrd_daemon):
            assert pylibctrd_image.name == "busybox:latest"
            assert pylibctrd_image.config["Cmd"] == ["sh"]
            assert pylibctrd_client.get_image("busybox") == pylibctrd_image
            with open(os.environ["SESSION_FILE"], "w") as f:
                json.dump(pylibctrd_daemon.namespace, f)

        def test_container_from_the_image(pylibctrd_image, pylibctrd_container,
                                          pylibctrd_recorder, pylibctrd_client):
            out = stdio.Capture()
            ctr = pylibctrd_container(None, image=pylibctrd_image)  # the image's sh
            task = ctr.new_task(with_stdin=True, attach_stdio=out)
            task.start()
            out.stdin.write(b"ls /bin/busybox; exit 4\\n")
            out.stdin.close()
            assert pylibctrd_recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 4
            out.wait(10)
            assert out.stdout == b"/bin/busybox\\n"
            # left for the fixture: the task, the container and the prepared rootfs

        def test_the_same_image_again(pylibctrd_image, pylibctrd_client):
            assert [i.name for i in pylibctrd_client.images()] == ["busybox:latest"]
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}")
    result.assert_outcomes(passed=3)  # no teardown error: the factory released its rootfs
    namespace = json.loads((tmp_path / "session").read_text())
    with pylibctrd.Client.connect(env.address, namespace=namespace,
                                  state_dir=str(env.bundles)) as c:
        assert c.images() == [] and c.list_containers() == []
    for table in ("snapshots", "leases", "content"):
        assert ctr_rows(env, namespace, table, "ls") == [], table


def test_a_rootfs_left_prepared_fails_the_session(pytester: pytest.Pytester, env: Env) -> None:
    pytester.makepyfile("""
        def test_leaks(pylibctrd_image, pylibctrd_client):
            pylibctrd_client.prepare_rootfs("leaked-rootfs", pylibctrd_image.name)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}")
    result.assert_outcomes(passed=1, errors=1)
    text = result.stdout.str()
    m = re.search(r"the tests left rootfs prepared in namespace (\S+): \['leaked-rootfs'\]", text)
    assert m, text
    assert ctr_rows(env, m.group(1), "leases", "ls") == []
    with open("/proc/self/mountinfo") as f:
        assert "leaked-rootfs" not in f.read()


USES_THE_USERS_IMAGE = """
    import json, os
    from pylibctrd import EventType, stdio

    def test_the_users_image(pylibctrd_image, pylibctrd_images, pylibctrd_container,
                             pylibctrd_recorder, pylibctrd_client, pylibctrd_daemon):
        with open(os.environ["SESSION_FILE"], "w") as f:
            json.dump(pylibctrd_daemon.namespace, f)
        assert pylibctrd_image.name == "app:latest"
        out = stdio.Capture()
        ctr = pylibctrd_container(None, image=pylibctrd_image)  # its Cmd
        task = ctr.new_task(attach_stdio=out)
        task.start()
        assert pylibctrd_recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 0
        out.wait(10)
        assert out.stdout == b"hello from app\\n"
        # Another archive, imported once however often a test asks for it.
        [other] = pylibctrd_images(os.environ["OTHER"], name="other:1")
        assert pylibctrd_images(os.environ["OTHER"], name="other:1") == [other]
        assert sorted(i.name for i in pylibctrd_client.images()) == ["app:latest", "other:1"]
"""


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_users_image_archive(pytester: pytest.Pytester, env: Env, how: str,
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (pytester.path / "images").mkdir()
    imagebuild.busybox_image(pytester.path / "images" / "app.tar", name="app:latest",
                             config={"Cmd": ["echo", "hello from app"]})
    other = imagebuild.busybox_image(tmp_path / "other.tar", name=None, format="oci")
    monkeypatch.setenv("SESSION_FILE", str(tmp_path / "session"))
    monkeypatch.setenv("OTHER", str(other.path))
    pytester.makepyfile(textwrap.dedent(USES_THE_USERS_IMAGE))
    args = ["-p", "no:cacheprovider", f"--pylibctrd-address={env.address}"]
    if how == "option":
        args.append("--pylibctrd-image=images/app.tar")
    else:
        pytester.makeini("[pytest]\npylibctrd_image = images/app.tar\n")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)  # no teardown error: its rootfs was released
    namespace = json.loads((tmp_path / "session").read_text())
    with pylibctrd.Client.connect(env.address, namespace=namespace,
                                  state_dir=str(env.bundles)) as c:
        assert c.images() == [] and c.list_containers() == []  # both images removed
    assert ctr_rows(env, namespace, "snapshots", "ls") == []


def test_a_missing_image_archive_is_named(pytester: pytest.Pytester, env: Env) -> None:
    pytester.makepyfile("""
        def test_a(pylibctrd_image):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}",
                                           "--pylibctrd-image=nothing-here.tar")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pylibctrd: the image archive */nothing-here.tar"
                                 " (--pylibctrd-image or ini pylibctrd_image) is not a file*"])
