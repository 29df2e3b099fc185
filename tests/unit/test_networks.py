"""The network request a spec carries (root-free: no call into Go)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import pylibctrd
from pylibctrd import PortBinding, networks


def test_port_specs_are_dockers_syntax() -> None:
    assert networks.port_spec(80) == "80"
    assert networks.port_spec("127.0.0.1::53/udp") == "127.0.0.1::53/udp"
    assert networks.port_spec(PortBinding("0.0.0.0", 0, 80, "tcp")) == "0.0.0.0::80/tcp"
    assert networks.port_spec(PortBinding("127.0.0.1", 8080, 80, "udp")) == "127.0.0.1:8080:80/udp"
    for bad in (True, 1.5, None):
        with pytest.raises(TypeError):
            networks.port_spec(bad)  # type: ignore[arg-type]


def test_set_network_writes_the_annotation() -> None:
    spec: dict[str, object] = {}
    networks.set_network(spec, "web", ports=[80], aliases=["a"], hostname="h",
                         extra_hosts={"db": "192.0.2.1"}, dns=["192.0.2.53"])
    assert json.loads(spec["annotations"][networks.ANNOTATION]) == {  # type: ignore[index]
        "network": "web", "ports": ["80"], "aliases": ["a"], "hostname": "h",
        "extra_hosts": ["db:192.0.2.1"], "dns": ["192.0.2.53"]}
    assert spec["hostname"] == "h"
    assert networks.requested(spec) == json.loads(spec["annotations"][networks.ANNOTATION])  # type: ignore[index]
    assert networks.requested({}) is None
    with pytest.raises(TypeError):
        networks.request("web", aliases="a")


def test_container_spec_asks_only_when_told() -> None:
    from pylibctrd.spec import container_spec
    from unittest import mock
    base: dict[str, dict[str, str]] = {"process": {}, "linux": {}, "annotations": {}}
    with mock.patch("pylibctrd.spec.default_spec", lambda: json.loads(json.dumps(base))):
        assert networks.requested(container_spec("/r", ["true"])) is None
        assert networks.requested(container_spec("/r", ["true"], ports=[80]))["network"] == "bridge"  # type: ignore[index]
        assert networks.requested(container_spec("/r", ["true"], network="none")) == {"network": "none"}


def test_exposed_ports_are_what_publish_all_adds() -> None:
    config: dict[str, Any] = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8080": {}, "443/tcp": {}}}
    assert networks.exposed_ports(config) == ["53/udp", "80/tcp", "443/tcp", "8080/tcp"]
    # Ports published explicitly keep their binding (docker's -p wins over -P).
    assert networks.exposed_ports(config, ["127.0.0.1:8000:80", 443, "[::1]::53/udp"]) == [
        "8080/tcp"]
    assert networks.exposed_ports(config, [pylibctrd.PortBinding("0.0.0.0", 0, 8080, "tcp")]) == [
        "53/udp", "80/tcp", "443/tcp"]
    assert networks.exposed_ports({}) == []
    with pytest.raises(pylibctrd.errors.InvalidParameter):
        networks.exposed_ports({"ExposedPorts": ["80/tcp"]})
