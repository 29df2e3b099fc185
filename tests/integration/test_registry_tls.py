"""A TLS registry with htpasswd auth off loopback: Debian's docker-registry
inside a network namespace the test makes (a veth pair, 10.x: Moby treats
127.0.0.0/8 as insecure and would skip the certificate checks), its CA made
with openssl and trusted through a certs.d dir (`certs-dir`, so the test
never writes /etc/docker). Also the other daemon.json keys:
insecure-registries (a plain-HTTP registry off loopback) and
registry-mirrors (a mirror on 127.0.0.1 in a namespace where nothing else
can be reached)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import pylibctrd
from pylibctrd import Auth, errors, imagebuild
from pylibctrd.imagebuild import Layer
from pylibctrd.testing import REGISTRY_TOOLS, Env, Registry, VethNetns, make_tls

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in (*REGISTRY_TOOLS, "ip")) or os.geteuid() != 0,
    reason="needs root, ip, docker-registry, skopeo and openssl (make system)")

DEFAULT_CERTS_DIR = "/etc/docker/certs.d"


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[Registry, Path]]:
    """(the registry, the certs.d dir that trusts it); user alice/s3cret."""
    with VethNetns() as ns:
        ca, cert, key = make_tls(tmp_path / "tls", ns.ns_ip)
        reg = Registry(tmp_path / "reg", host=ns.ns_ip, port=5443, users={"alice": "s3cret"},
                       cert=str(cert), key=str(key), netns=ns.name)
        certs = tmp_path / "certs.d"
        (certs / reg.address).mkdir(parents=True)
        shutil.copy(ca, certs / reg.address / "ca.crt")
        with reg:
            yield reg, certs


TLS_SCRIPT = r'''
import json, sys
import pylibctrd
from pylibctrd import Auth, errors

address, namespace, state_dir, ref, certs, default_certs = sys.argv[1:]
out = {}


def outcome(f):
    try:
        return ["ok", f()]
    except errors.Error as e:
        return [type(e).__name__, str(e)]


# certs-dir given before any registry use: fresh in this process, in both flavours.
with pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir,
                              registry={"certs-dir": certs}) as c:
    try:
        out["pull_wrong"] = outcome(lambda: c.pull(ref, auth=Auth("alice", "wrong")).name)
        out["login_wrong"] = outcome(lambda: c.login(Auth("alice", "wrong", server=ref.split("/")[0])))
        out["login"] = outcome(lambda: c.login(Auth("alice", "s3cret", server=ref.split("/")[0])))
        img = c.pull(ref)  # credentials from the docker config
        out["pulled"] = img.name
        pushed = ref.replace("/test/tls:1", "/test/tls-pushed:1")
        c.tag(ref, pushed)
        out["pushed_same_digest"] = c.push(pushed) == img.digest
        for i in c.images():
            c.remove_image(i.name)
        # Back to the default certs.d: v26 replaces the directory (untrusted
        # again), v28 keeps the first one (Moby v28 sets it once per process).
        out["back_to_default"] = outcome(lambda: c.configure_registry({"certs-dir": default_certs}))
        out["pull_after"] = outcome(lambda: c.pull(ref, auth=Auth("alice", "s3cret")).name)
    finally:
        for i in c.images():
            c.remove_image(i.name)
print(json.dumps(out))
'''


def test_tls_registry_with_auth_trusted_through_certs_d(
        env: Env, client: pylibctrd.Client, tls_registry: tuple[Registry, Path],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's CA trusted through `certs-dir`, given at connect in a
    fresh process (Moby v28 sets the certificates directory once per process,
    at its first use: this session's client has long used the default); there
    wrong credentials are Unauthorized, `login` stores the right ones, and
    pull and push use them. Replacing the directory later works in v26 and is
    a Conflict in v28 (docs/flavours.md)."""
    reg, certs = tls_registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    layers = [Layer(files={"data": os.urandom(20_000)})]
    built = imagebuild.build_image(tmp_path / f"i-{uuid.uuid4().hex[:6]}.tar", layers,
                                   name="tls:1")
    reg.copy_in(built.path, "test/tls:1", creds=("alice", "s3cret"),
                cert_dir=str(certs / reg.address))
    ref = f"{reg.address}/test/tls:1"
    try:
        # Not trusted through the default certs.d: the certificate is refused.
        with pytest.raises(errors.Error, match="certificate"):
            client.pull(ref, auth=Auth("alice", "s3cret"))
        r = subprocess.run([sys.executable, "-c", TLS_SCRIPT, env.address, env.namespace,
                            str(env.bundles), ref, str(certs), DEFAULT_CERTS_DIR],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout.splitlines()[-1])
    finally:
        for image in client.images():
            client.remove_image(image.name)
    assert out["pull_wrong"][0] == "Unauthorized", out
    assert out["login_wrong"][0] == "Unauthorized", out
    assert out["login"] == ["ok", "Login Succeeded"], out
    assert out["pulled"] == ref and out["pushed_same_digest"] is True, out
    if pylibctrd.versions().flavour == "v26":
        assert out["back_to_default"] == ["ok", None], out
        assert out["pull_after"][0] != "ok" and "certificate" in out["pull_after"][1], out
    else:
        assert out["back_to_default"][0] == "Conflict", out
        assert "once per process" in out["back_to_default"][1], out
        assert out["pull_after"] == ["ok", ref], out
    # insecure-registries: no certificate check (and no certs.d) for that host.
    client.configure_registry({"insecure-registries": [reg.address]})
    try:
        assert client.pull(ref, auth=Auth("alice", "s3cret")).name == ref
    finally:
        client.remove_image(ref)


def test_insecure_registry_off_loopback_over_plain_http(env: Env, tmp_path: Path) -> None:
    """A plain-HTTP registry on a veth address (10.x: not loopback, which
    Moby always treats as insecure): refused without `insecure-registries`
    (Moby speaks HTTPS to it), pulled with the key given to
    `Client.connect(registry=...)`, by address and by CIDR."""
    layers = [Layer(files={"data": os.urandom(20_000)})]
    built = imagebuild.build_image(tmp_path / f"i-{uuid.uuid4().hex[:6]}.tar", layers,
                                   name="plain:1")
    with VethNetns() as ns, Registry(tmp_path / "reg", host=ns.ns_ip, port=5000,
                                     netns=ns.name) as reg:
        reg.copy_in(built.path, "test/plain:1")
        ref = f"{reg.address}/test/plain:1"
        with env.connect() as client:
            with pytest.raises(errors.Error, match="HTTP response to HTTPS client"):
                client.pull(ref)
            with pytest.raises(errors.NotFound):
                client.get_image(ref)  # nothing half-stored
        for insecure in (reg.address, f"{ns.ns_ip.rsplit('.', 1)[0]}.0/24"):
            with pylibctrd.Client.connect(env.address, namespace=env.namespace,
                                          state_dir=str(env.bundles),
                                          registry={"insecure-registries": [insecure]}) as client:
                try:
                    assert client.pull(ref).name == ref
                    assert ref in [i.name for i in client.images()]
                finally:
                    client.remove_image(ref)
        # The CLI: dockerd's --insecure-registry flag.
        cli = [sys.executable, "-m", "pylibctrd", "--address", env.address, "--namespace",
               env.namespace, "--state-dir", str(env.bundles)]
        r = subprocess.run([*cli, "pull", "-q", ref], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "HTTP response to HTTPS client" in r.stderr, r.stderr
        try:
            r = subprocess.run([*cli, "--insecure-registry", reg.address, "pull", "-q", ref],
                               capture_output=True, text=True, timeout=120)
            assert (r.returncode, r.stdout) == (0, ref + "\n"), r.stderr
        finally:
            subprocess.run([*cli, "rmi", ref], capture_output=True, timeout=60)
    with pytest.raises(errors.InvalidParameter):
        pylibctrd.Client.connect(env.address, namespace=env.namespace,
                                 registry={"registry-mirrors": ["ftp://mirror"]})


MIRROR_SCRIPT = r'''
import json, os, sys
import pylibctrd
from pylibctrd import errors
from pylibctrd.testing import Registry

address, namespace, state_dir, workdir, archive = sys.argv[1:]
out = {}
with Registry(os.path.join(workdir, "mirror")) as mirror:
    mirror.copy_in(archive, "library/mirrored:1")
    with pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir, timeout=10,
                                  registry={"registry-mirrors": [f"http://{mirror.address}"]}) as c:
        try:
            img = c.pull("mirrored:1")
            out["pulled"] = img.name
            out["images"] = [i.name for i in c.images() if "mirrored" in i.name]
        finally:
            for i in c.images():
                if "mirrored" in i.name:
                    c.remove_image(i.name)
        mirror.stop()
        try:
            c.pull("mirrored:1")
            out["without_mirror"] = "pulled"
        except errors.Error as e:
            out["without_mirror"] = type(e).__name__
        out["left"] = [i.name for i in c.images() if "mirrored" in i.name]
print(json.dumps(out))
'''


def test_registry_mirror_serves_docker_hub_while_it_is_unreachable(env: Env,
                                                                   tmp_path: Path) -> None:
    """`registry-mirrors` (Docker Hub's mirrors, as in dockerd): a mirror on
    127.0.0.1 serves `mirrored:1` (docker.io/library/mirrored:1). The client
    runs in a network namespace of the test's own with only a loopback, so
    Docker Hub cannot be reached (nothing leaves this machine): the image can
    only have come from the mirror, and once the mirror is gone the same pull
    fails."""
    layers = [Layer(files={"data": os.urandom(20_000)})]
    built = imagebuild.build_image(tmp_path / f"m-{uuid.uuid4().hex[:6]}.tar", layers,
                                   name="mirrored:1")
    netns = f"pylibctrd-mirror-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True, timeout=10)
        r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", MIRROR_SCRIPT,
                            env.address, env.namespace, str(env.bundles), str(tmp_path),
                            str(built.path)], capture_output=True, text=True, timeout=180)
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["pulled"] == "mirrored:1"
    assert out["images"] == ["mirrored:1"]
    assert out["without_mirror"] == "Unavailable"
    assert out["left"] == []
