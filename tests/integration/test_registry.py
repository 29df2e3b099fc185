"""Registries through Moby's image and registry services, against real
parts: Debian's docker-registry (distribution 2.8) started per test on a
free 127.0.0.1 port, images written into it by skopeo (a third-party
client) or by our own push. Every layer is random, so no namespace of this
containerd holds it yet (containerd never downloads a blob it has). Every
test leaves the namespace as it found it: no image, content, ingest or
lease, whatever failed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import pylibctrd
from pylibctrd import Auth, Progress, aio, errors, imagebuild
from pylibctrd.imagebuild import Layer
from pylibctrd.testing import PROMPT, REGISTRY_TOOLS, Env, Registry

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in REGISTRY_TOOLS),
    reason=f"needs {', '.join(REGISTRY_TOOLS)} (make system)")


def state(env: Env) -> dict[str, list[str]]:
    def column(*args: str) -> list[str]:
        return sorted(line.split()[0] for line in env.ctr(*args).splitlines()[1:] if line.strip())
    return {"images": column("images", "ls"), "content": column("content", "ls"),
            "active": column("content", "active"), "leases": column("leases", "ls")}


@pytest.fixture
def images(env: Env, client: pylibctrd.Client) -> Iterator[pylibctrd.Client]:
    """The client; afterwards every image goes, and the namespace must be as before."""
    before = state(env)
    yield client
    for img in client.images():
        try:
            client.remove_image(img.name or img.digest)
        except errors.NotFound:
            pass
    assert state(env) == before


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as reg:
        yield reg


def random_image(tmp_path: Path, *sizes: int, name: str = "rnd:1") -> imagebuild.BuiltImage:
    layers = [Layer(files={f"data{i}": os.urandom(size)}) for i, size in enumerate(sizes)]
    return imagebuild.build_image(tmp_path / f"img-{uuid.uuid4().hex[:8]}.tar", layers,
                                  config={"Cmd": ["sh"]}, name=name)


def put(registry: Registry, tmp_path: Path, ref: str, *sizes: int) -> imagebuild.BuiltImage:
    built = random_image(tmp_path, *sizes)
    registry.copy_in(built.path, ref)
    return built


def registry_layers(registry: Registry, ref: str) -> list[str]:
    """The layer digests of ref's manifest in the registry (skopeo gzips them)."""
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                          f"docker://{registry.address}/{ref}"], check=True,
                         capture_output=True).stdout
    return [layer["digest"] for layer in json.loads(raw)["layers"]]


class Recorder:
    def __init__(self) -> None:
        self.items: list[Progress] = []
        self.lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        with self.lock:
            self.items.append(p)

    def actions(self, action: str) -> list[str]:
        return [p.id for p in self.items if p.action == action]


# --- pull, push, tag, save ----------------------------------------------------------------

def test_pull_of_a_skopeo_written_multi_layer_image(images: pylibctrd.Client, registry: Registry,
                                                    tmp_path: Path) -> None:
    ref = f"{registry.address}/test/multi:1"
    put(registry, tmp_path, "test/multi:1", 200_000, 100_000, 50_000)
    progress = Recorder()
    img = images.pull(ref, progress=progress)
    assert img.name == ref and img.config["Cmd"] == ["sh"]
    assert images.get_image(ref) == img
    layer_ids = {d.split(":")[1][:12] for d in registry_layers(registry, "test/multi:1")}
    assert len(layer_ids) == 3
    assert set(progress.actions("Pulling fs layer")) == layer_ids
    assert set(progress.actions("Download complete")) == layer_ids
    # "Downloading" comes from a 100 ms ticker: small layers may be done first.
    assert all(p.total > 0 for p in progress.items if p.action == "Downloading")
    assert any(p.action.startswith("Status: Downloaded newer image for") for p in progress.items)
    # Everything is there now: Moby shows no layer at all.
    again = Recorder()
    assert images.pull(ref, progress=again) == img
    assert again.actions("Pulling fs layer") == [] or again.actions("Download complete") == []
    assert any(p.action.startswith("Status: Image is up to date") for p in again.items)


def test_push_then_pull_round_trip(images: pylibctrd.Client, registry: Registry,
                                   tmp_path: Path) -> None:
    built = random_image(tmp_path, 100_000, 20_000, name="roundtrip:1")
    [local] = images.import_image(built.path)
    target = f"{registry.address}/test/roundtrip:2"
    images.tag("roundtrip:1", target)
    assert images.get_image(target).digest == local.digest
    progress = Recorder()
    digest = images.push(target, progress=progress)
    assert digest == local.digest
    assert len(progress.actions("Pushed")) == 2  # both layers
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                          f"docker://{target}"], check=True, capture_output=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    images.remove_image(target)
    images.remove_image("roundtrip:1")
    pulled = images.pull(target)
    assert (pulled.name, pulled.digest) == (target, digest)
    # Pushing it again: the registry has every layer.
    again = Recorder()
    assert images.push(target, progress=again) == digest
    assert len(again.actions("Layer already exists")) == 2


def test_save_to_a_path_and_a_file_object_loads_back(images: pylibctrd.Client, registry: Registry,
                                                     tmp_path: Path) -> None:
    ref = f"{registry.address}/test/save:1"
    put(registry, tmp_path, "test/save:1", 30_000)
    img = images.pull(ref)
    out = tmp_path / "saved.tar"
    images.save([ref], out)
    buf = io.BytesIO()
    images.save(ref, buf)
    assert buf.getvalue() and out.stat().st_size > 30_000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".saved")] == []
    images.remove_image(ref)
    assert [(i.name, i.digest) for i in images.import_image(io.BytesIO(buf.getvalue()))] == [
        (ref, img.digest)]
    with pytest.raises(errors.NotFound):
        images.save(["no-such-image:1"], tmp_path / "none.tar")
    assert not (tmp_path / "none.tar").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".none")] == []


def test_multi_platform_index(images: pylibctrd.Client, registry: Registry, tmp_path: Path) -> None:
    layout = imagebuild.multi_platform_layout(tmp_path / "layout", ["amd64", "arm64"])
    subprocess.run(["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false",
                    f"oci:{layout}:multi", f"docker://{registry.address}/test/multi:1"],
                   check=True, capture_output=True)
    ref = f"{registry.address}/test/multi:1"
    arm = images.pull(ref, platform="linux/arm64")
    assert arm.config["Labels"] == {"arch": "arm64"}
    with pytest.raises(errors.NotFound):
        images.pull(ref, platform="linux/s390x")
    with pytest.raises(errors.InvalidParameter):
        images.pull(ref, platform="not a platform!")


# --- bad input and faults -----------------------------------------------------------------

def test_unknown_repository_tag_and_bad_references(images: pylibctrd.Client, registry: Registry,
                                                   tmp_path: Path) -> None:
    put(registry, tmp_path, "test/known:1", 1_000)
    with pytest.raises(errors.NotFound):
        images.pull(f"{registry.address}/test/known:nosuchtag")
    with pytest.raises(errors.NotFound):
        images.pull(f"{registry.address}/test/nosuchrepo:1")
    for bad in ("Upper/Case:1", "bad ref!", "x:y:z", ""):
        with pytest.raises(errors.InvalidParameter):
            images.pull(bad)
    with pytest.raises(errors.InvalidParameter):
        images.tag("no-such:1", "bad ref!")
    with pytest.raises(errors.NotFound):
        images.tag("no-such:1", "fine:1")
    with pytest.raises(errors.NotFound):
        images.push(f"{registry.address}/test/notlocal:1")


def test_registry_down_is_a_connection_error_at_once(images: pylibctrd.Client,
                                                     registry: Registry) -> None:
    registry.stop()
    start = time.monotonic()
    with pytest.raises(errors.Unavailable) as raised:
        images.pull(f"{registry.address}/test/x:1")
    assert isinstance(raised.value, ConnectionError)
    assert time.monotonic() - start < 5
    assert "connection refused" in str(raised.value)


def _until_downloading(done: threading.Event) -> pylibctrd.registry.ProgressCallback:
    def progress(p: Progress) -> None:
        if p.action == "Downloading" and p.current > 0:
            done.set()
    return progress


def test_registry_killed_mid_pull_leaves_nothing_and_a_second_pull_works(
        images: pylibctrd.Client, registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.address}/test/big:1"
    put(registry, tmp_path, "test/big:1", 60_000_000)
    downloading = threading.Event()

    def kill_when_downloading() -> None:
        if downloading.wait(30):
            registry.stop()
    killer = threading.Thread(target=kill_when_downloading)
    killer.start()
    try:
        with pytest.raises(errors.Error):
            images.pull(ref, progress=_until_downloading(downloading))
    finally:
        downloading.set()
        killer.join()
    assert images.images() == []
    registry.start()
    assert images.pull(ref).name == ref


def test_corrupted_blob_is_a_digest_mismatch_and_nothing_is_kept(
        images: pylibctrd.Client, registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.address}/test/corrupt:1"
    put(registry, tmp_path, "test/corrupt:1", 50_000)
    blob = registry.blob_path(registry_layers(registry, "test/corrupt:1")[0])
    data = bytearray(blob.read_bytes())
    data[-1000] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(errors.FailedPrecondition, match="unexpected commit digest"):
        images.pull(ref)
    assert images.images() == []


def test_ctrl_c_stops_a_pull_at_once(images: pylibctrd.Client, registry: Registry,
                                     tmp_path: Path) -> None:
    assert threading.current_thread() is threading.main_thread()
    ref = f"{registry.address}/test/ctrlc:1"
    put(registry, tmp_path, "test/ctrlc:1", 80_000_000)
    downloading = threading.Event()
    sent: list[float] = []

    def interrupt() -> None:
        if downloading.wait(30):
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
    t = threading.Thread(target=interrupt)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            images.pull(ref, progress=_until_downloading(downloading))
        stopped = time.monotonic()
    finally:
        downloading.set()
        t.join()
    assert sent and stopped - sent[0] < PROMPT
    assert images.images() == []


def test_a_raising_progress_callback_cancels_the_pull(images: pylibctrd.Client, registry: Registry,
                                                      tmp_path: Path) -> None:
    put(registry, tmp_path, "test/raise:1", 20_000_000)

    class Stop(Exception):
        pass

    # "Pulling fs layer" comes from Moby's fetch handler before the layer's
    # download, and the callback runs on that call: the raise cancels the
    # pull there. ("Downloading" comes from a 100 ms poll of the ingests,
    # which a fast local download may finish between.)
    def progress(p: Progress) -> None:
        if p.action == "Pulling fs layer":
            raise Stop("enough")
    with pytest.raises(Stop):
        images.pull(f"{registry.address}/test/raise:1", progress=progress)
    assert images.images() == []


# --- asyncio ------------------------------------------------------------------------------

def test_aio_pull_progress_push_and_cancel(images: pylibctrd.Client, registry: Registry,
                                           env: Env, tmp_path: Path) -> None:
    ref = f"{registry.address}/test/aio:1"
    put(registry, tmp_path, "test/aio:1", 100_000, 10_000)
    put(registry, tmp_path, "test/aiobig:1", 80_000_000)

    async def main() -> None:
        async with await aio.Client.connect(env.address, namespace=env.namespace,
                                            state_dir=str(env.bundles)) as client:
            items = [item async for item in client.pull_progress(ref)]
            assert isinstance(items[-1], pylibctrd.Image) and items[-1].name == ref
            assert all(isinstance(p, Progress) for p in items[:-1])
            assert len([p for p in items[:-1]
                        if isinstance(p, Progress) and p.action == "Pulling fs layer"]) == 2
            seen: list[Progress] = []
            assert await client.push(ref, progress=seen.append) == items[-1].digest
            assert seen
            # Cancelling stops the pull at once and leaves nothing.
            downloading = asyncio.Event()

            def progress(p: Progress) -> None:
                if p.action == "Downloading" and p.current > 0:
                    downloading.set()
            task = asyncio.ensure_future(
                client.pull(f"{registry.address}/test/aiobig:1", progress=progress))
            await asyncio.wait_for(downloading.wait(), 30)
            start = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - start < PROMPT
            assert [i.name for i in await client.images()] == [ref]
    asyncio.run(main())


# --- auth -----------------------------------------------------------------------------------

def test_basic_auth_wrong_password_login_and_docker_config(
        images: pylibctrd.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    with Registry(tmp_path / "authreg", users={"alice": "s3cret"}) as reg:
        built = random_image(tmp_path, 5_000)
        reg.copy_in(built.path, "test/private:1", creds=("alice", "s3cret"))
        ref = f"{reg.address}/test/private:1"
        with pytest.raises(errors.Unauthorized) as raised:
            images.pull(ref)
        assert isinstance(raised.value, PermissionError)
        with pytest.raises(errors.Unauthorized):
            images.pull(ref, auth=Auth("alice", "wrong"))
        with pytest.raises(errors.Unauthorized):
            images.login(Auth("alice", "wrong", server=reg.address))
        assert Auth.from_docker_config(reg.address) is None
        assert images.pull(ref, auth=Auth("alice", "s3cret")).name == ref
        images.remove_image(ref)
        assert "Succeeded" in images.login(Auth("alice", "s3cret", server=reg.address))
        config = json.loads((tmp_path / "docker-config" / "config.json").read_text())
        assert reg.address in config["auths"]
        assert Auth.from_docker_config(reg.address) == Auth("alice", "s3cret", server=reg.address)
        assert images.pull(ref).name == ref  # credentials from the docker config
        images.tag(ref, f"{reg.address}/test/pushed:1")
        assert images.push(f"{reg.address}/test/pushed:1")
        assert pylibctrd.logout(reg.address) is True
        assert pylibctrd.logout(reg.address) is False
        assert Auth.from_docker_config(reg.address) is None


# --- command line -------------------------------------------------------------------------

def cli_run(env: Env, *args: str, input: bytes | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    base = [sys.executable, "-m", "pylibctrd", "--address", env.address,
            "--namespace", env.namespace, "--state-dir", str(env.bundles)]
    if args and args[0] == "run":
        args = ("run", "--cgroup-parent", "/pylibctrd-test", *args[1:])
    return subprocess.run([*base, *args], input=input, capture_output=True, timeout=120,
                          env={**os.environ, **(extra_env or {})})


def test_cli_pull_push_tag_save_and_run_pull(images: pylibctrd.Client, registry: Registry,
                                             env: Env, tmp_path: Path) -> None:
    ref = f"{registry.address}/test/cli:1"
    put(registry, tmp_path, "test/cli:1", 40_000, 20_000)
    r = cli_run(env, "pull", ref)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1: Pulling from test/cli" and lines[-1] == ref
    assert sum(line.endswith(": Pull complete") or line.endswith(": Download complete")
               for line in lines) >= 2
    assert not any("Downloading" in line for line in lines)  # a pipe: no byte counts
    assert any(line.startswith("Status: Downloaded newer image for ") for line in lines)
    r = cli_run(env, "pull", "-q", ref)
    assert (r.returncode, r.stdout) == (0, f"{ref}\n".encode())
    target = f"{registry.address}/test/cli-pushed:2"
    assert cli_run(env, "tag", ref, target).returncode == 0
    r = cli_run(env, "push", target)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()  # the registry has the layers in test/cli: mounted
    assert out[0] == f"The push refers to repository [{registry.address}/test/cli-pushed]"
    assert sum(line.endswith(": Mounted from test/cli") for line in out) == 2
    assert out[-1].startswith("2: digest: sha256:")
    r = cli_run(env, "save", "-o", str(tmp_path / "cli.tar"), target)
    assert r.returncode == 0 and (tmp_path / "cli.tar").stat().st_size > 60_000
    r = cli_run(env, "pull", f"{registry.address}/test/nothere:1")
    assert r.returncode == 1 and r.stderr.startswith(b"pylibctrd: Error: ")

    # run --pull: a busybox image that exists only in the registry.
    bb = imagebuild.busybox_image(tmp_path / "bb.tar", name="bb:1")
    registry.copy_in(bb.path, "test/bb:1")
    bbref = f"{registry.address}/test/bb:1"
    r = cli_run(env, "run", "--rm", "--pull", "never", bbref, "true")
    assert r.returncode == 125 and b"No such image" in r.stderr
    r = cli_run(env, "run", "--rm", bbref, "echo", "pulled")
    assert (r.returncode, r.stdout) == (0, b"pulled\n"), r.stderr
    assert r.stderr.startswith(f"Unable to find image '{bbref}' locally".encode())
    r = cli_run(env, "run", "--rm", "--pull", "always", bbref, "echo", "again")
    assert (r.returncode, r.stdout) == (0, b"again\n"), r.stderr


def test_cli_login_logout(images: pylibctrd.Client, env: Env, tmp_path: Path) -> None:
    config = {"DOCKER_CONFIG": str(tmp_path / "dc")}
    with Registry(tmp_path / "authreg", users={"bob": "pw1"}) as reg:
        r = cli_run(env, "login", "-u", "bob", "--password-stdin", reg.address, input=b"nope\n",
                    extra_env=config)
        assert r.returncode == 1 and b"401 Unauthorized" in r.stderr
        r = cli_run(env, "login", "-u", "bob", "--password-stdin", reg.address, input=b"pw1\n",
                    extra_env=config)
        assert (r.returncode, r.stdout) == (0, b"Login Succeeded\n"), r.stderr
        assert Auth.from_docker_config(reg.address, config_dir=config["DOCKER_CONFIG"]) == Auth(
            "bob", "pw1", server=reg.address)
        r = cli_run(env, "logout", reg.address, extra_env=config)
        assert r.stdout == f"Removing login credentials for {reg.address}\n".encode()
        r = cli_run(env, "logout", reg.address, extra_env=config)
        assert r.stdout == f"Not logged in to {reg.address}\n".encode()


# --- pytest plugin --------------------------------------------------------------------------

def test_plugin_image_option_pulls_a_reference_once(pytester: pytest.Pytester, env: Env,
                                                    registry: Registry, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    built = imagebuild.busybox_image(tmp_path / "app.tar", name="app:1",
                                     config={"Cmd": ["echo", "hello from the registry"]})
    registry.copy_in(built.path, "team/app:1")
    ref = f"{registry.address}/team/app:1"
    monkeypatch.setenv("SESSION_FILE", str(tmp_path / "session"))
    pytester.makepyfile(f"""
        import json, os
        from pylibctrd import EventType, stdio

        def test_one(pylibctrd_image, pylibctrd_daemon):
            with open(os.environ["SESSION_FILE"], "w") as f:
                json.dump(pylibctrd_daemon.namespace, f)
            assert pylibctrd_image.name == {ref!r}

        def test_two(pylibctrd_image, pylibctrd_images, pylibctrd_container, pylibctrd_recorder):
            assert pylibctrd_images.pull({ref!r}) == pylibctrd_image
            out = stdio.Capture()
            ctr = pylibctrd_container(None, image=pylibctrd_image)
            task = ctr.new_task(attach_stdio=out)
            task.start()
            assert pylibctrd_recorder.wait_for(ctr.id, EventType.EXIT).exit_code == 0
            out.wait(10)
            assert out.stdout == b"hello from the registry\\n"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--pylibctrd-address={env.address}",
                                           f"--pylibctrd-image={ref}")
    result.assert_outcomes(passed=2)
    namespace = json.loads((tmp_path / "session").read_text())
    with pylibctrd.Client.connect(env.address, namespace=namespace,
                                  state_dir=str(env.bundles)) as c:
        assert c.images() == []
