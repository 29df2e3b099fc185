"""Pull benchmark: a ~50 MB, five-layer image from a local docker-registry,
pulled and unpacked by pylibctrd (Moby's PullImage) vs `ctr pull` (containerd's
own client) on the same managed containerd, and skopeo (registry to a dir, no
containerd) for scale; interleaved in rounds, each pull from an empty store.

    python -m benchmarks.pull [--rounds 5] [--mb 50] [--write]

--write records {"pylibctrd_s", "ctr_s", "skopeo_s", "ratio_vs_ctr"} (medians)
under "registry_pull" in benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pylibctrd
from pylibctrd import imagebuild
from pylibctrd.imagebuild import Layer
from pylibctrd.testing import Registry

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--write", action="store_true")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pylibctrd-pullbench-") as tmp:
        work = Path(tmp)
        daemon = pylibctrd.Daemon.start(str(work / "root"), str(work / "state"))
        try:
            with Registry(work / "registry") as reg:
                per_layer = opts.mb * 1_000_000 // 5
                layers = [Layer(files={f"blob{i}": os.urandom(per_layer)}) for i in range(5)]
                built = imagebuild.build_image(work / "bench.tar", layers, name="bench:1")
                reg.copy_in(built.path, "bench/image:1")
                ref = f"{reg.address}/bench/image:1"
                results = run(daemon, ref, work, opts.rounds)
        finally:
            daemon.stop()
    med = {k: statistics.median(v) for k, v in results.items()}
    summary = {"pylibctrd_s": round(med["pylibctrd"], 3), "ctr_s": round(med["ctr"], 3),
               "skopeo_s": round(med["skopeo"], 3), "mb": opts.mb, "layers": 5,
               "rounds": opts.rounds,
               "ratio_vs_ctr": round(med["pylibctrd"] / med["ctr"], 3)}
    print(json.dumps(summary, indent=2))
    if opts.write:
        path = HERE / "results.json"
        data = json.loads(path.read_text())
        data["registry_pull"] = summary
        path.write_text(json.dumps(data, indent=1) + "\n")


def run(daemon: pylibctrd.Daemon, ref: str, work: Path, rounds: int) -> dict[str, list[float]]:
    ns = "pullbench"
    times: dict[str, list[float]] = {"pylibctrd": [], "ctr": [], "skopeo": []}
    ctr = ["ctr", "-a", daemon.address, "-n", ns]
    with pylibctrd.Client.connect(daemon.address, namespace=ns,
                                  state_dir=str(work / "bundles")) as client:
        def clean() -> None:
            for img in client.images():
                client.remove_image(img.name or img.digest)
            subprocess.run([*ctr, "images", "rm", "--sync", ref], capture_output=True)
            subprocess.run([*ctr, "content", "prune", "references"], capture_output=True)

        for _ in range(rounds):
            clean()
            t = time.perf_counter()
            client.pull(ref)
            times["pylibctrd"].append(time.perf_counter() - t)
            clean()
            t = time.perf_counter()
            subprocess.run([*ctr, "images", "pull", "--plain-http", "--snapshotter", "overlayfs", ref],
                           check=True, capture_output=True)
            times["ctr"].append(time.perf_counter() - t)
            target = work / "skopeo-dir"
            shutil.rmtree(target, ignore_errors=True)
            t = time.perf_counter()
            subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                            f"docker://{ref}", f"dir:{target}"], check=True, capture_output=True)
            times["skopeo"].append(time.perf_counter() - t)
        clean()
    return times


if __name__ == "__main__":
    main()
