"""What run and ps share with the network commands (commands/network.py):
run's network flags and a container's published ports (docs/networking.md)."""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import pylibctrd
from pylibctrd import errors, networks

from ._common import CLIError, EXIT_CLI

def add_run_flags(p: argparse.ArgumentParser) -> None:
    """docker run's network flags."""
    g = p.add_argument_group("network (docs/networking.md)")
    g.add_argument("--network", "--net", metavar="NET",
                   help="bridge (the default network), a network's name, host, none or"
                        " container:ID (default: none of the library's: Moby's spec's private,"
                        " unconfigured namespace; -p alone means bridge)")
    g.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:][HOSTPORT:]PORT[/udp]",
                   help="publish a container port on the host (no HOSTPORT: a random one)")
    g.add_argument("-P", "--publish-all", action="store_true",
                   help="publish the image's exposed ports on random host ports")
    g.add_argument("--hostname", dest="hostname", metavar="NAME", help="the container's hostname")
    g.add_argument("--dns", action="append", metavar="IP", help="a DNS server for resolv.conf")
    g.add_argument("--add-host", action="append", metavar="NAME:IP", help="a line for /etc/hosts")
    g.add_argument("--network-alias", action="append", default=[], metavar="NAME",
                   help="another name for the container on its network")
    g.add_argument("--ip", metavar="IP", help="the container's address on its network")


def apply_run_flags(client: pylibctrd.Client, spec: dict[str, Any], opts: argparse.Namespace,
                    image_ref: str | None) -> None:
    """Ask for the network setup the flags describe (new_container makes it)."""
    ports: list[str] = list(opts.publish)
    if opts.publish_all:
        if image_ref is None:
            raise CLIError("-P needs an IMAGE (its ExposedPorts)", EXIT_CLI)
        ports += networks.exposed_ports(client.get_image(image_ref).config, ports)
    if opts.hostname:
        spec["hostname"] = opts.hostname
    wanted = (opts.network or ports or opts.dns or opts.add_host or opts.network_alias or opts.ip
              or opts.hostname)
    if not wanted:
        return
    networks.set_network(spec, opts.network or networks.BRIDGE, ports=ports,
                         aliases=opts.network_alias, ip=opts.ip, hostname=opts.hostname,
                         dns=opts.dns, extra_hosts=opts.add_host)


def endpoints_of(client: pylibctrd.Client, id: str) -> list[networks.Endpoint]:
    """A container's endpoints; none without a network setup."""
    try:
        return client.endpoints(id)
    except (errors.NotFound, errors.InvalidParameter):
        return []


def ports_column(eps: Sequence[networks.Endpoint]) -> str:
    """docker ps's PORTS: 0.0.0.0:8080->80/tcp, ..."""
    return ", ".join(f"{p.host_ip}:{p.host_port}->{p.container_port}/{p.proto}"
                     for ep in eps for p in ep.ports)
