"""`run` with a published port until the port answers, pylibctrd against
plain go-cni in Go (gobench's publish_run: the nerdctl way with the same
plugins and libcontainerd), interleaved round by round on one containerd.

    .venv/bin/python -m benchmarks.network [ROUNDS] [N]

pylibctrd: container_spec(network=..., ports=[80]) -> new_container (netns,
CNI ADD, files) -> new_task/start -> connect to the host port until it
answers -> kill, wait, task delete, container delete (CNI DEL, netns gone).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import pylibctrd

from .peers import Setup, build_gobench, gobench_argv, run_gobench


def answers(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.001)
    raise TimeoutError(f"port {port} never answered")


def pylibctrd_run(client: pylibctrd.Client, setup: Setup, network: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        id = f"py-net-{uuid.uuid4().hex[:10]}"
        spec = pylibctrd.container_spec(setup.rootfs, ["httpd", "-f", "-p", "80"], network=network,
                                        ports=["127.0.0.1::80"],
                                        cgroups_path=f"/pylibctrd-bench/{id}")
        ctr = client.new_container(id, spec)
        task = ctr.new_task()
        task.start()
        answers(ctr.host_port(80))
        task.kill(signal.SIGKILL)
        task.wait(30)
        task.delete()
        ctr.delete()
        out.append(time.perf_counter_ns() - start)
    return out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    build_gobench()
    work = tempfile.mkdtemp(prefix="pylibctrd-netbench-")
    daemon = pylibctrd.Daemon.start(os.path.join(work, "root"), os.path.join(work, "state"))
    rootfs = str(pylibctrd.busybox_rootfs(os.path.join(work, "rootfs")))
    setup = Setup(daemon.address, os.path.join(work, "bundles"), rootfs)
    ns = f"netbench-{os.getpid()}"
    go: list[int] = []
    py: list[int] = []
    try:
        with pylibctrd.Client.connect(daemon.address, namespace=ns, state_dir=setup.state_dir) as client:
            net = client.create_network("netbench", subnet="10.253.0.0/24")
            pylibctrd_run(client, setup, net.name, 1)  # warm up (bridge made)
            for _ in range(rounds):
                go += run_gobench(gobench_argv(setup, ns, f"go-net-{uuid.uuid4().hex[:6]}-",
                                               "publish_run", n))["ns"]
                py += pylibctrd_run(client, setup, net.name, n)
            client.remove_network(net.name)
    finally:
        daemon.stop()
        subprocess.run(["rm", "-rf", work], check=False)
    gm, pm = statistics.median(go), statistics.median(py)
    print(f"run -p until the port answers, {len(go)} each, medians: go-cni in Go {gm / 1e6:.1f} ms,"
          f" pylibctrd {pm / 1e6:.1f} ms, ratio {pm / gm:.2f}")


if __name__ == "__main__":
    main()
