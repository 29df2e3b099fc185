"""The manylinux2014 x86_64 library (built with zig, against glibc 2.17's
symbols) next to the native one (`make wheel`: gcc, this host's glibc), in one
run against one containerd: `make bench-zig`.

Each library is installed from its wheel in its own venv and runs in its own
worker process (benchmarks.worker: two Go runtimes cannot share one). The workers take turns,
in ABBA order, for `rounds` rounds: a no-op call into Go (`nops` calls, as
`make bench`'s ffi_nop), `version` (`ops` calls) and the full `/bin/true`
lifecycle (`lifecycles` runs), the latter two timed as `make bench` times
them (benchmarks.peers.PylibctrdPeer). Prints, per workload, each library's
p50, zig's over native's (p50, mean, and the worker's CPU time per op, which
other load on the machine disturbs less than wall time), and the spread of
the per-round ratio.

usage: python -m benchmarks.zig_vs_native NATIVE_PYTHON ZIG_PYTHON ADDRESS STATE_DIR ROOTFS
"""

from __future__ import annotations

import argparse
import statistics
import sys

from .worker import WorkerPeer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("native_python")
    ap.add_argument("zig_python")
    ap.add_argument("address")
    ap.add_argument("state_dir")
    ap.add_argument("rootfs")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--lifecycles", type=int, default=10)
    ap.add_argument("--nops", type=int, default=20000, help="no-op calls into Go per round")
    args = ap.parse_args()

    workers = {name: WorkerPeer(name, args.address, args.state_dir, args.rootfs, f"pylibctrd-zigbench-{name}",
                                python=python)
               for name, python in (("native", args.native_python), ("zig", args.zig_python))}
    samples: dict[tuple[str, str], list[int]] = {}
    cpu: dict[tuple[str, str], int] = {}
    # Per round and workload, zig's p50 over native's: the spread is the noise.
    ratios: dict[str, list[float]] = {}
    workloads = (("nop", args.nops), ("version", args.ops), ("lifecycle", args.lifecycles))
    try:
        for w in workers.values():  # warm-up, not counted
            for op, n in workloads:
                w.call(op, max(1, n // 10))
        for r in range(args.rounds):
            order = ["native", "zig"] if r % 2 == 0 else ["zig", "native"]
            for op, n in workloads:
                p50 = {}
                for name in order:
                    got, used = workers[name].call(op, n)
                    samples.setdefault((op, name), []).extend(got)
                    cpu[(op, name)] = cpu.get((op, name), 0) + used
                    p50[name] = statistics.median(got)
                ratios.setdefault(op, []).append(p50["zig"] / p50["native"])
    finally:
        for w in workers.values():
            w.close()

    print(f"native: {workers['native'].info['file']}\nzig:    {workers['zig'].info['file']}")
    print(f"{args.rounds} rounds, ABBA; p50 and mean over all samples")
    print("| workload | native p50 | zig p50 | zig / native: p50 | mean | CPU per op |"
          " per round (p50s): median [min, max] |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for op, _ in workloads:
        native, zig = samples[(op, "native")], samples[(op, "zig")]
        n50, z50 = statistics.median(native), statistics.median(zig)
        spread = ratios[op]
        unit, scale = ("ns", 1) if op == "nop" else ("µs", 1000)
        print(f"| `{op}` ({len(native)} each) | {n50 / scale:.0f} {unit} | {z50 / scale:.0f} {unit} | "
              f"{z50 / n50:.3f} | {statistics.mean(zig) / statistics.mean(native):.3f} | "
              f"{cpu[(op, 'zig')] / cpu[(op, 'native')]:.3f} | "
              f"{statistics.median(spread):.3f} [{min(spread):.3f}, {max(spread):.3f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
