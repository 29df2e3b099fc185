"""The differential trace normaliser: two correct runs of one scenario
(different id prefixes, paths, pids, times) normalise to the same lines,
and a real difference survives."""

from __future__ import annotations

import json
from typing import Any

from differential.trace import normalize


def raw(prefix: str, state: str, pids: tuple[int, int], event_type: str = "exit") -> list[dict[str, Any]]:
    c = f"{prefix}a"
    return [
        {"step": 0, "op": "new_container", "result": "ok",
         "files": {"a": {"config.json": "0:0 100644", f"{c}-stdout": "0:0 10700"}},
         "record": {"a": {"ID": c, "CreatedAt": "2026-01-01T00:00:00Z", "UpdatedAt": "x",
                          "Spec": {"root": {"path": f"{state}/rootfs"}}}}},
        {"step": 1, "op": "pids", "result": [{"pid": pids[0], "info": None},
                                             {"pid": pids[1], "info": None}],
         "files": {"a": None}, "pid": pids[0]},
        {"events": [
            {"type": "start", "container_id": c, "process_id": c, "pid": pids[0],
             "exit_code": 0, "has_exited_at": False, "error": None},
            {"type": "exec-added", "container_id": c, "process_id": f"{prefix}e1", "pid": 0,
             "exit_code": 0, "has_exited_at": False, "error": None},
            {"type": event_type, "container_id": c, "process_id": c, "pid": pids[0],
             "exit_code": 7, "has_exited_at": True, "error": None},
        ], "outputs": {"a": {"stdout": f"hi from {state}/{c}\n"}}},
    ]


def norm(prefix: str, state: str, pids: tuple[int, int], event_type: str = "exit") -> list[str]:
    return normalize(raw(prefix, state, pids, event_type), prefix, {state: "<state>"})


def test_two_correct_runs_are_byte_identical() -> None:
    go = norm("dg12ab-", "/tmp/go-run", (4242, 4250))
    py = norm("dp34cd-", "/var/other", (999, 1000))
    assert go == py


def test_placeholders_and_grouping() -> None:
    lines = [json.loads(line) for line in norm("dg12ab-", "/tmp/go-run", (4242, 4250))]
    first, pids, events, outputs = lines
    record = first["record"]["a"]
    assert record["ID"] == "a" and "CreatedAt" not in record and "UpdatedAt" not in record
    assert record["Spec"]["root"]["path"] == "<state>/rootfs"
    assert first["files"] == {"a": {"a-stdout": "0:0 10700", "config.json": "0:0 100644"}}
    assert [p["pid"] for p in pids["result"]] == ["<pid1>", "<pid2>"] and pids["pid"] == "<pid1>"
    assert [e["process"] for e in events["events"]["a"]] == ["<init>", "e1", "<init>"]
    assert [e["pid"] for e in events["events"]["a"]] == ["<pid1>", "0", "<pid1>"]
    assert outputs == {"outputs": {"a": {"stdout": "hi from <state>/a\n"}}}


def test_a_real_difference_survives() -> None:
    assert norm("p-", "/s", (1, 2)) != norm("p-", "/s", (1, 2), event_type="oom")


def test_snapshot_dirs_are_named_by_first_appearance() -> None:
    """containerd's snapshot numbers differ between runs; a layer shared by
    two rootfs keeps one name, and the layer order stays visible."""
    def run(root: str, ids: tuple[int, int, int, int]) -> list[str]:
        snap = root + "/io.containerd.snapshotter.v1.overlayfs/snapshots/"
        lower, init, upper, upper2 = ids
        mounts = [f"lowerdir={snap}{init}/fs:{snap}{lower}/fs,upperdir={snap}{upper}/fs",
                  f"lowerdir={snap}{init + 10}/fs:{snap}{lower}/fs,upperdir={snap}{upper2}/fs"]
        return normalize([{"step": 0, "op": "rootfs", "result": mounts, "files": {}}], "p-", {})
    one, other = run("/var/lib/c", (1, 7, 8, 9)), run("/tmp/x/root", (40, 52, 53, 60))
    assert one == other
    assert "lowerdir=<snapshots>/<s1>/fs:<snapshots>/<s2>/fs" in one[0]
    assert "lowerdir=<snapshots>/<s4>/fs:<snapshots>/<s2>/fs" in one[0]
    assert run("/r", (1, 7, 8, 9)) != run("/r", (1, 7, 8, 1))  # an upper that is a lower


def test_progress_is_compared_as_a_set_of_actions_without_sampled_ones() -> None:
    def pull(prefix: str, registry: str, order: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"step": 0, "op": "pull", "files": {}, "result": {
            "image": {"name": f"{registry}/diff/app:1"},
            "progress": [{"id": i, "action": a.format(r=registry, p=prefix)} for i, a in order]}}]
    one = [("1", "Pulling from diff/app"), ("abc", "Pulling fs layer"), ("def", "Pulling fs layer"),
           ("abc", "Downloading"), ("abc", "Download complete"), ("def", "Downloading"),
           ("def", "Downloading"), ("def", "Download complete"), ("", "Digest: sha256:00"),
           ("", "Status: Downloaded newer image for {r}/diff/app:1")]
    # Layers interleaved otherwise, Downloading seen a different number of times.
    two = [one[0], one[2], one[1], one[7], one[4], one[8], one[9]]
    a = normalize(pull("dg1-", "127.0.0.1:5001", one), "dg1-", {"127.0.0.1:5001": "<registry>"})
    b = normalize(pull("dp2-", "127.0.0.1:5001", two), "dp2-", {"127.0.0.1:5001": "<registry>"})
    assert a == b
    assert json.loads(a[0])["result"]["progress"] == sorted([
        ": Digest: sha256:00", ": Status: Downloaded newer image for <registry>/diff/app:1",
        "1: Pulling from diff/app", "abc: Download complete", "abc: Pulling fs layer",
        "def: Download complete", "def: Pulling fs layer"])
    # A missing deterministic action is a difference.
    three = [x for x in one if x != ("def", "Download complete")]
    c = normalize(pull("dp2-", "127.0.0.1:5001", three), "dp2-", {"127.0.0.1:5001": "<registry>"})
    assert a != c


def test_back_to_back_oom_events_count_as_one() -> None:
    def with_ooms(n: int) -> list[dict[str, Any]]:
        r = raw("p-", "/s", (1, 2))
        oom = {"type": "oom", "container_id": "p-a", "process_id": "", "pid": 0,
               "exit_code": 0, "has_exited_at": False, "error": None}
        r[-1]["events"][2:2] = [dict(oom) for _ in range(n)]
        return r

    once, twice = (normalize(with_ooms(n), "p-", {"/s": "<state>"}) for n in (1, 2))
    assert once == twice
    assert [e["type"] for e in json.loads(once[2])["events"]["a"]] == [
        "start", "exec-added", "oom", "exit"]
    assert once != normalize(with_ooms(0), "p-", {"/s": "<state>"})  # none is not one


def test_an_unwaited_exit_of_a_killed_process_is_left_out() -> None:
    """containerd 2.x may never publish the exit of a process a force delete
    killed: with its pid listed as killed, a run that has that exit and one
    that has not give the same lines, unless a step waited for the exit."""
    def run(exit: bool, killed: list[int], waited: bool = False) -> list[str]:
        r = raw("p-", "/s", (41, 42))
        if not exit:
            del r[-1]["events"][2]
        elif waited:
            r[-1]["events"][2]["waited"] = True
        r[-1]["killed"] = killed
        return normalize(r, "p-", {"/s": "<state>"})

    assert run(True, [41]) == run(False, [41])
    assert [e["type"] for e in json.loads(run(True, [41])[2])["events"]["a"]] == [
        "start", "exec-added"]
    # Another process killed, or none: that exit stays compared.
    assert run(True, [42]) != run(False, [42])
    assert run(True, []) != run(False, [])
    # Waited for (by a wait_event step): compared.
    assert run(True, [41], waited=True) != run(False, [41])
    # Only exits: another event of a killed pid stays.
    start_only = raw("p-", "/s", (41, 42))
    start_only[-1]["killed"] = [41]
    assert json.loads(normalize(start_only, "p-", {})[2])["events"]["a"][0]["type"] == "start"
