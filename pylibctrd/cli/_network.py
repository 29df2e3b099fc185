"""`network create|ls|rm|inspect|connect|disconnect|prune`, `port`, and the
network flags of `run` (docs/networking.md)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

import pylibctrd
from pylibctrd import errors, networks

from ._common import CLIError, EXIT_CLI, add_format, each, emit_json, emit_table, message, session

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

NETWORK_EXAMPLE = """\
examples:
  pylibctrd network create --subnet 10.99.0.0/24 backend
  pylibctrd run -d --name db --network backend --network-alias database IMAGE
  pylibctrd network ls
  pylibctrd network rm backend"""


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
        exposed = client.get_image(image_ref).config.get("ExposedPorts") or {}
        ports += [port for port in exposed]  # "80/tcp": a random host port each
    if opts.hostname:
        spec["hostname"] = opts.hostname
    wanted = (opts.network or ports or opts.dns or opts.add_host or opts.network_alias or opts.ip
              or opts.hostname)
    if not wanted:
        return
    networks.set_network(spec, opts.network or networks.BRIDGE, ports=ports,
                         aliases=opts.network_alias, ip=opts.ip, hostname=opts.hostname,
                         dns=opts.dns, extra_hosts=opts.add_host)


def register(sub: Sub) -> None:
    p = sub.add_parser("network", help="manage networks", description="Networks through CNI.",
                       epilog=NETWORK_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="COMMAND")
    verbs.required = True

    c = verbs.add_parser("create", help="create a network")
    c.add_argument("--subnet", metavar="CIDR", help="e.g. 10.99.0.0/24 (default: a free /24)")
    c.add_argument("--gateway", metavar="IP", help="default: the subnet's first address")
    c.add_argument("--internal", action="store_true", help="no route out of the network")
    c.add_argument("--label", action="append", default=[], metavar="K=V")
    c.add_argument("name", metavar="NAME")
    c.set_defaults(func=cmd_create)

    c = verbs.add_parser("ls", aliases=["list"], help="list networks")
    c.add_argument("-q", "--quiet", action="store_true", help="only names")
    add_format(c)
    c.set_defaults(func=cmd_ls)

    c = verbs.add_parser("rm", aliases=["remove"], help="remove networks (and their bridges)")
    c.add_argument("names", nargs="+", metavar="NAME")
    c.set_defaults(func=cmd_rm)

    c = verbs.add_parser("inspect", help="show networks as JSON, with their containers")
    c.add_argument("names", nargs="+", metavar="NAME")
    c.set_defaults(func=cmd_inspect)

    c = verbs.add_parser("connect", help="connect a container to a network")
    c.add_argument("--alias", action="append", default=[], metavar="NAME")
    c.add_argument("--ip", metavar="IP")
    c.add_argument("-p", "--publish", action="append", default=[], metavar="SPEC")
    c.add_argument("network", metavar="NETWORK")
    c.add_argument("id", metavar="CONTAINER")
    c.set_defaults(func=cmd_connect)

    c = verbs.add_parser("disconnect", help="disconnect a container from a network")
    c.add_argument("network", metavar="NETWORK")
    c.add_argument("id", metavar="CONTAINER")
    c.set_defaults(func=cmd_disconnect)

    c = verbs.add_parser("prune", help="tear down the network setups of containers containerd"
                         " no longer has (after a crash)")
    c.set_defaults(func=cmd_prune)

    p = sub.add_parser("port", help="list a container's published ports",
                       description="docker port: PORT/PROTO -> HOST_IP:HOST_PORT",
                       epilog="examples:\n  pylibctrd port web\n  pylibctrd port web 80/tcp",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("id", metavar="ID")
    p.add_argument("port", nargs="?", metavar="PORT[/PROTO]")
    p.set_defaults(func=cmd_port)


def _labels(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f"bad label {item!r}: want K=V", EXIT_CLI)
        out[key] = value
    return out


def cmd_create(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        try:
            nw = client.create_network(opts.name, subnet=opts.subnet, gateway=opts.gateway,
                                       internal=opts.internal, labels=_labels(opts.label))
        except errors.Error as e:
            raise CLIError(message(e)) from e
    print(nw.name)
    return 0


def cmd_ls(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        nets = client.networks()
    if opts.quiet:
        for n in nets:
            print(n.name)
    elif opts.format == "json":
        for n in nets:
            emit_json(dataclasses.asdict(n))
    else:
        emit_table(["NAME", "DRIVER", "SUBNET", "GATEWAY", "INTERNAL", "BRIDGE"],
                   [[n.name, "bridge", n.subnet, n.gateway, str(n.internal).lower(), n.bridge]
                    for n in nets])
    return 0


def cmd_rm(opts: argparse.Namespace) -> int:
    def remove(client: pylibctrd.Client, name: str) -> None:
        client.remove_network(name)
        print(name, flush=True)

    return each(opts, opts.names, remove)


def cmd_inspect(opts: argparse.Namespace) -> int:
    import json
    found: list[dict[str, Any]] = []
    failed = False
    with session(opts) as client:
        nets = {n.name: n for n in client.networks()}
        members: dict[str, dict[str, Any]] = {name: {} for name in nets}
        for record in client.list_containers():
            try:
                eps = client.endpoints(record.id)
            except errors.NotFound:
                continue
            for ep in eps:
                if ep.network in members:
                    members[ep.network][record.id] = dataclasses.asdict(ep)
        for name in opts.names:
            if name not in nets:
                failed = True
                print(f"pylibctrd: Error: network {name} not found", flush=True)
                continue
            found.append({**dataclasses.asdict(nets[name]), "containers": members[name]})
    print(json.dumps(found, indent=4))
    return 1 if failed else 0


def cmd_connect(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        try:
            client.connect_network(opts.id, opts.network, ports=opts.publish, aliases=opts.alias,
                                   ip=opts.ip)
        except errors.Error as e:
            raise CLIError(message(e)) from e
    return 0


def cmd_disconnect(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        try:
            client.disconnect_network(opts.id, opts.network)
        except errors.Error as e:
            raise CLIError(message(e)) from e
    return 0


def cmd_prune(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        for id in client.cleanup_networks():
            print(id)
    return 0


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


def cmd_port(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        if opts.id not in {r.id for r in client.list_containers()}:
            raise CLIError(f"no such container: {opts.id}")
        bindings = [p for ep in endpoints_of(client, opts.id) for p in ep.ports]
    if opts.port:
        number, _, proto = opts.port.partition("/")
        bindings = [p for p in bindings if str(p.container_port) == number
                    and p.proto == (proto or "tcp")]
        if not bindings:
            raise CLIError(f"no public port '{opts.port}' published for {opts.id}")
        for p in bindings:
            print(f"{p.host_ip}:{p.host_port}")
        return 0
    for p in bindings:
        print(p)
    return 0
