"""CPU per `version` call, client side only, against go/cmd/fakectrd (a
stand-in containerd that answers health, version and an idle event stream):
pylibctrd sync and asyncio (64 in flight on one loop) next to gobench
(plain and locked goroutines), interleaved in rounds. No real containerd
runs, so this needs neither root nor the shared machine's daemon, and the
server's own CPU is small and reported apart.

    python -m benchmarks.percall [--rounds 5] [--n 3000] [--only aio|sync]

For each peer: wall us per call, and CPU us per call of the loop's (or the
calling) Python thread, of the rest of the client process (Go's threads) and
of the fake server, and the client process's context switches per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pylibctrd
from pylibctrd import aio

from .peers import ROOT, Setup, build_gobench, gobench_argv

FAKE = ROOT / "build" / "fakectrd"


def build() -> None:
    build_gobench()  # at the loaded library's Moby
    subprocess.run(["go", "build", "-o", str(FAKE), "./cmd/fakectrd"], cwd=ROOT / "go", check=True)


def proc_cpu(pid: int) -> float:
    """CPU seconds of a whole process: the sum of its threads' schedstat (ns
    precision; /proc/PID/stat counts in clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def switches(pid: int) -> int:
    """Context switches (voluntary and not) of a whole process's threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def own_cpu() -> float:
    return time.process_time()


class Meter:
    """Wall, this thread's CPU, this process's CPU and the server's CPU over a block."""

    def __init__(self, server: int) -> None:
        self.server = server

    def __call__(self, body: Callable[[], Any], n: int) -> dict[str, float]:
        x0 = switches(os.getpid())
        s0, p0, t0, w0 = proc_cpu(self.server), own_cpu(), time.thread_time(), time.perf_counter()
        body()
        w1, t1, p1, s1 = time.perf_counter(), time.thread_time(), own_cpu(), proc_cpu(self.server)
        x1 = switches(os.getpid())
        return {"wall_us": (w1 - w0) / n * 1e6, "py_thread_us": (t1 - t0) / n * 1e6,
                "go_threads_us": ((p1 - p0) - (t1 - t0)) / n * 1e6,
                "server_us": (s1 - s0) / n * 1e6, "switches": (x1 - x0) / n}


class Go:
    def __init__(self, setup: Setup, ns: str, locked: bool) -> None:
        self.locked = locked
        self.proc = subprocess.Popen(gobench_argv(setup, ns, "go-", "serve", 0), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def run(self, workload: str, n: int, threads: int = 0) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"workload": workload, "n": n, "threads": threads,
                                          "locked": self.locked}) + "\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()

    def measure(self, server: int, workload: str, n: int, threads: int = 0) -> dict[str, float]:
        x0 = switches(self.proc.pid)
        s0, c0, w0 = proc_cpu(server), proc_cpu(self.proc.pid), time.perf_counter()
        self.run(workload, n, threads)
        w1, c1, s1 = time.perf_counter(), proc_cpu(self.proc.pid), proc_cpu(server)
        x1 = switches(self.proc.pid)
        return {"wall_us": (w1 - w0) / n * 1e6, "py_thread_us": 0.0,
                "go_threads_us": (c1 - c0) / n * 1e6, "server_us": (s1 - s0) / n * 1e6,
                "switches": (x1 - x0) / n}

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def _bare_version(client: pylibctrd.Client) -> Callable[[], None]:
    """client.version() without pylibctrd's Python layer: the cffi call into
    the export and freeing its result (what the crossing itself costs)."""
    from pylibctrd import _ffi
    from pylibctrd._ffi import native

    lib, ffi = _ffi.lib(), _ffi.ffi()
    fn, handle, out = lib.pylibctrd_client_version, client._ops.handle, native._new_result()
    free = getattr(lib, "free", lib.pylibctrd_free)  # builds before libc's free was declared

    def bare() -> None:
        if fn(out, handle) != 0:
            raise RuntimeError("version failed")
        if out.data:
            ffi.unpack(out.data, out.len)
            free(out.data)
            out.data = ffi.NULL

    return bare


async def _aio_version(client: aio.Client, n: int, concurrency: int) -> None:
    per = n // concurrency

    async def worker() -> None:
        for _ in range(per):
            await client.version()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=3200)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--only", choices=["aio", "sync"])
    ap.add_argument("--no-go", action="store_true", help="measure pylibctrd only")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", help="also append {name: medians} as one JSON line to this file")
    ap.add_argument("--containerd", action="store_true",
                    help="against a real containerd (started here, as make bench does; needs root "
                    "and the shared lock) instead of fakectrd")
    args = ap.parse_args()
    if not args.no_build:
        build()
    work = Path(tempfile.mkdtemp(prefix="pylibctrd-percall-"))
    daemon: pylibctrd.Daemon | None = None
    if args.containerd:
        daemon = pylibctrd.Daemon.start(work / "root", work / "state")
        sock, server_pid = daemon.address, int((work / "state" / "containerd.pid").read_text())
    else:
        sock = str(work / "fake.sock")
        server = subprocess.Popen([str(FAKE), "-address", sock], stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        server_pid = server.pid
    setup = Setup(sock, str(work / "bundles"), str(work / "rootfs"))
    meter = Meter(server_pid)
    samples: dict[str, list[dict[str, float]]] = {}
    gos: list[Go] = []
    try:
        client = pylibctrd.Client.connect(sock, namespace="percall", state_dir=setup.state_dir)
        if not args.no_go:
            gos = [Go(setup, "percall", False), Go(setup, "percall", True)]
        n, conc = args.n, args.concurrency
        bare = _bare_version(client)
        loop = asyncio.new_event_loop()
        aclient = loop.run_until_complete(aio.Client.connect(sock, namespace="percall",
                                                             state_dir=setup.state_dir))
        for _ in range(3):  # warm up
            client.version()
            loop.run_until_complete(_aio_version(aclient, conc, conc))
        for r in range(args.rounds):
            if args.only != "aio":
                samples.setdefault("sync version: pylibctrd", []).append(
                    meter(lambda: [client.version() for _ in range(n // 4)], n // 4))
                samples.setdefault("sync version: bare cffi call", []).append(
                    meter(lambda: [bare() for _ in range(n // 4)], n // 4))
                for g in gos:
                    samples.setdefault(f"sync version: go{'-locked' if g.locked else ''}", []).append(
                        g.measure(server_pid, "version", n // 4))
            if args.only != "sync":
                samples.setdefault(f"aio version x{conc}: pylibctrd", []).append(
                    meter(lambda: loop.run_until_complete(_aio_version(aclient, n, conc)), n))
                if gos:
                    samples.setdefault(f"aio version x{conc}: go", []).append(
                        gos[0].measure(server_pid, "threads_version", n, conc))
            print(f"round {r + 1}/{args.rounds}", flush=True)
        loop.run_until_complete(aclient.close())
        loop.close()
        client.close()
    finally:
        for g in gos:
            g.close()
        if daemon is not None:
            daemon.stop()
        else:
            server.terminate()
            server.wait(10)
    cols = ["wall_us", "py_thread_us", "go_threads_us", "server_us", "switches"]
    print(f"{'median of ' + str(args.rounds) + ' rounds, us per call':42}" + "".join(f"{c:>15}" for c in cols))
    medians = {name: {c: statistics.median(r[c] for r in rows) for c in cols} for name, rows in samples.items()}
    for name, row in medians.items():
        print(f"{name:42}" + "".join(f"{row[c]:15.1f}" for c in cols))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(medians) + "\n")


if __name__ == "__main__":
    main()
