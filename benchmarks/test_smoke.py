"""A smoke run of the benchmark harness with tiny counts: every workload of the
pylibctrd peer and of the Go peers (plain and thread-locked) runs against the
session's containerd, the summary carries the ratios the report needs, and no
peer leaves a container behind. The grpcio peer needs protobuf<3.21, so it
lives in the benchmark's own environment (`make bench`) and is left out here.
It lives with the benchmarks (the test suite does not import them) and runs
on the pylibctrd pytest plugin's fixtures; `make test` runs it."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import __main__ as bench
from benchmarks.peers import GoPeer, Peer, PylibctrdPeer, Setup
from benchmarks.report import table
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
