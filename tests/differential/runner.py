"""The pylibctrd side of the differential tests: runs a scenario through the
binding and returns the raw trace in the format go/cmd/refrunner prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pylibctrd
from pylibctrd import EventInfo, EventType, errors, stdio

Trace = list[dict[str, Any]]
PROCESS_EVENTS = {"exit", "create", "start"}
RECORD_OPS = {"new_container", "replace_container", "delete_container", "load_container"}


class _Events:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[dict[str, Any]] = []

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        with self.cond:
            self.events.append({
                "type": event.value, "container_id": info.container_id,
                "process_id": info.process_id, "pid": info.pid, "exit_code": info.exit_code,
                "has_exited_at": info.exited_at is not None,
            })
            self.cond.notify_all()

    def wait_for(self, container: str, event: str, process: str | None, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(e["container_id"] == container and e["type"] == event
                       and process in (None, e["process_id"]) for e in self.events):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)

    def settle(self) -> None:
        """Wait until no event arrived for 300ms (at most 5s)."""
        deadline = time.monotonic() + 5
        last = len(self.events)
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if len(self.events) == last:
                return
            last = len(self.events)


class _Hold:
    """attach_stdio that keeps the streams open but never reads them."""

    def __init__(self) -> None:
        self.stdin: Any = None
        self.dio: pylibctrd.DirectIO | None = None

    def __call__(self, dio: pylibctrd.DirectIO) -> pylibctrd.DirectIO:
        self.dio, self.stdin = dio, dio.stdin
        return dio

    def wait(self, timeout: float) -> bool:
        return True

    stdout = stderr = b""


class Runner:
    def __init__(self, address: str, namespace: str, state_dir: str, rootfs: str,
                 prefix: str) -> None:
        self.address, self.ns, self.state_dir = address, namespace, state_dir
        self.rootfs, self.prefix = rootfs, prefix
        self.events = _Events()
        self.clients = {
            "main": pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir,
                                             backend=self.events),
            "second": pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir),
        }
        self.containers: dict[str, pylibctrd.Container] = {}
        self.tasks: dict[str, pylibctrd.Task] = {}
        self.procs: dict[str, pylibctrd.Process] = {}
        self.io: dict[str, Any] = {}
        self.attached: list[Any] = []
        self.used: list[str] = []

    def id(self, name: str) -> str:
        return self.prefix + name

    @staticmethod
    def key(s: dict[str, Any]) -> str:
        return f"{s['container']}/{s['process']}" if s.get("process") else str(s["container"])

    def spec(self, s: dict[str, Any]) -> dict[str, Any]:
        spec = pylibctrd.container_spec(self.rootfs, s.get("args", []), terminal=s.get("tty", False),
                                        cgroups_path="/pylibctrd-diff/" + self.id(s["container"]))
        if s.get("memory_limit"):
            limit = s["memory_limit"]
            spec["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
        return spec

    def attach(self, key: str, mode: str | None) -> Any:
        target = _Hold() if mode == "hold" else stdio.Capture()

        def on_attach(dio: pylibctrd.DirectIO) -> Any:
            # Like the Go runner, output is traced only once stdio was attached.
            self.io[key] = target
            # Keep every attachment alive: a collected stdin is closed (and
            # closing stdin is CloseIO); the Go runner never closes one implicitly.
            self.attached.append(target)
            return target(dio)

        return on_attach

    def proc(self, s: dict[str, Any]) -> pylibctrd.Process:
        return self.procs[self.key(s)] if s.get("process") else self.tasks[s["container"]]

    def use(self, container: str) -> None:
        if container not in self.used:
            self.used.append(container)

    def do(self, s: dict[str, Any]) -> Any:
        op, c = s["op"], s.get("container", "")
        client = self.clients[s.get("client") or "main"]
        if op in ("new_container", "replace_container"):
            self.use(c)
            create = client.new_container if op == "new_container" else client.replace_container
            self.containers[c] = create(self.id(c), self.spec(s), runtime_options=s.get("runtime_options"),
                                        labels=s.get("labels"))
            return "ok"
        if op == "load_container":
            self.use(c)
            self.containers[c] = client.load_container(self.id(c))
            return "ok"
        if op == "delete_container":
            self.containers[c].delete()
            return "ok"
        if op == "new_task":
            t = self.containers[c].new_task(with_stdin=s.get("stdin", False),
                                            attach_stdio=self.attach(c, s.get("io")))
            self.tasks[c] = t
            return {"pid": t.pid}
        if op == "task":
            self.tasks[c] = self.containers[c].task()
            return {"pid": self.tasks[c].pid}
        if op == "attach_task":
            self.tasks[c] = self.containers[c].attach_task(self.attach(c, s.get("io")))
            return {"pid": self.tasks[c].pid}
        if op in ("start", "pause", "resume", "force_delete"):
            getattr(self.tasks[c], op)()
            return "ok"
        if op == "status":
            return self.tasks[c].status().value
        if op == "stats":
            stats = self.tasks[c].stats()
            return {"has_read": stats.read is not None, "metrics": sorted(stats.metrics)}
        if op == "memory_limit":
            return self.tasks[c].stats().metrics["memory"]["usage"]["limit"]
        if op == "pids":
            return [p.pid for p in self.tasks[c].pids()]
        if op == "update_resources":
            self.tasks[c].update_resources({"memory": {"limit": s["memory_limit"]}})
            return "ok"
        if op == "exec":
            spec = pylibctrd.process_spec(self.spec(s), s["args"], terminal=s.get("tty", False))
            p = self.tasks[c].exec(s["process"], spec, with_stdin=s.get("stdin", False),
                                   attach_stdio=self.attach(self.key(s), s.get("io")))
            self.procs[self.key(s)] = p
            return {"pid": p.pid}
        if op == "kill":
            self.proc(s).kill(s.get("signal", 0))
            return "ok"
        if op == "resize":
            self.proc(s).resize(s["width"], s["height"])
            return "ok"
        if op in ("delete_task", "delete_process"):
            st = self.proc(s).delete()
            return {"exit_code": st.exit_code, "has_exited_at": st.exited_at is not None}
        if op == "write_stdin":
            self.io[self.key(s)].stdin.write(s["data"].encode())
            return "ok"
        if op == "close_stdin":
            self.io[self.key(s)].stdin.close()
            return "ok"
        if op == "wait_event":
            # paused/resumed/oom carry no process id; exit/create/start default to the init process
            process = s.get("process") or (self.id(c) if s["event"] in PROCESS_EVENTS else None)
            if not self.events.wait_for(self.id(c), s["event"], process, 30):
                raise _Timeout(f"timeout waiting for {s['event']}")
            return "ok"
        if op == "wait_output":
            if not self.io[self.key(s)].wait(15):
                raise _Timeout("timeout waiting for output")
            return "ok"
        if op == "sleep":
            time.sleep(s["seconds"])
            return "ok"
        raise ValueError(f"unknown op {op!r}")

    def files(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.used:
            try:
                out[c] = os.listdir(os.path.join(self.state_dir, self.id(c)))
            except FileNotFoundError:
                out[c] = None
        return out

    def records(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.used:
            r = subprocess.run(["ctr", "-a", self.address, "-n", self.ns, "containers", "info",
                                self.id(c)], capture_output=True, text=True)
            out[c] = json.loads(r.stdout) if r.returncode == 0 else None
        return out

    def run(self, steps: list[dict[str, Any]]) -> Trace:
        trace: Trace = []
        try:
            for i, s in enumerate(steps):
                line: dict[str, Any] = {"step": i, "op": s["op"]}
                try:
                    line["result"] = self.do(s)
                except (errors.Error, _Timeout) as exc:
                    cls = "Unknown" if isinstance(exc, _Timeout) else type(exc).__name__
                    line["error"] = {"class": cls, "message": str(exc)}
                line["files"] = self.files()
                if s["op"] in RECORD_OPS:
                    line["record"] = self.records()
                trace.append(line)
            self.events.settle()
            outputs = {k: {"stdout": io.stdout.decode("utf-8", "replace"),
                           "stderr": io.stderr.decode("utf-8", "replace")}
                       for k, io in self.io.items()}
            trace.append({"events": list(self.events.events), "outputs": outputs})
        finally:
            self.cleanup()
        return trace

    def cleanup(self) -> None:
        client = self.clients["main"]
        for c in self.used:
            try:
                ctr = client.load_container(self.id(c))
            except errors.NotFound:
                continue
            try:
                ctr.task().force_delete()
            except errors.Error:
                pass
            try:
                ctr.delete()
            except errors.Error:
                pass
        for cl in self.clients.values():
            cl.close()


class _Timeout(Exception):
    pass


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    for flag in ("address", "namespace", "state-dir", "rootfs", "prefix", "scenario"):
        p.add_argument("--" + flag, required=True)
    a = p.parse_args()
    with open(a.scenario) as f:
        steps = json.load(f)["steps"]
    for line in Runner(a.address, a.namespace, a.state_dir, a.rootfs, a.prefix).run(steps):
        sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
