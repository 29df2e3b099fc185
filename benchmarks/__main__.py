"""`make bench`: pylibctrd vs the pure-Python gRPC client vs native Go, in one
run, interleaved in rounds, against one managed containerd.

    python -m benchmarks [--rounds 5] [--quick] [--write-md]
    python -m benchmarks --workloads version,load,aio_version_64 --out build/bench.json

`--workloads` measures a subset (names as in results.json) to iterate on;
the full run is what `make bench` records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pylibctrd
from pylibctrd import _ffi
from pylibctrd.testing import remove_runc_root, sweep

from . import peers
from .peers import ROOT, GoPeer, GrpcPeer, Peer, PylibctrdPeer, Setup

HERE = Path(__file__).resolve().parent
DOCS = ROOT / "docs"

FULL = {"version": 1000, "load": 1000, "create_delete": 40, "lifecycle": 40, "exec": 40,
        "threads_version": 4000, "threads_lifecycle": 16, "events": 200, "events_burst": 3000,
        "ffi_nop": 200000, "ffi_json": 50000, "memory": 1000,
        "aio_version_64": 3200, "aio_lifecycle_16": 32, "aio_events": 200}
QUICK = {"version": 20, "load": 20, "create_delete": 3, "lifecycle": 2, "exec": 2,
         "threads_version": 16, "threads_lifecycle": 8, "events": 10, "events_burst": 50,
         "ffi_nop": 1000, "ffi_json": 1000, "memory": 20,
         "aio_version_64": 128, "aio_lifecycle_16": 16, "aio_events": 10}
THREADS = 8
# The flavour docs/benchmarks.md and results.json record: the default one
# (docs/flavours.md). `make bench FLAVOUR=v28` writes build/bench-v28.json;
# v26 and v28 side by side: `make bench-flavours` (benchmarks/flavours.py).
RECORDED_FLAVOUR = "v26"
LATENCY = ["version", "load", "create_delete", "lifecycle", "exec"]
# Ops per turn: within a round the peers take turns at this grain, so that the
# drift of this noisy machine falls on every peer alike.
TURN = {"version": 50, "load": 50, "create_delete": 4, "lifecycle": 1, "exec": 1}
THROUGHPUT = ["threads_version", "threads_lifecycle"]
# asyncio workloads: calls in flight on one loop (Go: as many goroutines).
AIO = {"aio_version_64": ("aio_version", 64), "aio_lifecycle_16": ("aio_lifecycle", 16)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rotate(items: list[Peer], k: int) -> list[Peer]:
    """items, starting at k: who goes first changes from turn to turn."""
    k %= len(items)
    return items[k:] + items[:k]


def build_gobench() -> None:
    peers.build_gobench()


def ffi_cost(workload: str, n: int) -> float:
    """ns per call into Go through the C ABI (pylibctrd's one call path)."""
    if workload == "ffi_nop":
        start = time.perf_counter_ns()
        for _ in range(n):
            _ffi.call(_ffi.lib().pylibctrd_nop)
    else:
        data = json.dumps({"id": "container-1", "labels": {"a": "b"}, "pids": [1, 2, 3], "ok": True}).encode()
        start = time.perf_counter_ns()
        for _ in range(n):
            _ffi.op(_ffi.json_result, _ffi.lib().pylibctrd_echo, data, len(data)).run()
    return (time.perf_counter_ns() - start) / n


def memory_subprocess(peer: str, setup: Setup, namespace: str, n: int) -> tuple[int, int]:
    """RSS (KiB) of a fresh Python process after n/10 and n lifecycles."""
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--memory-child", peer,
                          "--address", setup.address, "--state-dir", setup.state_dir,
                          "--rootfs", setup.rootfs, "--namespace", namespace, "--n", str(n)],
                         check=True, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    a, b = json.loads(out.stdout.splitlines()[-1])
    return int(a), int(b)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def memory_child(args: argparse.Namespace) -> None:
    setup = Setup(args.address, args.state_dir, args.rootfs)
    peer = PylibctrdPeer(setup, args.namespace) if args.memory_child == "pylibctrd" \
        else GrpcPeer(setup, args.namespace)
    first = args.n // 10
    peer.lifecycle(first)
    at_first = rss_kib()
    peer.lifecycle(args.n - first)
    print(json.dumps([at_first, rss_kib()]))
    peer.close()


@dataclass
class Bench:
    """What `managed` yields: where the peers run, the peers the caller
    starts (closed on the way out), and what the sweeps removed."""

    setup: Setup
    peers: list[Peer] = field(default_factory=list)
    left: dict[str, list[str]] = field(default_factory=dict)


@contextlib.contextmanager
def managed(namespaces: Iterable[str], setup: Setup | None = None) -> Iterator[Bench]:
    """A containerd of the run's own (or the one of `setup`, left running),
    and a list for the peers the caller starts: on the way out every peer is
    closed, what a failed run left in `namespaces` removed (and recorded in
    `left`), and the run's containerd stopped."""
    namespaces = list(namespaces)
    daemon = None
    if setup is None:
        work = Path(tempfile.mkdtemp(prefix="pylibctrd-bench-"))
        daemon = pylibctrd.Daemon.start(work / "root", work / "state")
        setup = Setup(daemon.address, str(work / "bundles"), str(pylibctrd.busybox_rootfs(work / "rootfs")))
    bench = Bench(setup)
    try:
        yield bench
    finally:
        try:
            for p in bench.peers:
                try:
                    p.close()
                except Exception as exc:  # the sweep below removes what it left
                    print(f"closing {p.name} failed: {exc!r}", file=sys.stderr)
            for namespace in namespaces:
                if left := sweep(setup.address, setup.state_dir, namespace):
                    bench.left[namespace] = left
                    print(f"removed containers a failed run left in {namespace}: {left}", file=sys.stderr)
        finally:
            if daemon is not None:
                daemon.stop()
            for namespace in namespaces:
                remove_runc_root(namespace)


def run(counts: dict[str, int], rounds: int, only: set[str] | None = None) -> dict[str, Any]:
    build_gobench()
    ns = {name: f"bench-{name}-{os.getpid()}"
          for name in ("py", "grpc", "go", "go-locked", "mem-py", "mem-grpc", "mem-go")}
    with managed(ns.values()) as bench:
        setup, peers = bench.setup, bench.peers
        # one at a time, so that a peer failing to start leaves the others closable
        peers.append(PylibctrdPeer(setup, ns["py"]))
        peers.append(GrpcPeer(setup, ns["grpc"]))
        peers.append(GoPeer(setup, ns["go"]))
        peers.append(GoPeer(setup, ns["go-locked"], locked=True))
        samples = measure(peers, counts, rounds, only)
        memory: dict[str, tuple[int, int]] = {}
        if only is None or "memory" in only:
            print("memory", flush=True)
            memory = {
                "pylibctrd": memory_subprocess("pylibctrd", setup, ns["mem-py"], counts["memory"]),
                "grpcio": memory_subprocess("grpcio", setup, ns["mem-grpc"], counts["memory"]),
                "go": GoPeer.memory(setup, ns["mem-go"], counts["memory"]),
            }
    return summarize(samples, memory, counts, rounds)


def measure(peers: list[Peer], counts: dict[str, int], rounds: int,
            only: set[str] | None = None) -> dict[str, dict[str, list[Any]]]:
    """samples[workload][peer]: one entry per round. The thread-locked Go peer
    (a binding's floor) takes part in the client workloads, not in events.
    `only`: the workloads to measure (None: all)."""
    samples: dict[str, dict[str, list[Any]]] = {}
    go = next(p for p in peers if isinstance(p, GoPeer) and not p.locked)

    def chosen(workload: str) -> bool:
        return only is None or workload in only

    def add(workload: str, peer: str, value: Any) -> None:
        samples.setdefault(workload, {}).setdefault(peer, []).append(value)

    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        for w in filter(chosen, LATENCY):
            turns = max(1, counts[w] // TURN[w])
            this_round: dict[str, list[int]] = {}
            for t in range(turns):
                for p in rotate(peers, r + t):
                    this_round.setdefault(p.name, []).extend(getattr(p, w)(counts[w] // turns))
            for name, ns in this_round.items():
                add(w, name, ns)
        for w in filter(chosen, THROUGHPUT):
            for p in rotate(peers, r):
                add(w, p.name, getattr(p, w)(counts[w], THREADS))
        for p in rotate([p for p in peers if p.name != "go-locked"], r):
            if chosen("events"):
                add("events", p.name, p.events(counts["events"], "2ms"))
            if chosen("events_burst"):
                add("events_burst", p.name, p.events(counts["events_burst"], "0s"))
        for w, (method, concurrency) in AIO.items():
            if not chosen(w):
                continue
            for p in rotate([p for p in peers if p.name != "go-locked"], r):
                add(w, p.name, getattr(p, method)(counts[w], concurrency))
        for p in rotate([p for p in peers if p.name != "go-locked"], r):
            if chosen("aio_events"):
                add("aio_events", p.name, p.aio_events(counts["aio_events"], "2ms"))
        for w in filter(chosen, ("ffi_nop", "ffi_json")):
            add(w, "pylibctrd", ffi_cost(w, counts[w]))
            add(w, "go", go.ffi(w.removeprefix("ffi_"), counts[w]))
    return samples


def summarize(samples: dict[str, dict[str, list[Any]]], memory: dict[str, tuple[int, int]],
              counts: dict[str, int], rounds: int) -> dict[str, Any]:
    return {"machine": machine(), "library": library(), "rounds": rounds,
            "workloads": summarize_workloads(samples, memory, counts)}


def library() -> dict[str, str]:
    """The library this process measured: its flavour, Moby and containerd client."""
    v = pylibctrd.versions()
    return {"flavour": v.flavour, "moby": v.moby, "containerd": v.containerd}


def summarize_workloads(samples: dict[str, dict[str, list[Any]]], memory: dict[str, tuple[int, int]],
                        counts: dict[str, int]) -> dict[str, Any]:
    """Per workload: each peer's figures, and pylibctrd's ratios against the
    peers named grpcio, go and go-locked."""
    workloads: dict[str, Any] = {}
    for w in [w for w in LATENCY if w in samples]:
        per = {}
        for peer, rounds_ns in samples[w].items():
            per[peer] = {
                "p50_us": statistics.median(pct(ns, 0.5) / 1e3 for ns in rounds_ns),
                "p99_us": statistics.median(pct(ns, 0.99) / 1e3 for ns in rounds_ns),
                "ops_per_s": statistics.median(1e9 * len(ns) / sum(ns) for ns in rounds_ns),
            }
        workloads[w] = {"kind": "latency", "unit": "us (p50)", "count": counts[w], "peers": per,
                        **ratios({k: v["p50_us"] for k, v in per.items()})}
    for w in [w for w in THROUGHPUT if w in samples]:
        per = {peer: {"ns_per_op": statistics.median(wall / counts[w] for wall in walls),
                      "ops_per_s": statistics.median(counts[w] * 1e9 / wall for wall in walls)}
               for peer, walls in samples[w].items()}
        workloads[w] = {"kind": "throughput", "threads": THREADS, "unit": "ns per op", "count": counts[w],
                        "peers": per, **ratios({k: v["ns_per_op"] for k, v in per.items()})}
    for w, (_, concurrency) in AIO.items():
        if w not in samples:
            continue
        per = {peer: {"ns_per_op": statistics.median(wall / counts[w] for wall in walls),
                      "ops_per_s": statistics.median(counts[w] * 1e9 / wall for wall in walls)}
               for peer, walls in samples[w].items()}
        workloads[w] = {"kind": "throughput", "concurrency": concurrency,
                        "unit": "ns per op (one loop; Go: goroutines)", "count": counts[w],
                        "peers": per, **ratios({k: v["ns_per_op"] for k, v in per.items()})}
    for w, unit in (("events", "callback"), ("aio_events", "async for")):
        if w not in samples:
            continue
        per = {}
        for peer, runs in samples[w].items():
            lat = [[(recv[k] - sent[k]) / 1e3 for k in sent if k in recv] for sent, recv in runs]
            per[peer] = {"p50_us": statistics.median(pct(x, 0.5) for x in lat),
                         "p99_us": statistics.median(pct(x, 0.99) for x in lat),
                         "lost": sum(len(sent) - len(recv) for sent, recv in runs)}
        workloads[w] = {"kind": "latency", "unit": f"us from publish to {unit} (p50)",
                        "count": counts[w], "peers": per,
                        "added_p99_us_vs_go": per["pylibctrd"]["p99_us"] - per["go"]["p99_us"],
                        **ratios({k: v["p50_us"] for k, v in per.items()})}
    per = {}
    for peer, runs in samples.get("events_burst", {}).items():
        rates, lost = [], 0
        for sent, recv in runs:
            lost += len(sent) - len(recv)
            span = (max(recv.values()) - min(sent.values())) / 1e9 if recv else float("inf")
            rates.append(len(recv) / span)
        per[peer] = {"events_per_s": statistics.median(rates), "ns_per_event": 1e9 / statistics.median(rates),
                     "lost": lost}
    if per:
        workloads["events_burst"] = {"kind": "throughput", "unit": "ns per event",
                                     "count": counts["events_burst"], "peers": per,
                                     **ratios({k: v["ns_per_event"] for k, v in per.items()})}
    for w in [w for w in ("ffi_nop", "ffi_json") if w in samples]:
        per = {peer: {"ns_per_op": statistics.median(v)} for peer, v in samples[w].items()}
        workloads[w] = {"kind": "latency", "unit": "ns per call", "count": counts[w], "peers": per,
                        "ratio_vs_grpc": None,
                        "ratio_vs_go": per["pylibctrd"]["ns_per_op"] / per["go"]["ns_per_op"],
                        "note": "Go peer: the same work as a plain Go call (no FFI); grpcio has no FFI"}
    if memory:
        workloads["memory"] = {
            "kind": "memory", "unit": "KiB RSS growth", "count": counts["memory"],
            "peers": {peer: {"rss_kib_after_10pct": a, "rss_kib_after_all": b, "growth_kib": b - a}
                      for peer, (a, b) in memory.items()},
            "ratio_vs_grpc": None, "ratio_vs_go": None,
            "note": "growth from 10% to 100% of the lifecycles; compared in absolute KiB",
        }
    return workloads


def merge(results: dict[str, Any], path: Path) -> None:
    """Replace the workloads `results` measured in the results file at `path`
    (each workload's ratios stay from one run of all its peers), and record
    which run they came from under partial_runs."""
    full = json.loads(path.read_text())
    if (got := results["library"]["flavour"]) != (want := full.get("library", {}).get("flavour", RECORDED_FLAVOUR)):
        raise SystemExit(f"{path} holds the {want} flavour's figures, this run measured {got}")
    full["workloads"].update(results["workloads"])
    full.setdefault("partial_runs", []).append(
        {"workloads": sorted(results["workloads"]), "rounds": results["rounds"],
         "machine": results["machine"], "load_average": os.getloadavg()})
    path.write_text(json.dumps(full, indent=1) + "\n")


#: What a run of this module writes into results.json (a full run replaces
#: them all: partial runs merged into the figures it supersedes go too).
OWN_SECTIONS = ("machine", "rounds", "workloads", "library", "partial_runs")


def ratios(values: dict[str, float]) -> dict[str, float | None]:
    py = values.get("pylibctrd")

    def over(peer: str) -> float | None:
        return py / values[peer] if py and values.get(peer) else None

    out = {"ratio_vs_grpc": over("grpcio"), "ratio_vs_go": over("go")}
    if "go-locked" in values:
        out["ratio_vs_go_locked"] = over("go-locked")
    return out


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    ctrd = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "go": go, "containerd": ctrd,
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of the harness")
    ap.add_argument("--write-md", action="store_true", help="write docs/benchmarks.md and its chart docs/benchmarks.png")
    ap.add_argument("--render", action="store_true", help="measure nothing: report the results in --out again")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--workloads", help="comma-separated subset to measure (iterating; not with --write-md)")
    ap.add_argument("--merge-into", help="also replace these workloads in this results file (e.g. "
                    "benchmarks/results.json), recording the run under partial_runs")
    ap.add_argument("--memory-child", choices=["pylibctrd", "grpcio"], help=argparse.SUPPRESS)
    for flag in ("address", "state-dir", "rootfs", "namespace"):
        ap.add_argument("--" + flag, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    from .report import chart, table, targets_table, write_markdown

    only = set(args.workloads.split(",")) if args.workloads else None
    if only is not None:
        if args.write_md:
            ap.error("--workloads measures a subset: docs/benchmarks.md wants a full run")
        if unknown := only - set(FULL):
            ap.error(f"unknown workloads: {', '.join(sorted(unknown))} (known: {', '.join(FULL)})")
    if args.write_md and not args.render and (flavour := pylibctrd.versions().flavour) != RECORDED_FLAVOUR:
        ap.error(f"docs/benchmarks.md records the {RECORDED_FLAVOUR} flavour, this process loads {flavour}: "
                 f"--out elsewhere (make bench FLAVOUR={flavour}: build/bench-{flavour}.json), "
                 "or make bench-flavours for both side by side")
    if args.render:
        results = json.loads(Path(args.out).read_text())
    else:
        results = run(QUICK if args.quick else FULL, args.rounds, only)
        out = Path(args.out)
        if out.exists():  # other tools' sections stay (bench-pull's, bench-flavours')
            results = {**{k: v for k, v in json.loads(out.read_text()).items()
                          if k not in OWN_SECTIONS}, **results}
        out.write_text(json.dumps(results, indent=1) + "\n")
        if args.merge_into:
            merge(results, Path(args.merge_into))
    text = table(results)
    print(text + "\n\n" + targets_table(results))
    # With --write-md the chart goes beside docs/benchmarks.md, which shows it.
    png = chart(results, DOCS / "benchmarks.png" if args.write_md else Path(args.out).with_suffix(".png"))
    print(f"results: {args.out}; chart: {png}")
    if args.write_md:
        write_markdown(results, text, DOCS / "benchmarks.md")


if __name__ == "__main__":
    main()
