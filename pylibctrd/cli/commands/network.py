"""`network create|ls|rm|inspect|connect|disconnect|prune` and `port`
(docs/networking.md). Only the public API: go-cni and Moby's packages do the
work in the library."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Sequence

import pylibctrd
from pylibctrd import errors

from .._common import (
    EXIT_CLI, AddCommand, CLIError, add_ls_rm_inspect, each, emit_listing, message,
    one_call, session,
)
from .._network import endpoints_of

EXAMPLES = ["pylibctrd network create --subnet 10.99.0.0/24 backend",
            "pylibctrd run -d --name db --network backend --network-alias database IMAGE",
            "pylibctrd network ls",
            "pylibctrd network rm backend"]


def register(add_command: AddCommand) -> None:
    p = add_command("network", _needs_verb, description="Networks through CNI.",
                    example=EXAMPLES)
    verbs = p.add_subparsers(dest="verb", metavar="COMMAND")
    verbs.required = True

    c = verbs.add_parser("create", help="create a network")
    c.add_argument("--subnet", metavar="CIDR", help="e.g. 10.99.0.0/24 (default: a free /24)")
    c.add_argument("--gateway", metavar="IP", help="default: the subnet's first address")
    c.add_argument("--internal", action="store_true", help="no route out of the network")
    c.add_argument("--label", action="append", default=[], metavar="K=V")
    c.add_argument("name", metavar="NAME")
    c.set_defaults(func=cmd_create)

    add_ls_rm_inspect(verbs, "networks (with their containers)", ls=cmd_ls, rm=cmd_rm,
                      inspect=cmd_inspect, rm_help="remove networks (and their bridges)")

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

    p = add_command("port", cmd_port, description="docker port: PORT/PROTO -> HOST_IP:HOST_PORT",
                    example=["pylibctrd port web", "pylibctrd port web 80/tcp"])
    p.add_argument("id", metavar="ID")
    p.add_argument("port", nargs="?", metavar="PORT[/PROTO]")


def _needs_verb(opts: argparse.Namespace) -> int:  # the subcommand is required
    raise CLIError("network: a subcommand is needed", EXIT_CLI)


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
    emit_listing(opts, nets, name=lambda n: n.name, record=dataclasses.asdict,
                 headers=["NAME", "DRIVER", "SUBNET", "GATEWAY", "INTERNAL", "BRIDGE"],
                 row=lambda n: [n.name, "bridge", n.subnet, n.gateway, str(n.internal).lower(),
                                n.bridge])
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
    return one_call(opts, lambda client: client.connect_network(
        opts.id, opts.network, ports=opts.publish, aliases=opts.alias, ip=opts.ip))


def cmd_disconnect(opts: argparse.Namespace) -> int:
    return one_call(opts, lambda client: client.disconnect_network(opts.id, opts.network))


def cmd_prune(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        for id in client.cleanup_networks():
            print(id)
    return 0


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
