"""A smoke run of the benchmark harness with tiny counts: every workload of the
pylibctrd peer and of the Go peers (plain and thread-locked) runs against the
session's containerd, the summary carries the ratios the report needs, and no
peer leaves a container behind. The grpcio peer needs protobuf<3.21, so it
lives in the benchmark's own environment (`make bench`) and is left out here.
It lives with the benchmarks (the test suite does not import them) and runs
on the pylibctrd pytest plugin's fixtures; `make test` runs it.

`make bench-flavours` (benchmarks/flavours.py) is smoke-run the same way
where both flavours are built (`make build FLAVOUR=v28`; skipped otherwise):
a worker process per flavour beside its gobench, the "flavours" section and
the tables written into copies of results.json and the pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import __main__ as bench
from benchmarks import flavours
from benchmarks.peers import GoPeer, Peer, PylibctrdPeer, Setup
from benchmarks.report import table
from pylibctrd._ffi.native import built_flavours
from pylibctrd.testing import Env, sweep

TINY = {**bench.QUICK, "version": 4, "load": 4, "threads_version": 8, "threads_lifecycle": 2,
        "events": 5, "events_burst": 20, "ffi_nop": 100, "ffi_json": 100, "memory": 10,
        "aio_version_64": 64, "aio_lifecycle_16": 16, "aio_events": 5}


@pytest.fixture(scope="module")
def results(pylibctrd_env: Env) -> dict[str, Any]:
    env = pylibctrd_env
    bench.build_gobench()
    setup = Setup(env.address, str(env.bundles), str(env.rootfs))
    base = f"{env.namespace}-bench"
    namespaces = {"pylibctrd": f"{base}-py", "go": f"{base}-go", "go-locked": f"{base}-go-locked"}
    peers: list[Peer] = []
    try:
        peers.append(PylibctrdPeer(setup, namespaces["pylibctrd"]))
        peers.append(GoPeer(setup, namespaces["go"]))
        peers.append(GoPeer(setup, namespaces["go-locked"], locked=True))
        samples = bench.measure(peers, TINY, rounds=1)
        memory = {"pylibctrd": bench.memory_subprocess("pylibctrd", setup, f"{base}-mem-py", TINY["memory"]),
                  "go": GoPeer.memory(setup, f"{base}-mem-go", TINY["memory"])}
    finally:
        for p in peers:
            p.close()
        # sweep removes (and names) anything a peer left behind
        left = {ns: ids for ns in [*namespaces.values(), f"{base}-mem-py", f"{base}-mem-go"]
                if (ids := sweep(setup.address, setup.state_dir, ns))}
    assert left == {}, f"benchmark peers left containers: {left}"
    return bench.summarize(samples, memory, TINY, rounds=1)


def test_every_client_workload_has_ratios_against_both_go_peers(results: dict[str, Any]) -> None:
    for name in [*bench.LATENCY, *bench.THROUGHPUT]:
        w = results["workloads"][name]
        assert set(w["peers"]) == {"pylibctrd", "go", "go-locked"}, name
        assert w["ratio_vs_go"] > 0 and w["ratio_vs_go_locked"] > 0, name
        assert w["ratio_vs_grpc"] is None  # no grpcio peer in this run


def test_asyncio_workloads_have_ratios_against_go(results: dict[str, Any]) -> None:
    for name in bench.AIO:
        w = results["workloads"][name]
        assert set(w["peers"]) == {"pylibctrd", "go"}, name
        assert w["ratio_vs_go"] > 0, name


def test_events_arrive_without_loss(results: dict[str, Any]) -> None:
    for name in ("events", "events_burst", "aio_events"):
        peers = results["workloads"][name]["peers"]
        assert set(peers) == {"pylibctrd", "go"}
        assert all(p["lost"] == 0 for p in peers.values()), peers


def test_table_and_memory(results: dict[str, Any]) -> None:
    text = table(results)
    assert "| version | us (p50) |" in text and "go, locked thread" in text
    mem = results["workloads"]["memory"]["peers"]
    assert mem["pylibctrd"]["rss_kib_after_all"] > 0 and mem["go"]["rss_kib_after_all"] > 0
    assert results["workloads"]["ffi_nop"]["peers"]["pylibctrd"]["ns_per_op"] > 0


@pytest.fixture(scope="module")
def flavours_run(pylibctrd_env: Env, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if set(flavours.FLAVOURS) - set(built_flavours()):
        pytest.skip(f"make bench-flavours needs both flavours built (make build FLAVOUR=v28); "
                    f"built: {', '.join(built_flavours())}")
    env = pylibctrd_env
    setup = Setup(env.address, str(env.bundles), str(env.rootfs))
    section = flavours.run({w: TINY[w] for w in flavours.WORKLOADS}, rounds=1, setup=setup,
                           prefix=f"{env.namespace}-fl")
    out = tmp_path_factory.mktemp("flavours")
    pages: dict[str, Path] = {}
    for key, path in flavours.PAGES.items():
        pages[key] = out / path.name
        pages[key].write_text(f"before\n{flavours.BEGIN}\nold\n{flavours.END}\nafter\n")
    (out / "results.json").write_text('{"workloads": {}}\n')
    flavours.write(section, out / "results.json", pages)
    return section, out


def test_flavours_side_by_side(flavours_run: tuple[dict[str, Any], Path]) -> None:
    section, _ = flavours_run
    assert "left_behind" not in section, section["left_behind"]
    assert set(section["libraries"]) == {"v26", "v28"}
    assert {f: v["flavour"] for f, v in section["libraries"].items()} == {"v26": "v26", "v28": "v28"}
    assert section["libraries"]["v26"]["moby"] != section["libraries"]["v28"]["moby"]
    assert list(section["workloads"]) == list(flavours.WORKLOADS)
    for name, w in section["workloads"].items():
        for f in flavours.FLAVOURS:
            assert set(w[f]["peers"]) == {"pylibctrd", "go"}, name
            assert w[f]["ratio_vs_go"] > 0, name
        for peer in ("pylibctrd", "go"):
            ratio = w["v28_over_v26"][peer]
            assert ratio["of_medians"] > 0 and len(ratio["per_round"]) == 1, name
    assert len(section["load_average"]["end"]) == 3


def test_flavours_written(flavours_run: tuple[dict[str, Any], Path]) -> None:
    section, out = flavours_run
    assert json.loads((out / "results.json").read_text())["flavours"] == section
    docs = (out / "performance.md").read_text()
    assert docs.startswith(f"before\n{flavours.BEGIN}\n`make bench-flavours`, ") and "\nold\n" not in docs
    assert "| `version` p50 |" in docs and docs.endswith(f"{flavours.END}\nafter\n")
    assert "| workload | v26 / Go | v28 / Go | v28 / v26 |" in (out / "README.md").read_text()


def test_pages_have_the_markers() -> None:
    for path in flavours.PAGES.values():
        text = path.read_text()
        assert text.count(flavours.BEGIN) == 1 and text.count(flavours.END) == 1, path
