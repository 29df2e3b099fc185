"""A TLS registry with htpasswd auth off loopback: Debian's docker-registry
inside a network namespace the test makes (a veth pair, 10.x: Moby treats
127.0.0.0/8 as insecure and would skip the certificate checks), its CA made
with openssl and trusted through a certs.d dir (`certs-dir`, so the test
never writes /etc/docker). Also the insecure-registries key."""

from __future__ import annotations

import os
import shutil
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


def test_tls_registry_with_auth_trusted_through_certs_d(
        env: Env, client: pylibctrd.Client, tls_registry: tuple[Registry, Path],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg, certs = tls_registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    layers = [Layer(files={"data": os.urandom(20_000)})]
    built = imagebuild.build_image(tmp_path / f"i-{uuid.uuid4().hex[:6]}.tar", layers,
                                   name="tls:1")
    reg.copy_in(built.path, "test/tls:1", creds=("alice", "s3cret"),
                cert_dir=str(certs / reg.address))
    ref = f"{reg.address}/test/tls:1"
    try:
        # Not trusted yet: the certificate is refused.
        with pytest.raises(errors.Error, match="certificate"):
            client.pull(ref, auth=Auth("alice", "s3cret"))
        client.configure_registry({"certs-dir": str(certs)})
        with pytest.raises(errors.Unauthorized):
            client.pull(ref, auth=Auth("alice", "wrong"))
        with pytest.raises(errors.Unauthorized):
            client.login(Auth("alice", "wrong", server=reg.address))
        assert client.login(Auth("alice", "s3cret", server=reg.address)) == "Login Succeeded"
        img = client.pull(ref)  # credentials from the docker config
        assert img.name == ref
        client.tag(ref, f"{reg.address}/test/tls-pushed:1")
        assert client.push(f"{reg.address}/test/tls-pushed:1") == img.digest
    finally:
        client.configure_registry({"certs-dir": DEFAULT_CERTS_DIR})
        for image in client.images():
            client.remove_image(image.name)
    # insecure-registries: no certificate check (and no certs.d) for that host.
    client.configure_registry({"insecure-registries": [reg.address]})
    try:
        assert client.pull(ref, auth=Auth("alice", "s3cret")).name == ref
    finally:
        client.remove_image(ref)
