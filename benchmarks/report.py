"""Table, chart and docs/benchmarks.md from a results dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

def target_checks(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met) for every target of the issues whose
    workloads the results hold (a --workloads run holds a subset)."""
    w = results["workloads"]
    out = []
    for name in ("version", "load"):
        if name not in w:
            continue
        g, go = w[name]["ratio_vs_grpc"], w[name]["ratio_vs_go"]
        floor = w[name].get("ratio_vs_go_locked")
        out.append((f"{name}: <= 0.75x grpcio", f"{g:.2f}x", g <= 0.75))
        out.append((f"{name}: <= 1.05x Go", f"{go:.2f}x (Go on a locked thread: "
                    f"{go / floor if floor else float('nan'):.2f}x)", go <= 1.05))
        if floor:
            out.append((f"{name}: <= 1.10x Go on a locked thread", f"{floor:.2f}x", floor <= 1.10))
    if "lifecycle" in w:
        lc = w["lifecycle"]["ratio_vs_go"]
        out.append(("lifecycle: <= 1.02x Go", f"{lc:.3f}x Go", lc <= 1.02))
    if "threads_version" in w:
        tv = w["threads_version"]["ratio_vs_grpc"]
        per = w["threads_version"]["peers"]
        floor_text = (f" (Go on locked threads: {per['grpcio']['ns_per_op'] / per['go-locked']['ns_per_op']:.2f}x)"
                      if "go-locked" in per else "")
        out.append(("8 threads: >= 3x grpcio throughput", f"{1 / tv:.2f}x{floor_text}", tv <= 1 / 3))
    if "ffi_nop" in w:
        nop = w["ffi_nop"]["peers"]["pylibctrd"]["ns_per_op"]
        out.append(("FFI no-op < 1 us", f"{nop:.0f} ns", nop < 1000))
    if "events" in w:
        added = w["events"]["added_p99_us_vs_go"]
        out.append(("event callback added p99 < 1 ms", f"{added:.0f} us over Go", added < 1000))
    if "aio_version_64" in w:
        av = w["aio_version_64"]
        if av["ratio_vs_grpc"] is not None:
            out.append(("aio_version_64: >= 2.3x grpc.aio throughput", f"{1 / av['ratio_vs_grpc']:.2f}x",
                        av["ratio_vs_grpc"] <= 1 / 2.3))
        out.append(("aio_version_64: >= 0.9x Go (64 goroutines) throughput",
                    f"{1 / av['ratio_vs_go']:.2f}x", 1 / av["ratio_vs_go"] >= 0.9))
    if "aio_lifecycle_16" in w:
        al = w["aio_lifecycle_16"]["ratio_vs_go"]
        out.append(("aio_lifecycle_16: <= 1.02x Go (16 goroutines)", f"{al:.3f}x Go", al <= 1.02))
    if "aio_events" in w:
        added = w["aio_events"]["added_p99_us_vs_go"]
        out.append(("aio event (async for) added p99 < 1 ms", f"{added:.0f} us over Go", added < 1000))
    return out


def targets_table(results: dict[str, Any]) -> str:
    rows = ["| target | measured | met |", "| --- | --- | --- |"]
    rows += [f"| {t} | {got} | {'yes' if ok else 'no'} |" for t, got, ok in target_checks(results)]
    return "\n".join(rows)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _headline(w: dict[str, Any], peer: str) -> str:
    p = w["peers"].get(peer)
    if p is None:
        return "n/a"
    for key in ("p50_us", "ns_per_op", "ns_per_event", "growth_kib"):
        if key in p:
            return _fmt(p[key])
    return "n/a"


def table(results: dict[str, Any]) -> str:
    rows = ["| workload | unit | pylibctrd | grpcio | go | go, locked thread | pylibctrd/grpc | pylibctrd/Go "
            "| pylibctrd/Go locked |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, w in results["workloads"].items():
        rows.append(f"| {name} | {w['unit']} | {_headline(w, 'pylibctrd')} | {_headline(w, 'grpcio')} | "
                    f"{_headline(w, 'go')} | {_headline(w, 'go-locked')} | {_fmt(w.get('ratio_vs_grpc'))} | "
                    f"{_fmt(w.get('ratio_vs_go'))} | {_fmt(w.get('ratio_vs_go_locked'))} |")
    extra = []
    ev = results["workloads"].get("events")
    if ev:
        extra.append(f"events p99 (us): " + ", ".join(f"{k} {_fmt(v['p99_us'])}" for k, v in ev["peers"].items())
                     + f"; pylibctrd added p99 vs Go: {_fmt(ev['added_p99_us_vs_go'])} us")
    burst = results["workloads"].get("events_burst")
    if burst:
        extra.append("events/s sustained: " + ", ".join(
            f"{k} {v['events_per_s']:.0f} (lost {v['lost']})" for k, v in burst["peers"].items()))
    mem = results["workloads"].get("memory")
    if mem:
        extra.append("RSS KiB after 10% -> 100% of lifecycles: " + ", ".join(
            f"{k} {v['rss_kib_after_10pct']} -> {v['rss_kib_after_all']}" for k, v in mem["peers"].items()))
    return "\n".join(rows + [""] + extra)


def chart(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, w in results["workloads"].items()
             if w.get("ratio_vs_grpc") is not None or w.get("ratio_vs_go") is not None]
    grpc = [results["workloads"][n].get("ratio_vs_grpc") or 0 for n in names]
    go = [results["workloads"][n].get("ratio_vs_go") or 0 for n in names]
    fig, ax = plt.subplots(figsize=(10, 5))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], grpc, width=0.4, label="pylibctrd / grpcio")
    ax.bar([i + 0.2 for i in x], go, width=0.4, label="pylibctrd / Go")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.set_ylabel("time ratio (below 1: pylibctrd faster)")
    ax.set_title(f"pylibctrd ratios ({results['machine']['date']}, {results['rounds']} rounds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


# The exec investigation (benchmarks/exec_timeline.py), kept in its own file
# because its figures come from that script, not from `make bench`.
EXEC_GAP = Path(__file__).resolve().parent / "exec_gap.md"


def write_markdown(results: dict[str, Any], text: str, path: Path) -> None:
    m = results["machine"]
    w = results["workloads"]
    lib = results.get("library")
    measured = (f"\nLibrary: the {lib['flavour']} flavour (Moby {lib['moby']}, containerd's Go client "
                f"{lib['containerd']}; [v26 and v28 side by side](performance.md#v26-and-v28))."
                if lib else "")
    locked_version = w["version"]["peers"]["go-locked"]["p50_us"] / w["version"]["peers"]["go"]["p50_us"]
    locked_threads = (w["threads_version"]["peers"]["go-locked"]["ns_per_op"]
                      / w["threads_version"]["peers"]["go"]["ns_per_op"])
    py_vs_locked = w["version"]["ratio_vs_go_locked"]
    partial = "".join(
        f"\n\nRemeasured on {run['machine']['date']} in a run of their own ({run['rounds']} rounds, "
        f"load average {', '.join(f'{x:.1f}' for x in run['load_average'])}): "
        + ", ".join(f"`{name}`" for name in run["workloads"]) + "."
        for run in results.get("partial_runs", []))
    path.write_text(f"""# Benchmarks

`make bench` (`python -m benchmarks`) measures pylibctrd, the pure-Python
client (PyPI `containerd` stubs + grpcio) and native Go calling the same
pinned libcontainerd, in one run, interleaved in {results['rounds']} rounds
against one managed containerd; within a round the peers take turns every
op (lifecycle, exec) or every few ops (unary calls), rotating who goes first,
so that this noisy machine's drift falls on all of them alike. Ratios are
pylibctrd's median time over the peer's: below 1 means pylibctrd is faster;
throughput workloads use time per operation. Full figures:
`benchmarks/results.json`; the chart below is `docs/benchmarks.png`.

![pylibctrd's time ratios against grpcio and Go](benchmarks.png)

Machine: {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, Python {m['python']},
{m['go']}, {m['containerd']}; run on {m['date']}.{measured}{partial}

{text}

## Targets

{targets_table(results)}

## Reading the figures

Every pylibctrd call is a cgo callback: Go runs it on a goroutine locked to
the calling Python thread. When that goroutine blocks on containerd, the
locked thread cannot run the gRPC goroutines that wake it, so each wait costs
thread hand-offs that a plain Go program does not pay. The "go, locked
thread" column is gobench doing the same work on goroutines locked with
`runtime.LockOSThread()`: the floor any binding that enters Go from a foreign
thread can reach. Here it costs {locked_version:.2f}x plain Go on `version` and
{locked_threads:.2f}x on 8 threads doing `version`. pylibctrd is
{py_vs_locked:.2f}x that floor on `version`: measured in one process, a call
that enters Go for itself costs more than the same call repeated inside one
locked goroutine (Go's idle threads have gone to sleep in between and must be
woken), and the Python side (argument checks, JSON, the GIL) adds a few us.

Alternatives measured on this machine and dropped, each slower than the
current design: running the call on an ordinary goroutine while the export
waits on a channel, returning to C at once and waiting there on a futex or
condition variable (with and without spinning first), a pool of unlocked
worker goroutines fed from C, and GOMAXPROCS 4 and 8.

asyncio: `aio_version_64` is CPU bound on 2 cores (containerd, the client's
Go and the loop's Python share them). Where pylibctrd's client spends its
time per call, before and after batching submissions per loop pass, worker
goroutines and packed completions, is in
[performance](performance.md#asyncio-and-unary-calls-cost-per-call)
(`python -m benchmarks.percall`).

create_delete and exec are slower than grpcio because libcontainerd does more
round trips than the minimal driver (a lease around container create, a task
lookup and an Info before delete, exec's FIFO and state handling); the Go peer
pays the same.

{EXEC_GAP.read_text()}""")
