"""`make bench-flavours`: the v26 and the v28 library (docs/flavours.md) side
by side in one run against one managed containerd.

A process loads one flavour, so each runs in a worker process of its own
(benchmarks.worker, PYLIBCTRD_FLAVOUR set), beside its own Go peer: gobench
built at the same Moby (build/gobench-<flavour>), so that each flavour's
ratio against Go is against Go doing the same work with that Moby. The four
peers take turns as in `make bench` (benchmarks.__main__.measure: every op or
every 50 ops, rotating who goes first), for `version`, `lifecycle`, `exec`,
`aio_version_64` and `aio_lifecycle_16`.

    python -m benchmarks.flavours [--rounds 5] [--quick] [--write]

--write records the run under "flavours" in benchmarks/results.json and its
tables in docs/performance.md ("v26 and v28") and README.md, between the
`<!-- bench-flavours -->` markers; without it, the run goes to
build/bench-flavours.json. --render writes the tables of the recorded run
again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

from . import __main__ as bench
from .peers import ROOT, GoPeer, Setup, build_gobench
from .worker import WorkerPeer

FLAVOURS = ("v26", "v28")
WORKLOADS = ("version", "lifecycle", "exec", "aio_version_64", "aio_lifecycle_16")
NAMES = {"version": "`version` p50", "lifecycle": "`/bin/true` lifecycle p50", "exec": "exec `echo hi` p50",
         "aio_version_64": "asyncio, 64 `version` in flight (per op)",
         "aio_lifecycle_16": "asyncio, 16 lifecycles in flight (per op)"}
RESULTS = ROOT / "benchmarks" / "results.json"
PAGES = {"docs": ROOT / "docs" / "performance.md", "readme": ROOT / "README.md"}
BEGIN, END = "<!-- bench-flavours -->", "<!-- /bench-flavours -->"


def run(counts: dict[str, int], rounds: int, setup: Setup | None = None, prefix: str = "",
        flavours: tuple[str, ...] = FLAVOURS) -> dict[str, Any]:
    """Measure; the results.json section. `setup`: a running containerd's (the
    smoke test's), else one is started for the run; `prefix`: of the
    namespaces."""
    for f in flavours:
        build_gobench(f)
    prefix = prefix or f"bench-fl-{os.getpid()}"
    ns = {(kind, f): f"{prefix}-{kind}-{f}" for kind in ("py", "go") for f in flavours}
    load_start = os.getloadavg()
    with bench.managed(ns.values(), setup) as run_:
        s, peers = run_.setup, run_.peers
        for f in flavours:
            # one at a time, so that a peer failing to start leaves the others closable
            peers.append(WorkerPeer(f"pylibctrd-{f}", s.address, s.state_dir, s.rootfs, ns["py", f],
                                    env={**os.environ, "PYLIBCTRD_FLAVOUR": f}))
            peers.append(GoPeer(s, ns["go", f], flavour=f, name=f"go-{f}"))
        libraries = {p.name.removeprefix("pylibctrd-"): p.info["versions"]
                     for p in peers if isinstance(p, WorkerPeer)}
        samples = bench.measure(peers, counts, rounds, set(WORKLOADS))
    section = summarize(samples, counts, rounds, libraries,
                        {"start": list(load_start), "end": list(os.getloadavg())})
    if run_.left:  # what the peers failed to remove, by namespace (the run removed it)
        section["left_behind"] = run_.left
    return section


def _per_round(rounds: list[Any]) -> list[float]:
    """Each round's headline: p50 (latency workloads: each op's ns), or
    wall ns (throughput: one wall time per round)."""
    return [bench.pct(r, 0.5) if isinstance(r, list) else float(r) for r in rounds]


def summarize(samples: dict[str, dict[str, list[Any]]], counts: dict[str, int], rounds: int,
              libraries: dict[str, dict[str, Any]], load_average: dict[str, list[float]]) -> dict[str, Any]:
    """Per workload and flavour, what `make bench` records for pylibctrd and
    Go (bench.summarize_workloads on that flavour's two peers); per peer,
    v28's figure over v26's (`of_medians`) and v28's over v26's in each
    round (`per_round`: the two measured in the same round, taking turns)."""
    flavours = list(libraries)
    per = {f: bench.summarize_workloads(
        {w: {"pylibctrd": by[f"pylibctrd-{f}"], "go": by[f"go-{f}"]} for w, by in samples.items()},
        {}, counts) for f in flavours}
    workloads: dict[str, Any] = {}
    for w in samples:
        first = per[flavours[0]][w]
        entry: dict[str, Any] = {"kind": first["kind"], "unit": first["unit"], "count": counts[w]}
        for f in flavours:
            entry[f] = {"peers": per[f][w]["peers"], "ratio_vs_go": per[f][w]["ratio_vs_go"]}
        if len(flavours) == 2:
            a, b = flavours
            key = "p50_us" if first["kind"] == "latency" else "ns_per_op"
            entry[f"{b}_over_{a}"] = {}
            for peer in ("pylibctrd", "go"):
                by_round = [y / x for x, y in zip(_per_round(samples[w][f"{peer}-{a}"]),
                                                   _per_round(samples[w][f"{peer}-{b}"]))]
                entry[f"{b}_over_{a}"][peer] = {
                    "of_medians": entry[b]["peers"][peer][key] / entry[a]["peers"][peer][key],
                    "per_round": by_round}
        workloads[w] = entry
    return {"machine": bench.machine(), "rounds": rounds, "load_average": load_average,
            "libraries": libraries, "workloads": workloads}


def _value(entry: dict[str, Any], flavour: str, peer: str) -> str:
    p = entry[flavour]["peers"][peer]
    if "p50_us" in p:
        us = p["p50_us"]
        return f"{us / 1000:.1f} ms" if us >= 10_000 else f"{us:.0f} µs"
    return f"{p['ns_per_op'] / 1000:.1f} µs" if p["ns_per_op"] < 10_000_000 else f"{p['ns_per_op'] / 1e6:.1f} ms"


def _spread(ratio: dict[str, Any]) -> str:
    """The per-round ratio: median [lowest, highest]."""
    r = ratio["per_round"]
    return f"{statistics.median(r):.2f} [{min(r):.2f}, {max(r):.2f}]"


def _loadavg(section: dict[str, Any]) -> str:
    return " → ".join(", ".join(f"{x:.1f}" for x in section["load_average"][k]) for k in ("start", "end"))


def docs_table(section: dict[str, Any]) -> str:
    """docs/performance.md's table: each flavour and its Go peer, the ratios."""
    m, libs = section["machine"], section["libraries"]
    rows = [f"`make bench-flavours`, {section['rounds']} rounds on {m['date']} ({m['cpu']}, {m['cores']} cores, "
            f"containerd {m['containerd'].split()[2]}; load average {_loadavg(section)}, start → end). "
            + "; ".join(f"{f}: Moby {v['moby']}, containerd's client {v['containerd']}" for f, v in libs.items())
            + ". Figures: medians over the rounds (of each round's p50, or of its time per op). Ratios: "
            "time over time, below 1 = faster; v28 / v26: the ratio within each round (both measured "
            "in it, taking turns), median [lowest, highest].",
            "",
            "| workload | v26 | Go at v26 | v26 / Go | v28 | Go at v28 | v28 / Go | v28 / v26 | Go: v28 / v26 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for w, e in section["workloads"].items():
        rows.append(f"| {NAMES.get(w, w)} | {_value(e, 'v26', 'pylibctrd')} | {_value(e, 'v26', 'go')} | "
                    f"{e['v26']['ratio_vs_go']:.2f} | {_value(e, 'v28', 'pylibctrd')} | {_value(e, 'v28', 'go')} | "
                    f"{e['v28']['ratio_vs_go']:.2f} | {_spread(e['v28_over_v26']['pylibctrd'])} | "
                    f"{_spread(e['v28_over_v26']['go'])} |")
    return "\n".join(rows)


def readme_table(section: dict[str, Any]) -> str:
    """README.md's: the ratios only."""
    rows = ["| workload | v26 / Go | v28 / Go | v28 / v26 |", "| --- | --- | --- | --- |"]
    for w, e in section["workloads"].items():
        rows.append(f"| {NAMES.get(w, w)} | {e['v26']['ratio_vs_go']:.2f} | {e['v28']['ratio_vs_go']:.2f} | "
                    f"{statistics.median(e['v28_over_v26']['pylibctrd']['per_round']):.2f} |")
    return "\n".join(rows)


def splice(path: Path, text: str) -> None:
    """Replace what stands between the markers in `path` with `text`."""
    page = path.read_text()
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} to write the figures between")
    path.write_text(page[:start + len(BEGIN)] + "\n" + text + "\n" + page[end:])


def write(section: dict[str, Any], results: Path = RESULTS, pages: dict[str, Path] = PAGES) -> None:
    """The section into results.json (key "flavours"), the tables into the pages."""
    full = json.loads(results.read_text())
    full["flavours"] = section
    results.write_text(json.dumps(full, indent=1) + "\n")
    for name, table in (("docs", docs_table), ("readme", readme_table)):
        splice(pages[name], table(section))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    ap.add_argument("--write", action="store_true",
                    help="into benchmarks/results.json, docs/performance.md and README.md")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: write the tables of results.json's \"flavours\" into the pages again")
    args = ap.parse_args()
    if args.render:
        section = json.loads(RESULTS.read_text())["flavours"]
        print(docs_table(section))
        for name, table in (("docs", docs_table), ("readme", readme_table)):
            splice(PAGES[name], table(section))
        return
    counts = {w: (bench.QUICK if args.quick else bench.FULL)[w] for w in WORKLOADS}
    section = run(counts, args.rounds)
    print(docs_table(section))
    if args.write:
        write(section)
    else:
        out = ROOT / "build" / "bench-flavours.json"
        out.write_text(json.dumps(section, indent=1) + "\n")
        print(f"results: {out}")


if __name__ == "__main__":
    main()
