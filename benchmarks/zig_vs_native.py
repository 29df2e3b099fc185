"""The manylinux2014 x86_64 library (built with zig, against glibc 2.17's
symbols) next to the native one (`make wheel`: gcc, this host's glibc), in one
run against one containerd: `make bench-zig`.

Each library is installed from its wheel in its own venv and runs in its own
worker process (two Go runtimes cannot share one). The workers take turns,
in ABBA order, for `rounds` rounds: `version` (`ops` calls) and the full
`/bin/true` lifecycle (`lifecycles` runs), timed as `make bench` times them
(benchmarks.peers.PylibctrdPeer). Prints, per workload, each library's p50
and zig's over native's.

usage: python -m benchmarks.zig_vs_native NATIVE_PYTHON ZIG_PYTHON ADDRESS STATE_DIR ROOTFS
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The worker: its venv's pylibctrd (the wheel's), the checkout's benchmarks
# package appended to sys.path after site-packages, so it cannot shadow it.
WORKER = """
import json, sys
sys.path.append(sys.argv[1])
import pylibctrd
from benchmarks.peers import PylibctrdPeer, Setup
address, state_dir, rootfs, namespace = sys.argv[2:6]
peer = PylibctrdPeer(Setup(address, state_dir, rootfs), namespace)
print(json.dumps({"file": pylibctrd.__file__}), flush=True)
for line in sys.stdin:
    op, n = line.split()
    print(json.dumps(getattr(peer, op)(int(n))), flush=True)
peer.close()
"""


class Worker:
    def __init__(self, name: str, python: str, args: argparse.Namespace) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [python, "-I", "-c", WORKER, str(ROOT), args.address, args.state_dir, args.rootfs,
             f"pylibctrd-zigbench-{name}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        self.file = self._read()["file"]

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self, op: str, n: int) -> list[int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{op} {n}\n")
        self.proc.stdin.flush()
        result: list[int] = self._read()
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


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
    args = ap.parse_args()

    workers = {"native": Worker("native", args.native_python, args),
               "zig": Worker("zig", args.zig_python, args)}
    samples: dict[tuple[str, str], list[int]] = {}
    workloads = (("version", args.ops), ("lifecycle", args.lifecycles))
    try:
        for w in workers.values():  # warm-up, not counted
            for op, n in workloads:
                w.run(op, max(1, n // 10))
        for r in range(args.rounds):
            order = ["native", "zig"] if r % 2 == 0 else ["zig", "native"]
            for op, n in workloads:
                for name in order:
                    samples.setdefault((op, name), []).extend(workers[name].run(op, n))
    finally:
        for w in workers.values():
            w.close()

    print(f"native: {workers['native'].file}\nzig:    {workers['zig'].file}")
    print(f"{args.rounds} rounds, ABBA; p50 and mean over all samples")
    print("| workload | native p50 | zig p50 | zig / native (p50) | zig / native (mean) |")
    print("| --- | --- | --- | --- | --- |")
    for op, _ in workloads:
        native, zig = samples[(op, "native")], samples[(op, "zig")]
        n50, z50 = statistics.median(native), statistics.median(zig)
        print(f"| `{op}` ({len(native)} each) | {n50 / 1000:.0f} µs | {z50 / 1000:.0f} µs | "
              f"{z50 / n50:.3f} | {statistics.mean(zig) / statistics.mean(native):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
