"""`make soak`: 2,000 container lifecycles plus 2,000 execs with captured
output in one process, measured every 200 of each: open fds, threads, Go
handles, goroutines, RSS, bundle dirs, runc state dirs, shims, mounts.

    python -m benchmarks.soak --run build/soak.json      # the run (pylibctrd's venv, root)
    python -m benchmarks.soak --render build/soak.json   # docs/soak.md + docs/soak.png (needs matplotlib)

--render exits 1 when the growth over the last 1,000 is not flat: fds,
threads, handles, goroutines, bundle dirs, runc dirs, shims and mounts must
be exactly equal, RSS within 5 MiB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TOTAL = 2000
EVERY = 200
RSS_SLACK_KIB = 5 * 1024
# The report and its plot (soak.png beside it) are pages of the docs site.
DOCS = Path(__file__).resolve().parent.parent / "docs"
EXACT = ["fds", "python_threads", "go_handles", "goroutines", "bundle_dirs", "runc_dirs",
         "shims", "mounts"]
# Go's runtime starts an OS thread (an M) when all are busy in syscalls or
# cgo calls and keeps it idle for good; a peak of concurrency adds one for
# the rest of the run. A leak adds threads steadily, which this still catches.
OS_THREAD_SLACK = 2
RUNC_ROOT = Path("/run/containerd/runc")


def status_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def shims(namespace: str) -> int:
    out = subprocess.run(["pgrep", "-f", f"containerd-shim-runc-v2 -namespace {namespace} "],
                         capture_output=True, text=True).stdout
    return len(out.split())


def mounts(*needles: str) -> int:
    """Mounts in this mount namespace under the run's dirs or its namespace."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sum(1 for line in lines if any(n in line for n in needles))


def measure(done: int, workdir: Path, namespace: str, bundles: Path) -> dict[str, Any]:
    from pylibctrd import _ffi

    gc.collect()
    time.sleep(1.0)  # capture threads and shims of the last container wind down
    gc.collect()
    runc = RUNC_ROOT / namespace
    return {
        "done": done,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": status_field("Threads"),
        # Threads Python started (capture pumps...); Go threads that ran a
        # callback show as _DummyThread and are counted with the OS threads.
        "python_threads": sum(1 for t in threading.enumerate()
                              if not isinstance(t, threading._DummyThread)),
        "go_handles": _ffi.live_handles(),
        "goroutines": _ffi.goroutines(),
        "rss_kib": status_field("VmRSS"),
        "bundle_dirs": len(os.listdir(bundles)),
        "runc_dirs": len(os.listdir(runc)) if runc.exists() else 0,
        "shims": shims(namespace),
        "mounts": mounts(str(workdir), namespace),
        "time": time.monotonic(),
    }


def run(out: Path, total: int, every: int) -> None:
    import pylibctrd
    from pylibctrd import stdio
    from pylibctrd.testing import remove_runc_root, sweep

    workdir = Path(tempfile.mkdtemp(prefix="pylibctrd-soak-"))
    namespace = f"soak-{os.getpid()}"
    bundles = workdir / "bundles"
    rootfs = pylibctrd.busybox_rootfs(workdir / "rootfs")
    daemon = pylibctrd.Daemon.start(workdir / "root", workdir / "state")
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        client = pylibctrd.Client.connect(daemon.address, namespace=namespace,
                                          state_dir=bundles)
        bundles.mkdir(exist_ok=True)

        def spec(id: str, args: list[str]) -> dict[str, Any]:
            return pylibctrd.container_spec(rootfs, args,
                                            cgroups_path=f"/pylibctrd-soak/{namespace}/{id}")

        # The container the execs run in, up for the whole run.
        host = client.new_container("exec-host", spec("exec-host", ["sleep", "100000"]))
        host_task = host.new_task()
        host_task.start()
        exec_spec = pylibctrd.process_spec(spec("exec-host", ["sh"]), ["sh"])
        rows.append(measure(0, workdir, namespace, bundles))
        for i in range(1, total + 1):
            # One lifecycle: create, start with captured output, exit, delete.
            id = f"life-{i}"
            ctr = client.new_container(id, spec(id, ["sh", "-c", f"echo out-{i}; echo err-{i} >&2"]))
            cap = stdio.Capture()
            task = ctr.new_task(attach_stdio=cap)
            task.start()
            assert task.wait(60).exit_code == 0
            assert cap.wait(30) and cap.stdout == f"out-{i}\n".encode(), cap.stdout
            assert cap.stderr == f"err-{i}\n".encode(), cap.stderr
            task.delete()
            ctr.delete()
            # One exec with captured output.
            ex = stdio.Capture()
            proc = host_task.exec(f"exec-{i}", dict(exec_spec, args=["echo", f"exec-{i}"]),
                                  attach_stdio=ex)
            assert proc.wait(60).exit_code == 0
            assert ex.wait(30) and ex.stdout == f"exec-{i}\n".encode(), ex.stdout
            proc.delete()
            del ctr, task, proc, cap, ex
            if i % every == 0:
                rows.append(measure(i, workdir, namespace, bundles))
                r = rows[-1]
                print(f"{i:5d}  fds {r['fds']}  threads {r['threads']}  handles {r['go_handles']}"
                      f"  goroutines {r['goroutines']}  rss {r['rss_kib'] / 1024:.1f} MiB"
                      f"  bundles {r['bundle_dirs']}  runc {r['runc_dirs']}  shims {r['shims']}"
                      f"  mounts {r['mounts']}  {r['time'] - started:.0f} s", flush=True)
        host_task.force_delete()
        host.delete()
        client.close()
    finally:
        sweep(daemon.address, str(bundles), namespace)
        daemon.stop()
        remove_runc_root(namespace)
        shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"total": total, "every": every, "rows": rows,
                               "seconds": time.monotonic() - started}, indent=1))


def verdict(data: dict[str, Any]) -> list[str]:
    """What grew over the last half of the run (empty: flat)."""
    rows = data["rows"]
    half = data["total"] // 2
    mid = next(r for r in rows if r["done"] >= half)
    last = rows[-1]
    bad = [f"{k}: {mid[k]} -> {last[k]}" for k in EXACT if last[k] != mid[k]]
    if last["threads"] - mid["threads"] > OS_THREAD_SLACK:
        bad.append(f"threads: {mid['threads']} -> {last['threads']}")
    if last["rss_kib"] - mid["rss_kib"] > RSS_SLACK_KIB:
        bad.append(f"rss: {mid['rss_kib']} KiB -> {last['rss_kib']} KiB")
    return bad


def render(src: Path, md: Path, png: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(src.read_text())
    rows = data["rows"]
    done = [r["done"] for r in rows]
    fig, axes = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for key in ["fds", "threads", "go_handles", "goroutines", "bundle_dirs", "runc_dirs",
                "shims", "mounts"]:
        axes[0].plot(done, [r[key] for r in rows], marker="o", label=key)
    axes[0].set_ylabel("count")
    axes[0].legend(ncol=4, fontsize=8)
    axes[0].set_title("pylibctrd soak: lifecycles + execs with captured output")
    axes[1].plot(done, [r["rss_kib"] / 1024 for r in rows], marker="o", color="black")
    axes[1].set_ylabel("RSS (MiB)")
    axes[1].set_xlabel("lifecycles done (and as many execs)")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    bad = verdict(data)
    header = ("| done | fds | OS threads | Python threads | Go handles | goroutines | RSS MiB "
              "| bundle dirs | runc dirs | shims | mounts | s |")
    lines = [header, "|" + " --- |" * 12]
    t0 = rows[0]["time"]
    for r in rows:
        lines.append(f"| {r['done']} | {r['fds']} | {r['threads']} | {r['python_threads']} "
                     f"| {r['go_handles']} | {r['goroutines']} | {r['rss_kib'] / 1024:.1f} "
                     f"| {r['bundle_dirs']} | {r['runc_dirs']} | {r['shims']} | {r['mounts']} "
                     f"| {r['time'] - t0:.0f} |")
    half = data["total"] // 2
    mid = next(r for r in rows if r["done"] >= half)
    last = rows[-1]
    md.write_text(f"""# Soak

`make soak` runs {data['total']:,} container lifecycles (create, start with
`stdio.Capture`, EXIT event, delete task and container) plus {data['total']:,}
execs with captured output (`echo`, in one long-running container) in one
process against a containerd of its own, and measures every {data['every']}
of each (after a gc and one second's pause): open fds, OS threads, Python
threads, Go handles (`_ffi.live_handles()`), goroutines (`_ffi.goroutines()`),
RSS, bundle dirs in the state dir, runc state dirs of its namespace, shims of
its namespace, and mounts under its dirs. The long-running container is
counted throughout (one bundle dir, one runc dir, one shim).

Pass: over the last {data['total'] - half:,} (from {half:,} to {data['total']:,}) fds,
Python threads, Go handles, goroutines, bundle dirs, runc dirs, shims and
mounts do not change at all, RSS grows less than 5 MiB, and OS threads by
at most {OS_THREAD_SLACK}: Go's runtime adds an OS thread when all of its
threads are blocked in syscalls or cgo calls at once and keeps it idle for
good, so a peak of concurrency can add one for the rest of the run (a leak
would add them steadily). Mounts count the host's mounts under the run's
dirs or namespace: the rootfs is a plain directory, so none are expected.

**Result: {"FLAT (pass)" if not bad else "GROWTH (fail): " + "; ".join(bad)}.**
RSS {mid['rss_kib'] / 1024:.1f} MiB at {half:,} and {last['rss_kib'] / 1024:.1f} MiB
at {data['total']:,} ({(last['rss_kib'] - mid['rss_kib']) / 1024:+.1f} MiB); the whole run
took {data['seconds']:.0f} s.

{chr(10).join(lines)}

![soak]({png.name})
""")
    print(md.read_text())
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--run", metavar="JSON", type=Path)
    mode.add_argument("--render", metavar="JSON", type=Path)
    parser.add_argument("--total", type=int, default=TOTAL)
    parser.add_argument("--every", type=int, default=EVERY)
    parser.add_argument("--md", type=Path, default=DOCS / "soak.md")
    args = parser.parse_args()
    if args.run:
        run(args.run, args.total, args.every)
        return 0
    return render(args.render, args.md, args.md.with_name("soak.png"))


if __name__ == "__main__":
    sys.exit(main())
