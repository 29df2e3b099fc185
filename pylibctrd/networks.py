"""Container networks through CNI (containerd's go-cni and the standard
plugins, in Go): networks, a container's endpoints and published ports, and
the request a container spec carries so that `new_container` sets its
network up (and `Container.delete` tears it down). See docs/networking.md.

The `Client` methods (`create_network`, `networks`, `remove_network`,
`connect_network`, `disconnect_network`, `endpoints`, `cleanup_networks`)
are built here as `_ffi.Op`s, so the sync and the asyncio client share them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

from . import _args, errors
from ._ffi import Op, json_result, lib, no_result, op

# The spec annotation new_container reads (go/core/netsetup.go).
ANNOTATION = "org.pylibctrd.network"
# docker's modes besides a network's name.
HOST, NONE, BRIDGE = "host", "none", "bridge"


@dataclass(frozen=True)
class PortBinding:
    """One published port: the host's address and port to the container's."""

    host_ip: str          # "0.0.0.0": every address of the host
    host_port: int
    container_port: int
    proto: str            # "tcp" or "udp"

    def __str__(self) -> str:  # as `docker port` prints it
        return f"{self.container_port}/{self.proto} -> {self.host_ip}:{self.host_port}"


@dataclass(frozen=True)
class Network:
    """A network: a Linux bridge with its subnet (CNI bridge + host-local)."""

    name: str
    subnet: str
    gateway: str
    internal: bool
    labels: dict[str, str] = field(default_factory=dict)
    bridge: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A container's attachment to a network."""

    network: str
    ip: str
    gateway: str
    mac: str
    ports: list[PortBinding] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    interface: str = ""


Port = Union[int, str, PortBinding]


def port_spec(port: Port) -> str:
    """docker's -p syntax for a port given as an int (the container's port,
    published on a random host port), a string ("8080:80", "127.0.0.1::53/udp")
    or a PortBinding (host_port 0: a random one)."""
    if isinstance(port, bool):
        raise TypeError("a port must be an int, a str or a PortBinding, not bool")
    if isinstance(port, int):
        return str(port)
    if isinstance(port, str):
        return port
    if isinstance(port, PortBinding):
        host_port = str(port.host_port) if port.host_port else ""
        return f"{port.host_ip}:{host_port}:{port.container_port}/{port.proto}"
    raise TypeError(f"a port must be an int, a str or a PortBinding, not {type(port).__name__}")


def exposed_ports(config: Mapping[str, Any], ports: Sequence[Port] = ()) -> list[str]:
    """What docker run's `-P` adds to `ports`: each of the image config's
    `ExposedPorts` ("80/tcp", "53/udp"; a bare "80" is tcp) that `ports`
    does not publish already, as a spec for a random host port, sorted."""
    taken = set()
    for p in ports:
        container = port_spec(p).rsplit(":", 1)[-1]
        number, _, proto = container.partition("/")
        taken.add(f"{number}/{proto or 'tcp'}")
    exposed = config.get("ExposedPorts") or {}
    if not isinstance(exposed, Mapping):
        raise errors.InvalidParameter(f"the image's ExposedPorts is not an object: {exposed!r}")
    wanted = {p if "/" in p else f"{p}/tcp" for p in exposed}
    return sorted(wanted - taken, key=_port_order)


def _port_order(port: str) -> tuple[int, str]:
    first = port.split("/")[0].split("-")[0]
    return (int(first) if first.isdigit() else -1, port)


def _strings(values: Iterable[str] | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of str, not a str")
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{what} must be a list of str, not {type(v).__name__}")
    return out


def request(network: str, *, ports: Sequence[Port] = (), aliases: Sequence[str] = (),
            ip: str | None = None, hostname: str | None = None,
            dns: Sequence[str] | None = None, dns_search: Sequence[str] | None = None,
            extra_hosts: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, Any]:
    """The network request of a container spec (docker run's flags);
    `extra_hosts` as {"name": "ip"} or ["name:ip"]."""
    if not isinstance(network, str):
        raise TypeError(f"network must be str, not {type(network).__name__}")
    hosts = ([f"{k}:{v}" for k, v in extra_hosts.items()] if isinstance(extra_hosts, Mapping)
             else _strings(extra_hosts, "extra_hosts"))
    req: dict[str, Any] = {"network": network, "ports": [port_spec(p) for p in ports],
                           "aliases": _strings(aliases, "aliases"),
                           "dns": _strings(dns, "dns"), "dns_search": _strings(dns_search, "dns_search"),
                           "extra_hosts": hosts}
    if ip is not None:
        req["ip"] = ip
    if hostname is not None:
        req["hostname"] = hostname
    return {k: v for k, v in req.items() if v != []}


def set_network(spec: dict[str, Any], network: str, **options: Any) -> dict[str, Any]:
    """Ask for a network setup in `spec` (in place; returned too): when
    `Client.new_container` gets it, the library makes the container's network
    namespace, attaches it (CNI ADD with its ports and aliases), writes its
    /etc/hosts, /etc/resolv.conf and /etc/hostname, and puts them into the
    spec; `Container.delete` undoes it all. Options as `request()`."""
    req = request(network, **options)
    spec.setdefault("annotations", {})[ANNOTATION] = json.dumps(req, separators=(",", ":"))
    if req.get("hostname") and network not in (HOST,) and not network.startswith("container:"):
        spec["hostname"] = req["hostname"]
    return spec


def requested(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The network request in a spec (e.g. a ContainerRecord's), or None."""
    raw = (spec.get("annotations") or {}).get(ANNOTATION)
    return json.loads(raw) if raw else None


def _network(r: Mapping[str, Any]) -> Network:
    return Network(r["name"], r["subnet"], r["gateway"], bool(r["internal"]),
                   dict(r.get("labels") or {}), r.get("bridge", ""))


def _endpoint(r: Mapping[str, Any]) -> Endpoint:
    ports = [PortBinding(p["host_ip"], int(p["host_port"]), int(p["container_port"]), p["proto"])
             for p in r.get("ports") or []]
    return Endpoint(r["network"], r["ip"], r["gateway"], r["mac"], ports,
                    list(r.get("aliases") or []), r.get("interface", ""))


def create_network_op(client: int, name: str, subnet: str | None, gateway: str | None,
                      internal: bool, labels: Mapping[str, str] | None) -> Op[Network]:
    labels_json = b"" if labels is None else _args.json_object(labels, "labels")
    return op(lambda n, d: _network(json_result(n, d)), lib().pylibctrd_client_create_network,
              client, _args.text(name, "name"), _args.text(subnet or "", "subnet"),
              _args.text(gateway or "", "gateway"), _args.flag(internal, "internal"),
              labels_json, len(labels_json))


def networks_op(client: int) -> Op[list[Network]]:
    return op(lambda n, d: [_network(r) for r in json_result(n, d) or []],
              lib().pylibctrd_client_networks, client)


def remove_network_op(client: int, name: str) -> Op[None]:
    return op(no_result, lib().pylibctrd_client_remove_network, client, _args.text(name, "name"))


def connect_network_op(client: int, container_id: str, network: str, ports: Sequence[Port],
                       aliases: Sequence[str], ip: str | None) -> Op[Endpoint]:
    ports_json = _args.json_bytes([port_spec(p) for p in ports], "ports")
    aliases_json = _args.json_bytes(_strings(aliases, "aliases"), "aliases")
    return op(lambda n, d: _endpoint(json_result(n, d)), lib().pylibctrd_client_connect_network,
              client, _args.text(container_id, "container_id"), _args.text(network, "network"),
              ports_json, len(ports_json), aliases_json, len(aliases_json),
              _args.text(ip or "", "ip"))


def disconnect_network_op(client: int, container_id: str, network: str) -> Op[None]:
    return op(no_result, lib().pylibctrd_client_disconnect_network, client,
              _args.text(container_id, "container_id"), _args.text(network, "network"))


def endpoints_op(client: int, container_id: str) -> Op[list[Endpoint]]:
    return op(lambda n, d: [_endpoint(r) for r in json_result(n, d) or []],
              lib().pylibctrd_client_endpoints, client, _args.text(container_id, "container_id"))


def cleanup_networks_op(client: int) -> Op[list[str]]:
    return op(lambda n, d: list(json_result(n, d) or []), lib().pylibctrd_client_cleanup_networks,
              client)


def host_port_op(client: int, container_id: str, port: int, proto: str) -> Op[int]:
    """The host port that container port `port`/`proto` is published on."""
    _args.uint32(port, "port")
    _args.text(proto, "proto")

    def decode(number: int, data: bytes | None) -> int:
        for ep in (_endpoint(r) for r in json_result(number, data) or []):
            for b in ep.ports:
                if b.container_port == port and b.proto == proto:
                    return b.host_port
        raise errors.NotFound(f"no public port '{port}/{proto}' published for {container_id}")

    return op(decode, lib().pylibctrd_client_endpoints, client,
              _args.text(container_id, "container_id"))
