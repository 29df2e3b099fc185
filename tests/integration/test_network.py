"""Networking through CNI with the real plugins, real iptables and real
traffic on this machine only: published ports (TCP from 127.0.0.1 and the
host's own address, UDP), user networks with names and aliases, the modes
host, none and container:<id>, and that removal leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import pylibctrd
from pylibctrd import aio, errors, imagebuild, stdio
from pylibctrd.testing import ContainerFactory, Env

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/bridge") or os.geteuid() != 0,
    reason="needs root and Debian's containernetworking-plugins")

SUBNET = "10.251.{}.0/24"


def run(ctr: pylibctrd.Container, timeout: float = 30) -> tuple[int, str]:
    cap = stdio.Capture()
    task = ctr.new_task(attach_stdio=cap)
    task.start()
    info = task.wait(timeout)
    assert cap.wait(10)
    task.delete()
    return info.exit_code, (cap.stdout + cap.stderr).decode(errors="replace")


def started(ctr: pylibctrd.Container) -> pylibctrd.Task:
    task = ctr.new_task()
    task.start()
    return task


def fetch(url: str, timeout: float = 15) -> str:
    """GET url from the host, retrying until the server in the container answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def host_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True,
                         text=True, check=True).stdout.split()
    return out[out.index("src") + 1]


def httpd(make_container: ContainerFactory, **kw: Any) -> tuple[pylibctrd.Container, pylibctrd.Task]:
    ctr = make_container(["httpd", "-f", "-p", "80", "-h", "/etc"], **kw)
    return ctr, started(ctr)


def net_dir(client: pylibctrd.Client) -> Path:
    return Path(client.state_dir + "-network")


def assert_nothing_left(client: pylibctrd.Client, id: str, ips: list[str],
                        subnets: list[str] = ()) -> None:  # type: ignore[assignment]
    state = net_dir(client)
    assert not (state / "containers" / f"{id}.json").exists()
    assert not (state / "files" / id).exists()
    named = {json.loads(p.read_text()).get("netns") for p in (state / "containers").glob("*.json")}
    assert {str(p) for p in (state / "netns").iterdir()} <= named, "a namespace nothing names"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert f"/files/{id}/" not in mounts
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    for needle in [f'"{id}"', *(f"{ip}/" for ip in ips), *(f"{ip}:" for ip in ips), *subnets]:
        assert needle not in rules, f"iptables rule naming {needle} left:\n{rules}"
    leases = [p.name for p in (state / "ipam").rglob("*") if p.is_file()
              and p.name != "lock" and not p.name.startswith("last_reserved_ip")]
    assert not [p for p in leases if p in ips], leases
    cached = os.listdir("/var/lib/cni/results") if os.path.isdir("/var/lib/cni/results") else []
    assert not [c for c in cached if f"-{id}-" in c], cached


@pytest.fixture(scope="module", autouse=True)
def default_bridge_removed(env: Env) -> Iterator[None]:
    """The default network goes when the module is done (its bridge too)."""
    yield
    with env.connect() as client, contextlib.suppress(errors.NotFound):
        client.remove_network("bridge")
    assert subprocess.run(["ip", "link", "show", "pylibctrd0"], capture_output=True).returncode


@pytest.fixture
def network(client: pylibctrd.Client,
            make_container: ContainerFactory) -> Iterator[pylibctrd.Network]:
    """A user network, removed after the test's containers."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    nw = client.create_network(name, subnet=SUBNET.format(40), labels={"test": "yes"})
    yield nw
    make_container.cleanup()  # the containers on it first (cleaning twice is fine)
    with contextlib.suppress(errors.NotFound):
        client.remove_network(name)
    assert subprocess.run(["ip", "link", "show", nw.bridge], capture_output=True).returncode != 0


def veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_published_port_answers_at_localhost_and_at_the_hosts_address(
        client: pylibctrd.Client, make_container: ContainerFactory) -> None:
    before = veths()
    ctr, task = httpd(make_container, ports=["18080:80"], hostname="web")
    assert len(veths() - before) == 1  # the container's host side
    [ep] = client.endpoints(ctr.id)
    assert ep.network == "bridge" and ep.ports == [pylibctrd.PortBinding("0.0.0.0", 18080, 80, "tcp")]
    assert ep.ip and ep.mac and ep.gateway
    assert fetch("http://127.0.0.1:18080/hostname") == "web\n"
    assert fetch(f"http://{host_address()}:18080/hostname") == "web\n"
    task.force_delete()
    ctr.delete()
    assert_nothing_left(client, ctr.id, [ep.ip])
    assert veths() == before


def test_random_host_port(client: pylibctrd.Client, make_container: ContainerFactory) -> None:
    ctr, _ = httpd(make_container, ports=[80])
    [ep] = client.endpoints(ctr.id)
    [binding] = ep.ports
    assert binding.container_port == 80 and 1024 < binding.host_port < 65536
    assert fetch(f"http://127.0.0.1:{binding.host_port}/hostname") == ctr.id[:12] + "\n"


def test_containers_on_a_user_network_talk_by_name_and_alias(
        client: pylibctrd.Client, make_container: ContainerFactory,
        network: pylibctrd.Network) -> None:
    server, _ = httpd(make_container, network=network.name, network_aliases=["web"])
    [ep] = client.endpoints(server.id)
    for host in (server.id, "web", ep.ip):
        code, out = run(make_container(
            ["timeout", "10", "wget", "-q", "-O", "-", f"http://{host}/hostname"],
            network=network.name))
        assert code == 0 and out == server.id[:12] + "\n", out
    assert ep.aliases == ["web"] and ep.ip.startswith("10.251.40.")
    with pytest.raises(errors.Conflict):
        client.remove_network(network.name)


def test_a_container_reaches_the_gateway(make_container: ContainerFactory,
                                         network: pylibctrd.Network) -> None:
    code, out = run(make_container(["ping", "-c", "1", "-W", "3", network.gateway],
                                   network=network.name))
    assert code == 0, out


def test_internal_network_has_no_way_out(client: pylibctrd.Client,
                                        make_container: ContainerFactory) -> None:
    """internal=True: the bridge is no gateway (no default route, no
    masquerading); its members still reach each other."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    nw = client.create_network(name, subnet=SUBNET.format(42), internal=True)
    try:
        server, _ = httpd(make_container, network=name)
        code, out = run(make_container(["sh", "-c", "ip route; timeout 10 wget -q -O -"
                                        f" http://{server.id}/hostname"], network=name))
        assert code == 0 and "default" not in out and server.id[:12] + "\n" in out, out
        code, out = run(make_container(["ping", "-c", "1", "-W", "2", host_address()],
                                       network=name))
        assert code != 0 and "unreachable" in out, out
    finally:
        make_container.cleanup()
        client.remove_network(name)
    assert subprocess.run(["ip", "link", "show", nw.bridge], capture_output=True).returncode


def test_none_has_only_loopback(make_container: ContainerFactory) -> None:
    code, out = run(make_container(["ip", "-o", "link"], network="none"))
    assert code == 0 and [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    assert "UP" in out


def test_host_sees_the_hosts_interfaces(make_container: ContainerFactory) -> None:
    code, out = run(make_container(["ip", "-o", "link"], network="host"))
    host = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert code == 0 and "eth0" in out and len(out.splitlines()) == len(host.splitlines())


def test_container_mode_shares_the_namespace(client: pylibctrd.Client,
                                              make_container: ContainerFactory) -> None:
    server, _ = httpd(make_container, network="bridge")
    code, out = run(make_container(["timeout", "10", "wget", "-q", "-O", "-",
                                    "http://127.0.0.1/hostname"], network=f"container:{server.id}"))
    assert code == 0 and out == server.id[:12] + "\n", out


def test_dns_and_extra_hosts_go_into_the_files(make_container: ContainerFactory) -> None:
    code, out = run(make_container(["cat", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"],
                                   network="bridge", dns=["192.0.2.53"], hostname="named",
                                   extra_hosts={"db": "192.0.2.7"}))
    assert code == 0 and "nameserver 192.0.2.53" in out and "192.0.2.7\tdb" in out
    assert out.endswith("named\n")
    # Without dns: the host's resolvers minus the loopback ones, and minus
    # IPv6 ones (networks are IPv4): dockerd's rule for a bridge network,
    # Moby's resolvconf.FilterResolvDNS.
    code, out = run(make_container(["cat", "/etc/resolv.conf"], network="bridge"))
    host = [line.split()[1] for line in Path("/etc/resolv.conf").read_text().splitlines()
            if line.startswith("nameserver") and len(line.split()) > 1]
    got = [line.split()[1] for line in out.splitlines() if line.startswith("nameserver")]
    assert code == 0 and not [ns for ns in got if ns.startswith("127.") or ns == "::1"], out
    assert [ns for ns in host if not ns.startswith("127.") and ":" not in ns] == \
        [ns for ns in got if ns in host], (host, out)


def test_udp_publish(client: pylibctrd.Client, make_container: ContainerFactory,
                     tmp_path: Path) -> None:
    """A UDP echo server (the host's python3, its /usr mounted read-only into
    a busybox rootfs) on a published UDP port."""
    rootfs = pylibctrd.busybox_rootfs(tmp_path / "rootfs")
    for d in ("usr", "lib", "lib64"):
        (rootfs / d).mkdir(exist_ok=True)
    server = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('0.0.0.0', 5353))\nwhile True:\n d, a = s.recvfrom(100)\n"
              " s.sendto(d.upper(), a)\n")
    spec = pylibctrd.container_spec(rootfs, ["/usr/bin/python3", "-c", server],
                                    ports=["127.0.0.1::5353/udp"])
    spec["mounts"] += [{"destination": f"/{d}", "type": "bind", "source": os.path.realpath(f"/{d}"),
                        "options": ["rbind", "ro"]} for d in ("usr", "lib", "lib64")]
    id = f"t-{uuid.uuid4().hex[:12]}"
    make_container.made.append(id)
    ctr = client.new_container(id, spec)
    started(ctr)
    [binding] = client.endpoints(ctr.id)[0].ports
    assert binding.proto == "udp" and binding.host_ip == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(40):
            s.sendto(b"ping", ("127.0.0.1", binding.host_port))
            with contextlib.suppress(TimeoutError):
                assert s.recv(100) == b"PING"
                break
        else:
            pytest.fail("no UDP answer through the published port")


def test_connect_and_disconnect(client: pylibctrd.Client, make_container: ContainerFactory,
                                network: pylibctrd.Network) -> None:
    ctr = make_container(["sleep", "60"], network="none")
    task = started(ctr)
    ep = client.connect_network(ctr.id, network.name, aliases=["late"])
    assert ep.ip.startswith("10.251.40.") and ep.interface == "eth0"
    with pytest.raises(errors.Conflict):
        client.connect_network(ctr.id, network.name)
    proc = task.exec("ip", pylibctrd.process_spec(ctr_spec(client, ctr.id), ["ip", "-o", "addr"]),
                     attach_stdio=(cap := stdio.Capture()))
    proc.wait(10)
    assert cap.wait(10) and ep.ip in cap.stdout.decode()
    proc.delete()
    client.disconnect_network(ctr.id, network.name)
    assert client.endpoints(ctr.id) == []
    with pytest.raises(errors.NotFound):
        client.disconnect_network(ctr.id, network.name)
    client.remove_network(network.name)  # nobody on it any more


def ctr_spec(client: pylibctrd.Client, id: str) -> dict[str, Any]:
    spec = next(r.spec for r in client.list_containers() if r.id == id)
    assert spec is not None
    return spec


def test_host_port_in_use_is_a_conflict_with_nothing_set_up(
        client: pylibctrd.Client, make_container: ContainerFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = set(os.listdir(net_dir(client) / "netns")) if (net_dir(client) / "netns").exists() else set()
        with pytest.raises(errors.Conflict, match="port is already allocated"):
            make_container(["true"], ports=[f"{port}:80"])
    assert not [r for r in client.list_containers() if r.id == make_container.made[-1]]
    assert set(os.listdir(net_dir(client) / "netns")) == before
    assert_nothing_left(client, make_container.made[-1], [])
    # Two containers on one host port: portmap would not notice either.
    make_container(["true"], ports=["18181:80"])
    with pytest.raises(errors.Conflict):
        make_container(["true"], ports=["18181:80"])


@pytest.mark.parametrize("ports", [["x"], ["70000"], ["80/sctp"], ["1.2.3:80:80"]])
def test_invalid_port_spec(make_container: ContainerFactory, ports: list[str]) -> None:
    with pytest.raises(errors.InvalidParameter):
        make_container(["true"], ports=ports)


def test_unknown_network_and_bad_names(client: pylibctrd.Client,
                                       make_container: ContainerFactory) -> None:
    with pytest.raises(errors.NotFound):
        make_container(["true"], network="no-such-network")
    with pytest.raises(errors.NotFound):
        client.remove_network("no-such-network")
    for bad in ("../x", "x" * 300, "a/b", ""):
        with pytest.raises(errors.InvalidParameter):
            client.create_network(bad)
        with pytest.raises(errors.InvalidParameter):
            make_container(["true"], network=bad or "-")
    assert not list((net_dir(client) / "networks").glob("*x*"))
    assert not (net_dir(client).parent / "x.json").exists()


def test_overlapping_subnets_are_refused(client: pylibctrd.Client,
                                         network: pylibctrd.Network) -> None:
    with pytest.raises(errors.InvalidParameter, match="overlaps"):
        client.create_network("t-overlap", subnet="10.251.40.128/25")
    dev = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True,
                         text=True).stdout.split("dev")[1].split()[0]
    route = subprocess.run(["ip", "-4", "-o", "route", "show", "scope", "link", "dev", dev],
                           capture_output=True, text=True).stdout.split()[0]
    with pytest.raises(errors.InvalidParameter, match="route"):
        client.create_network("t-overlap", subnet=route)
    with pytest.raises(errors.Conflict):
        client.create_network(network.name)
    assert [n.name for n in client.networks()].count("t-overlap") == 0


def test_delete_behind_the_librarys_back_then_cleanup(client: pylibctrd.Client, env: Env,
                                                      make_container: ContainerFactory) -> None:
    """A container removed without the library (as after a crash, by ctr):
    cleanup_networks() tears its setup down."""
    ctr = make_container(["true"], network="bridge")
    [ep] = client.endpoints(ctr.id)
    env.ctr("containers", "rm", ctr.id)
    assert client.cleanup_networks() == [ctr.id]
    assert_nothing_left(client, ctr.id, [ep.ip])


def test_aio_face(env: Env) -> None:
    async def main() -> None:
        async with await aio.Client.connect(env.address, namespace=env.namespace,
                                            state_dir=env.bundles) as c:
            nw = await c.create_network("t-aio", internal=True)
            assert nw.internal and nw.name in [n.name for n in await c.networks()]
            await c.remove_network("t-aio")
            with pytest.raises(errors.NotFound):
                await c.endpoints("t-none")

    asyncio.run(main())


def test_pytest_plugin_publishes_and_tells_the_host_port(
        make_container: ContainerFactory) -> None:
    ctr, _ = httpd(make_container, ports=[80])
    port = ctr.host_port(80)
    assert fetch(f"http://127.0.0.1:{port}/hostname") == ctr.id[:12] + "\n"
    with pytest.raises(errors.NotFound):
        ctr.host_port(81)


def test_cli(env: Env, client: pylibctrd.Client) -> None:
    import sys
    base = [sys.executable, "-m", "pylibctrd", "--address", env.address, "--namespace",
            env.namespace, "--state-dir", str(env.bundles)]

    def cli(*args: str, code: int = 0) -> str:
        r = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        return r.stdout + (r.stderr if code else "")

    name, id, peer = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:12]}", f"t-{uuid.uuid4().hex[:12]}"
    try:
        assert cli("network", "create", "--subnet", SUBNET.format(41), "--label", "a=b", name) == name + "\n"
        assert name in cli("network", "ls")
        assert cli("run", "-d", "--name", id, "--network", name, "--network-alias", "www",
                   "-p", "127.0.0.1::80", "--hostname", "clihost", "--rootfs", str(env.rootfs),
                   "httpd", "-f", "-p", "80", "-h", "/etc") == id + "\n"
        [line] = cli("port", id).splitlines()
        assert line.startswith("80/tcp -> 127.0.0.1:")
        host_port = int(line.rsplit(":", 1)[1])
        assert fetch(f"http://127.0.0.1:{host_port}/hostname") == "clihost\n"
        assert cli("port", id, "80") == f"127.0.0.1:{host_port}\n"
        assert f"127.0.0.1:{host_port}->80/tcp" in cli("ps")
        out = cli("run", "--rm", "--name", peer, "--network", name, "--rootfs", str(env.rootfs),
                  "timeout", "10", "wget", "-q", "-O", "-", "http://www/hostname")
        assert out == "clihost\n"
        [inspected] = json.loads(cli("network", "inspect", name))
        assert inspected["labels"] == {"a": "b"} and list(inspected["containers"]) == [id]
        assert "active endpoints" in cli("network", "rm", name, code=1)
        cli("run", "--rm", "--rootfs", str(env.rootfs), "-p", "1:2:3:4", "true", code=125)
    finally:
        subprocess.run([*base, "rm", "-f", id], capture_output=True)
    assert cli("network", "rm", name) == name + "\n"
    assert_nothing_left(client, id, [])


def test_crash_then_rm_leaves_nothing(env: Env, client: pylibctrd.Client) -> None:
    """A process that dies with a container on a network (no cleanup ran):
    removing the container from another process tears everything down."""
    import sys
    id = f"t-{uuid.uuid4().hex[:12]}"
    script = f"""
import os, pylibctrd
c = pylibctrd.Client.connect({env.address!r}, namespace={env.namespace!r}, state_dir={str(env.bundles)!r})
spec = pylibctrd.container_spec({str(env.rootfs)!r}, ["sleep", "60"], ports=["127.0.0.1::80"])
c.new_container({id!r}, spec).new_task().start()
os._exit(3)
"""
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 3
    try:
        [ep] = client.endpoints(id)
        assert ep.ports[0].host_port
    finally:
        ctr = client.load_container(id)
        ctr.task().force_delete()
        ctr.delete()
    assert_nothing_left(client, id, [ep.ip])


@pytest.fixture
def exposing_image(tmp_path: Path, client: pylibctrd.Client,
                   make_container: ContainerFactory) -> Iterator[pylibctrd.Image]:
    """busybox whose config exposes 80/tcp, 8081/tcp and 5353/udp (as a
    Dockerfile's EXPOSE writes them) and runs httpd on 80; removed afterwards."""
    name = f"exposing-{uuid.uuid4().hex[:8]}:1"
    archive = imagebuild.busybox_image(
        tmp_path / "exposing.tar", name=name,
        config={"ExposedPorts": {"80/tcp": {}, "8081/tcp": {}, "5353/udp": {}},
                "Cmd": ["httpd", "-f", "-p", "80", "-h", "/etc"]}).path
    [image] = client.import_image(archive)
    yield image
    make_container.cleanup()  # the containers of the image first (cleaning twice is fine)
    with contextlib.suppress(errors.NotFound):
        client.remove_image(name)


def test_publish_all_exposed_ports(client: pylibctrd.Client, make_container: ContainerFactory,
                                   exposing_image: pylibctrd.Image) -> None:
    """docker run -P through the API: every ExposedPorts entry on a random
    host port, except one a `ports` entry publishes already."""
    ctr = make_container(None, image=exposing_image, publish_all=True,
                         ports=["127.0.0.1::8081"], hostname="exposed")
    started(ctr)
    [ep] = client.endpoints(ctr.id)
    bindings = {(p.container_port, p.proto): p for p in ep.ports}
    assert sorted(bindings) == [(80, "tcp"), (5353, "udp"), (8081, "tcp")], ep.ports
    assert bindings[8081, "tcp"].host_ip == "127.0.0.1"
    assert all(1024 < p.host_port < 65536 for p in ep.ports)
    assert fetch(f"http://127.0.0.1:{bindings[80, 'tcp'].host_port}/hostname") == "exposed\n"
    with pytest.raises(errors.InvalidParameter, match="needs the image"):
        pylibctrd.container_spec("/nonexistent", ["true"], publish_all=True)


def test_cli_publish_all(env: Env, client: pylibctrd.Client,
                         exposing_image: pylibctrd.Image) -> None:
    import sys
    base = [sys.executable, "-m", "pylibctrd", "--address", env.address, "--namespace",
            env.namespace, "--state-dir", str(env.bundles)]
    id = f"t-{uuid.uuid4().hex[:12]}"
    try:
        r = subprocess.run([*base, "run", "-d", "--name", id, "-P", "--hostname", "clip",
                            exposing_image.name], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = subprocess.run([*base, "port", id], capture_output=True, text=True,
                               timeout=60, check=True).stdout.splitlines()
        ports = dict(line.split(" -> ") for line in lines)
        assert sorted(ports) == ["5353/udp", "80/tcp", "8081/tcp"], lines
        host_port = int(ports["80/tcp"].rsplit(":", 1)[1])
        assert fetch(f"http://127.0.0.1:{host_port}/hostname") == "clip\n"
        ps = subprocess.run([*base, "ps"], capture_output=True, text=True, timeout=60).stdout
        assert "->80/tcp" in ps and "->5353/udp" in ps
    finally:
        subprocess.run([*base, "rm", "-f", id], capture_output=True, timeout=60)
    assert_nothing_left(client, id, [])
