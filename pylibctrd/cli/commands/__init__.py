"""The commands: one name table, and a module per topic (containers,
images, registry, services, network, monitoring, daemon), as pip's CLI keeps
`commands_dict` and a module per command.

A topic module has `register(add_command)` and the commands' handlers; it
imports the shared modules (`.._common`, `.._spec`, `.._attach`,
`.._records`), never another topic module.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import NamedTuple, Sequence, TypeVar

from . import containers, daemon, images, monitoring, network, registry, services
from .._common import Handler

P = TypeVar("P", bound=argparse.ArgumentParser)


class CommandInfo(NamedTuple):
    topic: ModuleType
    summary: str  # the command's line in `pylibctrd --help`
    aliases: tuple[str, ...] = ()


# In the order `pylibctrd --help` lists them.
COMMANDS: dict[str, CommandInfo] = {
    "run": CommandInfo(containers, "run a command in a new container"),
    "exec": CommandInfo(containers, "run a command in a running container"),
    "ps": CommandInfo(containers, "list containers"),
    "inspect": CommandInfo(containers, "details of containers or images, as JSON"),
    "kill": CommandInfo(containers, "send a signal to containers' main process"),
    "pause": CommandInfo(containers, "pause all processes of containers (cgroup freezer)"),
    "resume": CommandInfo(containers, "resume all processes of containers (cgroup freezer)",
                          ("unpause",)),
    "rm": CommandInfo(containers, "remove containers (their task and bundle dir too)"),
    "logs": CommandInfo(services, "fetch a container's logs"),
    "wait": CommandInfo(services, "wait for containers run with -d to exit; print their codes"),
    "attach": CommandInfo(services, "attach to a container run with -d (through its monitor)"),
    "restart": CommandInfo(services, "restart containers (through their monitor)"),
    "volume": CommandInfo(services, "manage volumes (Moby's local driver)"),
    "network": CommandInfo(network, "manage networks (CNI)"),
    "port": CommandInfo(network, "list a container's published ports"),
    "top": CommandInfo(monitoring, "the processes of a container"),
    "stats": CommandInfo(monitoring, "CPU, memory and pids of containers (cgroup metrics)"),
    "events": CommandInfo(monitoring, "libcontainerd's events, until ^C"),
    "import": CommandInfo(images, "load images from a docker-save or OCI archive (docker load)"),
    "images": CommandInfo(images, "list images"),
    "rmi": CommandInfo(images, "remove images (docker rmi)"),
    "pull": CommandInfo(registry, "pull an image from a registry (docker pull)"),
    "push": CommandInfo(registry, "push an image to a registry (docker push)"),
    "tag": CommandInfo(registry, "give an image another name (docker tag)"),
    "save": CommandInfo(registry, "write images to a tar archive (docker save)"),
    "login": CommandInfo(registry, "log in to a registry (docker login)"),
    "logout": CommandInfo(registry, "log out from a registry (docker logout)"),
    "daemon": CommandInfo(daemon, "run containerd, supervised as dockerd does, until"
                                  " SIGINT/SIGTERM"),
    "version": CommandInfo(daemon, "versions of pylibctrd, Moby, containerd's client and daemon"),
}


def add_commands(sub: argparse._SubParsersAction[P]) -> None:
    """A parser for every command of the table, in its order, each filled in
    by its topic module's `register`; a command no module adds, or one not
    in the table, is a RuntimeError."""
    parsers = {name: sub.add_parser(name, help=info.summary, aliases=list(info.aliases),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
               for name, info in COMMANDS.items()}
    added: set[str] = set()

    def add_command(name: str, func: Handler, *, example: str | Sequence[str],
                    description: str | None = None,
                    usage: str | None = None) -> argparse.ArgumentParser:
        if name not in parsers or name in added:
            raise RuntimeError(f"command {name!r}: not in COMMANDS, or added twice")
        added.add(name)
        p = parsers[name]
        lines = [example] if isinstance(example, str) else list(example)
        p.description = description or COMMANDS[name].summary
        p.epilog = ("example:\n  " if len(lines) == 1 else "examples:\n  ") + "\n  ".join(lines)
        p.usage = usage
        p.set_defaults(func=func)
        return p

    for topic in dict.fromkeys(info.topic for info in COMMANDS.values()):
        topic.register(add_command)
    if missing := sorted(set(parsers) - added):
        raise RuntimeError(f"commands no topic module adds: {missing}")
