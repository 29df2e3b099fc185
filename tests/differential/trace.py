"""Normalises a raw trace (from either runner) so that two correct runs of
one scenario are byte-identical: ids lose the run prefix, paths and pids
become placeholders, events are grouped per container, records drop times.
In messages only two live figures are masked: runc's memory usage when a
limit is lowered below it, and per-process fd paths. Volatile figures
(VOLATILE_FIGURES: counts and times that depend on scheduling) are compared
by type and presence wherever they appear, whatever the scenario. The exit
of a process that a force delete killed is compared only if a step waited
for it ("Killed exits" below)."""

from __future__ import annotations

import json
import re
from typing import Any

VOLATILE_RECORD_FIELDS = {"CreatedAt", "UpdatedAt"}
# The only figures in messages that differ between two runs of the same Go code.
LIVE_FIGURES = [
    (re.compile(r"current usage: \d+, peak usage: \d+"), "current usage: <n>, peak usage: <n>"),
    (re.compile(r"/proc/self/fd/\d+"), "/proc/self/fd/<n>"),
]
# Result fields whose value depends on scheduling, not on the code under
# test: each becomes "<volatile TYPE>" (TYPE: int, float, str, null, ...), so
# only its type and presence are compared. pids_current is the cgroup's
# task count, which counts runc init's threads until it has exec'd the
# process (5 or 6 for a created task, from run to run).
VOLATILE_FIGURES = {"pids_current"}
# Progress actions Moby's pull and push report from a 100 ms ticker while
# bytes move (daemon/containerd/progress.go): whether and how often one is
# seen depends on timing, so they are left out. Every other action (Pulling
# fs layer, Download complete, Already exists, Pushed, Mounted from ...,
# Layer already exists) and message (Pulling from, Digest, Status, the
# pushed digest) is compared as the set of "id: action" lines: layers
# progress in parallel, so their interleaving is not compared either.
# Moby v28 adds "Extracting" from the same ticker, when it catches a layer's
# snapshot still active (the v28 flavour, docs/flavours.md).
SAMPLED_ACTIONS = {"Downloading", "Extracting", "Pushing", "Waiting"}
# overlayfs snapshot dirs (in mountinfo's lowerdir/upperdir/workdir): their
# numbers are containerd's sequence, so each becomes <sN> by first appearance
# in the run (a layer shared by two rootfs keeps one name).
SNAPSHOT_MARK = "/io.containerd.snapshotter.v1.overlayfs/snapshots/"
SNAPSHOT_DIR = re.compile(r"[^\s,:=\"]*/io\.containerd\.snapshotter\.v1\.overlayfs/snapshots/(\d+)")


# Killed exits: the exit of a process that a force delete killed (ForceDelete, or
# ReplaceContainer's of the old task: the runners list their pids as
# "killed") is compared only if a wait_event step waited for it. containerd
# 2.x's runc shim may never publish it: it unblocks Wait (SetExited) before it
# writes and fsyncs the exit status file, and only then queues the TaskExit,
# while ForceDelete's Delete makes the shim shut down, which drops events
# queued after it and exits without waiting for its publisher
# (cmd/containerd-shim-runc-v2/task/service.go handleProcessExit and send,
# pkg/shim/shim.go; containerd 1.6/1.7 queue the exit before Wait returns and
# wait for the publisher). So one run of a scenario has it and the next does
# not, in Go libcontainerd as in pylibctrd; COMPATIBILITY.md.


class _Normalizer:
    def __init__(self, prefix: str, paths: dict[str, str]) -> None:
        self.prefix = prefix
        self.paths = paths
        self.pids: dict[int, str] = {}
        self.snapshots: dict[str, str] = {}
        self.volatile: set[str] = set()  # the volatile figures met

    def pid(self, value: int) -> str:
        if value == 0:
            return "0"
        return self.pids.setdefault(value, f"<pid{len(self.pids) + 1}>")

    def snapshot(self, m: re.Match[str]) -> str:
        return "<snapshots>/" + self.snapshots.setdefault(m.group(1), f"<s{len(self.snapshots) + 1}>")

    def text(self, value: str) -> str:
        if SNAPSHOT_MARK in value:  # the regex is quadratic on long strings (output hex)
            value = SNAPSHOT_DIR.sub(self.snapshot, value)
        for path, name in self.paths.items():
            value = value.replace(path, name)
        for pattern, mask in LIVE_FIGURES:
            value = pattern.sub(mask, value)
        return value.replace(self.prefix, "")

    def value(self, v: Any, key: str = "") -> Any:
        if key == "progress" and isinstance(v, list):
            return sorted({self.text(f"{p['id']}: {p['action']}") for p in v
                           if p["action"] not in SAMPLED_ACTIONS})
        if isinstance(v, dict):
            # keys too: bundle files are named after ids
            # sorted: placeholders are numbered by first appearance, which
            # must not depend on the order a runner wrote the keys in
            return {self.text(k): self.value(x, k) for k, x in sorted(v.items())
                    if k not in VOLATILE_RECORD_FIELDS}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, str):
            return self.text(v)
        if key == "pid" and isinstance(v, int):
            return self.pid(v)
        if key in VOLATILE_FIGURES:
            self.volatile.add(key)
            return "<volatile " + ("null" if v is None else type(v).__name__) + ">"
        return v

    def step(self, line: dict[str, Any]) -> dict[str, Any]:
        return dict(self.value(line))

    def events(self, events: list[dict[str, Any]], unordered: bool = False,
               killed: frozenset[int] = frozenset()) -> dict[str, list[dict[str, Any]]]:
        # The other runner's, running at the same time in the namespace, are not ours.
        events = [e for e in events if e["container_id"].startswith(self.prefix)
                  and not (e["type"] == "exit" and e["pid"] in killed and not e.get("waited"))]
        if unordered:  # only scenarios that declare it (parallel groups)
            events.sort(key=lambda e: (e["container_id"], e["type"], e["process_id"],
                                       e["exit_code"]))
        grouped: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            container = self.text(e["container_id"])
            process = self.text(e["process_id"])
            seen = grouped.setdefault(container, [])
            # One out-of-memory kill gives 1 or 2 OOM events in the same run of
            # the same scenario: containerd sends one per wake-up of its cgroup
            # eventfd, which depends on when it is read. Back to back, they
            # count as one.
            if e["type"] == "oom" and seen and seen[-1]["type"] == "oom":
                continue
            seen.append({
                "type": e["type"],
                "process": "<init>" if process == container else process,
                "exit_code": e["exit_code"],
                "pid": self.pid(e["pid"]),
                "has_exited_at": e["has_exited_at"],
                "error": self.text(e["error"]) if e["error"] is not None else None,
            })
        return dict(sorted(grouped.items()))


def normalize(raw: list[dict[str, Any]], prefix: str, paths: dict[str, str],
              unordered_events: bool = False, volatile: set[str] | None = None) -> list[str]:
    """Canonical JSON lines: one per step, then events per container, then
    outputs. With unordered_events, each container's events are sorted (for
    scenarios whose parallel groups make the order a race). Exits of the
    pids the last line lists as "killed" are left out unless waited for
    ("Killed exits" above). The names of
    the volatile figures met are added to `volatile`."""
    n = _Normalizer(prefix, paths)
    lines = []
    for line in raw:
        if "step" in line:
            lines.append(json.dumps(n.step(line), sort_keys=True))
        else:
            killed = frozenset(line.get("killed") or ())
            lines.append(json.dumps({"events": n.events(line["events"], unordered_events, killed)},
                                    sort_keys=True))
            lines.append(json.dumps({"outputs": n.value(line["outputs"])}, sort_keys=True))
    if volatile is not None:
        volatile |= n.volatile
    return lines
