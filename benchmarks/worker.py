"""A pylibctrd peer in a process of its own. A process holds one Go runtime
and loads one library, so two libraries (the native and the manylinux2014
build, `make bench-zig`; the v26 and the v28 flavour, `make bench-flavours`)
are measured side by side by one harness as two worker processes.

The worker runs benchmarks.peers.PylibctrdPeer against the harness's
containerd and answers one JSON request line at a time: a workload of the
peer (`version`, `lifecycle`, `aio_version`, ...) with its arguments, or
`nop` (the bare C ABI crossing, as `make bench`'s ffi_nop), with the
result and the CPU time the worker spent on it (all its threads).
`WorkerPeer` is the harness's side: a `Peer` that `benchmarks.__main__
.measure` interleaves with the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent

# The worker's command: its interpreter's pylibctrd (a wheel's, in its venv),
# the checkout's benchmarks package appended to sys.path after site-packages
# (-I: no cwd, no PYTHON* variables), so that the checkout cannot shadow it.
COMMAND = "import sys; sys.path.append(sys.argv[1]); from benchmarks.worker import serve; serve(sys.argv[2:])"


def crossings(n: int) -> list[int]:
    """The C ABI alone (make bench's ffi_nop): ns per call, per 1,000 calls."""
    from pylibctrd import _ffi

    out = []
    for _ in range(max(1, n // 1000)):
        start = time.perf_counter_ns()
        for _ in range(1000):
            _ffi.call(_ffi.lib().pylibctrd_nop)
        out.append((time.perf_counter_ns() - start) // 1000)
    return out


def serve(argv: list[str]) -> None:
    """The worker: ADDRESS STATE_DIR ROOTFS NAMESPACE."""
    import pylibctrd

    from .peers import PylibctrdPeer, Setup

    address, state_dir, rootfs, namespace = argv
    peer = PylibctrdPeer(Setup(address, state_dir, rootfs), namespace)
    try:
        print(json.dumps({"file": pylibctrd.__file__,
                          "versions": dataclasses.asdict(pylibctrd.versions())}), flush=True)
        for line in sys.stdin:
            req = json.loads(line)
            cpu = time.process_time_ns()
            result = crossings(*req["args"]) if req["op"] == "nop" else getattr(peer, req["op"])(*req["args"])
            print(json.dumps({"result": result, "cpu": time.process_time_ns() - cpu}), flush=True)
    finally:
        peer.close()


class Server:
    """A process that answers each JSON request line with one JSON line
    (gobench serve, a worker); closing its stdin ends it."""

    def __init__(self, what: str, argv: list[str], **popen: Any) -> None:
        self.what = what
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **popen)

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.what} exited ({self.proc.wait()})")
        return dict(json.loads(line))

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def close(self) -> None:
        """Closing stdin makes the server remove its fixtures and exit."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WorkerPeer:
    """A PylibctrdPeer in a worker process run by `python` (default: this
    interpreter) with `env` (default: this process's environment), against
    the containerd at `address` (peers.Setup's fields), in its own namespace.
    `info`: the worker's pylibctrd (`file`) and its `versions()`. The
    harness's side imports no pylibctrd (`make bench-zig` runs it on the
    system's python3)."""

    def __init__(self, name: str, address: str, state_dir: str, rootfs: str, namespace: str,
                 python: str = sys.executable, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.server = Server(f"worker {name}", [os.path.abspath(python), "-I", "-c", COMMAND, str(ROOT), address,
                                                state_dir, rootfs, namespace],
                             cwd="/", env=None if env is None else dict(env))
        self.info = self.server.reply()

    def call(self, op: str, *args: int | str) -> tuple[Any, int]:
        """What the worker's op returned, and the worker's CPU ns for it."""
        reply = self.server.request({"op": op, "args": args})
        return reply["result"], int(reply["cpu"])

    def close(self) -> None:
        """The worker removes its fixtures and exits."""
        self.server.close()

    # --- benchmarks.peers.Peer ---------------------------------------------
    def version(self, n: int) -> list[int]:
        return list(self.call("version", n)[0])

    def load(self, n: int) -> list[int]:
        return list(self.call("load", n)[0])

    def create_delete(self, n: int) -> list[int]:
        return list(self.call("create_delete", n)[0])

    def lifecycle(self, n: int) -> list[int]:
        return list(self.call("lifecycle", n)[0])

    def exec(self, n: int) -> list[int]:
        return list(self.call("exec", n)[0])

    def threads_version(self, n: int, threads: int) -> int:
        return int(self.call("threads_version", n, threads)[0])

    def threads_lifecycle(self, n: int, threads: int) -> int:
        return int(self.call("threads_lifecycle", n, threads)[0])

    def aio_version(self, n: int, concurrency: int) -> int:
        return int(self.call("aio_version", n, concurrency)[0])

    def aio_lifecycle(self, n: int, concurrency: int) -> int:
        return int(self.call("aio_lifecycle", n, concurrency)[0])

    def events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        sent, received = self.call("events", n, interval)[0]
        return dict(sent), dict(received)

    def aio_events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        sent, received = self.call("aio_events", n, interval)[0]
        return dict(sent), dict(received)
