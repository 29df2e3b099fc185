"""Where exec's time goes: pylibctrd's exec (with each kind of attach_stdio)
against the Go peers, interleaved op by op, and a per-phase timeline.

    python -m benchmarks.exec_timeline ratios [--n 40] [--rounds 3]
    python -m benchmarks.exec_timeline timeline [--n 40]

`ratios` runs exec `echo hi` through pylibctrd with stdio.Capture (what `make
bench` measures), with attach_stdio=None, with aio.Stdio, and through gobench
plain and on a locked thread, taking turns every op (rotating who goes
first), and prints each variant's median per round and over all rounds, and
its ratio to the locked-thread Go peer.

Needs root and containerd; it starts its own (as `make bench` does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import statistics
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pylibctrd
from pylibctrd import DirectIO, EventInfo, EventType, aio, stdio
from pylibctrd.testing import remove_runc_root, sweep

from . import __main__ as bench
from .peers import GoPeer, PylibctrdPeer, Setup


class Variant:
    """One way of running exec; `exec(n)` returns n latencies in ns."""

    name = ""

    def exec(self, n: int) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PyCapture(Variant):
    """pylibctrd with stdio.Capture: the `make bench` workload."""

    name = "py-capture"

    def __init__(self, peer: PylibctrdPeer) -> None:
        self.peer = peer

    def exec(self, n: int) -> list[int]:
        return self.peer.exec(n)


class ThreadCapture(stdio.Capture):
    """stdio.Capture as it was before the native capture: one Python thread
    per stream, each blocked in a Go read on its own (locked) OS thread."""

    def __call__(self, dio: DirectIO) -> DirectIO:
        self.stdin = dio.stdin
        return self._read_in_threads(dio)


class IdleThreadsCapture(stdio.Capture):
    """Native capture, plus two Python threads started in the callback that
    wait in Python (an Event): the cost of starting threads alone."""

    def __call__(self, dio: DirectIO) -> DirectIO:
        self.release = threading.Event()
        self.threads = [threading.Thread(target=self.release.wait, daemon=True) for _ in range(2)]
        for t in self.threads:
            t.start()
        return super().__call__(dio)

    def wait(self, timeout: float | None = None) -> bool:
        ended = super().wait(timeout)
        self.release.set()
        for t in self.threads:
            t.join()
        return ended


class GoBlockedThreadsCapture(stdio.Capture):
    """Native capture, plus two Python threads started in the callback that
    block in a Go call until the output ends (as the old capture threads
    blocked in Go reads), without reading anything themselves."""

    def __call__(self, dio: DirectIO) -> DirectIO:
        super().__call__(dio)
        native = self._native[-1]
        self.threads = [threading.Thread(target=native.wait, args=(10,), daemon=True)
                        for _ in range(2)]
        for t in self.threads:
            t.start()
        return dio

    def wait(self, timeout: float | None = None) -> bool:
        ended = super().wait(timeout)
        for t in self.threads:
            t.join()
        return ended


class PyCaptureKind(Variant):
    """pylibctrd exec with a given Capture class."""

    def __init__(self, peer: PylibctrdPeer, name: str, capture: type[stdio.Capture]) -> None:
        self.peer, self.name, self.capture = peer, name, capture

    def exec(self, n: int) -> list[int]:
        task, process = self.peer._exec_fixture()

        def op(_: int) -> None:
            pid = self.peer.name_()
            cap = self.capture()
            proc = task.exec(pid, process, attach_stdio=cap)
            self.peer.wait_exit(task.id, pid)
            cap.wait(10)
            assert cap.stdout == b"hi\n", cap.stdout
            proc.delete()

        return bench_timed(n, op)


class PyNone(Variant):
    """pylibctrd with attach_stdio=None: output drained in Go, no Python thread."""

    name = "py-none"

    def __init__(self, peer: PylibctrdPeer) -> None:
        self.peer = peer

    def exec(self, n: int) -> list[int]:
        task, process = self.peer._exec_fixture()

        def op(_: int) -> None:
            pid = self.peer.name_()
            proc = task.exec(pid, process)
            self.peer.wait_exit(task.id, pid)
            proc.delete()

        return bench_timed(n, op)


class PyAio(Variant):
    """pylibctrd.aio with aio.Stdio on one event loop kept across ops."""

    name = "py-aio"

    def __init__(self, setup: Setup, namespace: str) -> None:
        self.setup = setup
        self.loop = asyncio.new_event_loop()
        self.seq = 0
        self.client: aio.Client = self.loop.run_until_complete(
            self._connect(setup.address, namespace, setup.state_dir))
        id = f"aio-{os.getpid()}"
        spec = setup.spec(id, ["sleep", "600"])
        self.process = pylibctrd.process_spec(spec, ["echo", "hi"])
        self.ctr, self.task = self.loop.run_until_complete(self._fixture(id, spec))

    @staticmethod
    async def _connect(address: str, namespace: str, state_dir: str) -> aio.Client:
        return await aio.Client.connect(address, namespace=namespace, state_dir=state_dir)

    async def _fixture(self, id: str, spec: dict[str, Any]) -> tuple[aio.Container, aio.Task]:
        ctr = await self.client.new_container(id, spec)
        task = await ctr.new_task()
        await task.start()
        return ctr, task

    async def _op(self) -> None:
        self.seq += 1
        io = aio.Stdio()
        proc = await self.task.exec(f"aio-x{self.seq}", self.process, attach_stdio=io)
        assert io.stdout is not None
        out = await io.stdout.readall()
        assert out == b"hi\n", out
        await proc.wait(30)
        await proc.delete()

    def exec(self, n: int) -> list[int]:
        return bench_timed(n, lambda _: self.loop.run_until_complete(self._op()))

    def close(self) -> None:
        async def down() -> None:
            await self.task.force_delete()
            await self.ctr.delete()
            await self.client.close()

        try:
            self.loop.run_until_complete(down())
        finally:
            self.loop.close()


class Go(Variant):
    def __init__(self, peer: GoPeer) -> None:
        self.peer = peer
        self.name = peer.name

    def exec(self, n: int) -> list[int]:
        return self.peer.exec(n)

    def close(self) -> None:
        self.peer.close()


def bench_timed(n: int, op: Callable[[int], object]) -> list[int]:
    from .peers import timed

    return timed(n, op)


def _bootstrap(values: list[float], draws: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the median of values."""
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return meds[int(0.025 * draws)], meds[int(0.975 * draws)]


def ratios(setup: Setup, n: int, rounds: int, only: list[str]) -> None:
    ns = f"execgap-{os.getpid()}"
    py = PylibctrdPeer(setup, f"{ns}-py")
    variants: list[Variant] = []
    try:
        everything: dict[str, Callable[[], Variant]] = {
            "py-capture": lambda: PyCapture(py),
            "py-threads": lambda: PyCaptureKind(py, "py-threads", ThreadCapture),
            "py-none": lambda: PyNone(py),
            "py-idle-threads": lambda: PyCaptureKind(py, "py-idle-threads", IdleThreadsCapture),
            "py-go-threads": lambda: PyCaptureKind(py, "py-go-threads", GoBlockedThreadsCapture),
            "py-aio": lambda: PyAio(setup, f"{ns}-aio"),
            "go": lambda: Go(GoPeer(setup, f"{ns}-go")),
            "go-locked": lambda: Go(GoPeer(setup, f"{ns}-go-locked", locked=True)),
        }
        for name in only or everything:
            variants.append(everything[name]())
        for v in variants:  # fixtures, warm-up
            v.exec(2)
        per_round: dict[str, list[float]] = {v.name: [] for v in variants}
        every: dict[str, list[int]] = {v.name: [] for v in variants}
        for r in range(rounds):
            this: dict[str, list[int]] = {v.name: [] for v in variants}
            for t in range(n):
                k = (r + t) % len(variants)
                for v in variants[k:] + variants[:k]:
                    this[v.name].extend(v.exec(1))
            for name, ns_ in this.items():
                per_round[name].append(statistics.median(ns_) / 1e3)
                every[name].extend(ns_)
            print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.0f}" for k, v in per_round.items()),
                  flush=True)
        ref = "go-locked" if "go-locked" in every else None
        print(f"\n{'variant':<12} {'p50 us':>8} {'p25':>8} {'p75':>8}"
              + (f" {'/go-locked':>11} {'paired':>7} {'95% CI':>14} {'(per-round)':>24}" if ref else ""))
        for name, values in every.items():
            q = statistics.quantiles(values, n=4)
            line = f"{name:<12} {q[1] / 1e3:8.0f} {q[0] / 1e3:8.0f} {q[2] / 1e3:8.0f}"
            if ref:
                overall = statistics.median(values) / statistics.median(every[ref])
                # the same turn's ops ran back to back: their ratio cancels the drift
                pairs = [a / b for a, b in zip(values, every[ref])]
                paired = statistics.median(pairs)
                lo, hi = _bootstrap(pairs)
                rr = [a / b for a, b in zip(per_round[name], per_round[ref])]
                line += (f" {overall:11.3f} {paired:7.3f} [{lo:.3f}, {hi:.3f}]"
                         f" {' '.join(f'{x:.2f}' for x in rr):>24}")
            print(line)
    finally:
        for v in variants:
            if not isinstance(v, (PyCapture, PyNone, PyCaptureKind)):
                v.close()
        py.close()


def _switches() -> int:
    """This process's context switches so far (voluntary + involuntary)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw + ru.ru_nivcsw


PHASES = ["attach", "attached", "exec", "exit_event", "waited", "output", "deleted"]


class TimelinePeer(PylibctrdPeer):
    """The pylibctrd peer, noting when its Backend sees each exit."""

    def __init__(self, setup: Setup, namespace: str) -> None:
        self.exit_seen: dict[str, int] = {}
        super().__init__(setup, namespace)

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        if event is EventType.EXIT:
            self.exit_seen[info.process_id] = time.perf_counter_ns()
        super().process_event(container_id, event, info)

    def exec_timeline(self, n: int, capture: type[stdio.Capture] | None) -> list[dict[str, int]]:
        task, process = self._exec_fixture()
        out = []
        for _ in range(n):
            pid = self.name_()
            ph: dict[str, int] = {}
            cpu0, csw0 = time.process_time_ns(), _switches()
            start = time.perf_counter_ns()

            def mark(name: str) -> None:
                ph[name] = time.perf_counter_ns() - start

            cap = (capture or stdio.Capture)()

            def attach(dio: DirectIO) -> DirectIO:
                mark("attach")
                try:
                    return cap(dio)
                finally:
                    mark("attached")

            proc = task.exec(pid, process, attach_stdio=attach if capture else None)
            mark("exec")
            self.wait_exit(task.id, pid)
            mark("waited")
            if capture:
                cap.wait(10)
                assert cap.stdout == b"hi\n", cap.stdout
                mark("output")
            proc.delete()
            mark("deleted")
            ph["cpu"] = time.process_time_ns() - cpu0
            ph["csw"] = _switches() - csw0
            ph["exit_event"] = self.exit_seen.pop(pid) - start
            out.append(ph)
        return out


def timeline(setup: Setup, n: int, rounds: int) -> None:
    ns = f"execgap-{os.getpid()}"
    py = TimelinePeer(setup, f"{ns}-py")
    go = GoPeer(setup, f"{ns}-go")
    locked = GoPeer(setup, f"{ns}-go-locked", locked=True)
    runs: dict[str, Callable[[], list[dict[str, int]]]] = {
        "py-capture": lambda: py.exec_timeline(1, capture=stdio.Capture),
        "py-threads": lambda: py.exec_timeline(1, capture=ThreadCapture),
        "py-none": lambda: py.exec_timeline(1, capture=None),
        "py-go-threads": lambda: py.exec_timeline(1, capture=GoBlockedThreadsCapture),
        "go": lambda: list(go._serve("exec_timeline", 1)["phases"]),
        "go-locked": lambda: list(locked._serve("exec_timeline", 1)["phases"]),
    }
    names = list(runs)
    got: dict[str, list[dict[str, int]]] = {k: [] for k in names}
    try:
        for k in names:  # fixtures, warm-up
            runs[k]()
        for i in range(n * rounds):
            j = i % len(names)
            for k in names[j:] + names[:j]:
                got[k].extend(runs[k]())
    finally:
        go.close()
        locked.close()
        py.close()
    print_timeline(got)


def print_timeline(got: dict[str, list[dict[str, int]]]) -> None:
    """Median time (us) at which each phase ended, and the step from the
    phase before, per variant; cpu = the client process's CPU time per exec."""
    names = list(got)
    print(f"\nmedian us since exec() was called (step from the previous phase), n={len(got[names[0]])};"
          " cpu: the client's CPU us per exec, csw: its context switches per exec")
    print(f"{'phase':<11}" + "".join(f"{k:>20}" for k in names))
    for phase in PHASES + ["cpu", "csw"]:
        cells = []
        for k in names:
            at = [ph[phase] for ph in got[k] if phase in ph]
            if not at:
                cells.append(f"{'-':>20}")
                continue
            med = statistics.median(at) / 1e3
            prev = _previous(got[k], phase)
            step = statistics.median(ph[phase] - ph.get(prev, 0) for ph in got[k] if phase in ph) / 1e3 \
                if prev is not None else med
            if phase == "csw":
                med *= 1e3
            cells.append(f"{med:>11.0f} ({step:>+6.0f})" if phase not in ("cpu", "csw") else f"{med:>20.0f}")
        print(f"{phase:<11}" + "".join(cells))


def _previous(phases: list[dict[str, int]], phase: str) -> str | None:
    """The phase before `phase` that this variant records (None for cpu)."""
    if phase in ("cpu", "csw"):
        return None
    order = [p for p in PHASES if p in phases[0] and p != "exit_event"]
    if phase == "exit_event":
        return "exec"
    i = order.index(phase)
    if i == 0:
        return None
    prev = order[i - 1]
    return prev


def traces(setup: Setup, n: int, out_dir: Path) -> None:
    """A Go execution trace of n execs per variant (run one after the other,
    not interleaved), and from each the scheduler latency: how long
    goroutines were runnable but not running, in all, per exec."""
    from pylibctrd._ffi import call, lib

    ns = f"execgap-{os.getpid()}"
    py = TimelinePeer(setup, f"{ns}-py")
    locked = GoPeer(setup, f"{ns}-go-locked", locked=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    try:
        py.exec_timeline(3, capture=None)
        locked.exec(3)
        for name, capture in (("py-capture", stdio.Capture), ("py-threads", ThreadCapture),
                              ("py-none", None)):
            paths[name] = out_dir / f"{name}.trace"
            call(lib().pylibctrd_trace_start, str(paths[name]).encode())
            try:
                py.exec_timeline(n, capture=capture)
            finally:
                call(lib().pylibctrd_trace_stop)
        paths["go-locked"] = out_dir / "go-locked.trace"
        locked.server.request({"workload": "exec", "n": n, "locked": True, "trace": str(paths["go-locked"])})
    finally:
        locked.close()
        py.close()
    print(f"\nGo execution traces in {out_dir}; per exec (n={n}):")
    print(f"{'variant':<12} {'sched latency us':>17} {'syscall block us':>17} {'sync block us':>14}")
    for name, path in paths.items():
        cells = [_pprof_total(path, kind) / n for kind in ("sched", "syscall", "sync")]
        print(f"{name:<12} {cells[0]:>17.0f} {cells[1]:>17.0f} {cells[2]:>14.0f}")


def _pprof_total(trace: Path, kind: str) -> float:
    """Total (us) of `go tool trace -pprof=kind` for a trace."""
    prof = trace.with_suffix(f".{kind}.pprof")
    with prof.open("wb") as f:
        subprocess.run(["go", "tool", "trace", f"-pprof={kind}", str(trace)], stdout=f, check=True)
    top = subprocess.run(["go", "tool", "pprof", "-top", "-unit=us", str(prof)],
                         capture_output=True, text=True, check=False).stdout
    m = re.search(r"of ([\d.]+)us total", top)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.exec_timeline")
    ap.add_argument("mode", choices=["ratios", "timeline", "trace"])
    ap.add_argument("--out", type=Path, default=Path("build/exec-traces"), help="trace files (trace)")
    ap.add_argument("--n", type=int, default=40, help="execs per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=[], help="variants (ratios)")
    args = ap.parse_args()
    bench.build_gobench()
    work = Path(tempfile.mkdtemp(prefix="pylibctrd-execgap-"))
    daemon = pylibctrd.Daemon.start(work / "root", work / "state")
    setup = Setup(daemon.address, str(work / "bundles"),
                  str(pylibctrd.busybox_rootfs(work / "rootfs")))
    try:
        if args.mode == "ratios":
            ratios(setup, args.n, args.rounds, args.only)
        elif args.mode == "timeline":
            timeline(setup, args.n, args.rounds)
        else:
            traces(setup, args.n, args.out)
    finally:
        try:
            for namespace in sweep_namespaces(setup):
                sweep(setup.address, setup.state_dir, namespace)
        finally:
            daemon.stop()
            for namespace in sweep_namespaces(setup):
                remove_runc_root(namespace)
            shutil.rmtree(work, ignore_errors=True)


def sweep_namespaces(setup: Setup) -> list[str]:
    ns = f"execgap-{os.getpid()}"
    return [f"{ns}-{v}" for v in ("py", "aio", "go", "go-locked")]


if __name__ == "__main__":
    main()
