"""Normalises a raw trace (from either runner) so that two correct runs of
one scenario are byte-identical: ids lose the run prefix, paths and pids
become placeholders, events are grouped per container, records drop times."""

from __future__ import annotations

import json
from typing import Any

VOLATILE_RECORD_FIELDS = {"CreatedAt", "UpdatedAt"}


class _Normalizer:
    def __init__(self, prefix: str, paths: dict[str, str]) -> None:
        self.prefix = prefix
        self.paths = paths
        self.pids: dict[int, str] = {}

    def pid(self, value: int) -> str:
        if value == 0:
            return "0"
        return self.pids.setdefault(value, f"<pid{len(self.pids) + 1}>")

    def text(self, value: str) -> str:
        for path, name in self.paths.items():
            value = value.replace(path, name)
        return value.replace(self.prefix, "")

    def value(self, v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {k: self.value(x, k) for k, x in v.items() if k not in VOLATILE_RECORD_FIELDS}
        if isinstance(v, list):
            if key == "result":  # pids()
                return [self.pid(x) if isinstance(x, int) else self.value(x) for x in v]
            return [self.value(x) for x in v]
        if isinstance(v, str):
            return self.text(v)
        if key == "pid" and isinstance(v, int):
            return self.pid(v)
        return v

    def step(self, line: dict[str, Any]) -> dict[str, Any]:
        out = self.value(line)
        out["files"] = {c: sorted(f) if f is not None else None for c, f in out["files"].items()}
        return dict(out)

    def events(self, events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            container = self.text(e["container_id"])
            process = self.text(e["process_id"])
            grouped.setdefault(container, []).append({
                "type": e["type"],
                "process": "<init>" if process == container else process,
                "exit_code": e["exit_code"],
                "pid": self.pid(e["pid"]),
                "has_exited_at": e["has_exited_at"],
            })
        return dict(sorted(grouped.items()))


def normalize(raw: list[dict[str, Any]], prefix: str, paths: dict[str, str]) -> list[str]:
    """Canonical JSON lines: one per step, then events per container, then outputs."""
    n = _Normalizer(prefix, paths)
    lines = []
    for line in raw:
        if "step" in line:
            lines.append(json.dumps(n.step(line), sort_keys=True))
        else:
            lines.append(json.dumps({"events": n.events(line["events"])}, sort_keys=True))
            lines.append(json.dumps({"outputs": n.value(line["outputs"])}, sort_keys=True))
    return lines
