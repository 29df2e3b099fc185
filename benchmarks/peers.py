"""The three peers measured side by side, each in its own containerd namespace
(so that one peer's events never reach another's subscriber)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import pylibctrd
from pylibctrd import EventInfo, EventType, aio, stdio

from .worker import Server

ROOT = Path(__file__).resolve().parent.parent


def gobench_path(flavour: str | None = None) -> Path:
    """gobench at a flavour's Moby: build/gobench-<flavour> (default: the
    flavour of the library this process loads), so that both flavours' peers
    can run side by side (`make bench-flavours`)."""
    return ROOT / "build" / f"gobench-{flavour or pylibctrd.versions().flavour}"


def build_gobench(flavour: str | None = None) -> Path:
    """gobench at a flavour's Moby (go/go.<flavour>.flags, docs/flavours.md);
    default: the library measured."""
    flavour = flavour or pylibctrd.versions().flavour
    flags = [] if flavour == "v26" else [
        line.strip() for line in (ROOT / "go" / f"go.{flavour}.flags").read_text().splitlines()
        if line.strip() and not line.startswith("#")]
    out = gobench_path(flavour)
    subprocess.run(["go", "build", *flags, "-o", str(out), "./cmd/gobench"], cwd=ROOT / "go", check=True)
    return out


@dataclass
class Setup:
    address: str
    state_dir: str
    rootfs: str

    def spec(self, id: str, args: list[str]) -> dict[str, Any]:
        return pylibctrd.container_spec(self.rootfs, args, cgroups_path=f"/pylibctrd-bench/{id}")


class Peer(Protocol):
    """What every peer measures; latencies in ns, parallel workloads as wall ns."""

    name: str

    def version(self, n: int) -> list[int]: ...
    def load(self, n: int) -> list[int]: ...
    def create_delete(self, n: int) -> list[int]: ...
    def lifecycle(self, n: int) -> list[int]: ...
    def exec(self, n: int) -> list[int]: ...
    def threads_version(self, n: int, threads: int) -> int: ...
    def threads_lifecycle(self, n: int, threads: int) -> int: ...
    def events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]: ...
    def aio_version(self, n: int, concurrency: int) -> int: ...
    def aio_lifecycle(self, n: int, concurrency: int) -> int: ...
    def aio_events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]: ...
    def close(self) -> None: ...


def timed(n: int, op: Callable[[int], object]) -> list[int]:
    out = []
    for i in range(n):
        start = time.perf_counter_ns()
        op(i)
        out.append(time.perf_counter_ns() - start)
    return out


def parallel(total: int, threads: int, op: Callable[[int], object]) -> int:
    """Wall time (ns) for `total` ops spread over `threads` threads."""
    per = total // threads
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per):
                op(t * per + i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start = time.perf_counter_ns()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return time.perf_counter_ns() - start


class Subscriber:
    """Timestamps (wall clock ns) of the benchmark's published events."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.received: dict[str, int] = {}
        self.lock = threading.Lock()

    def saw(self, container_id: str) -> None:
        if container_id.startswith(self.prefix):
            now = time.time_ns()
            with self.lock:
                self.received[container_id] = now


def publish(setup: Setup, namespace: str, prefix: str, n: int, interval: str) -> dict[str, int]:
    return dict(run_gobench(gobench_argv(setup, namespace, prefix, "publish", n, "-interval", interval))["sent"])


class InProcessPeer:
    """What the two Python peers share: fresh container ids, and fixtures
    (made once, on first use) that close() removes, newest first."""

    id_prefix = ""

    def __init__(self, setup: Setup, namespace: str) -> None:
        self.setup, self.ns, self.seq = setup, namespace, 0
        self.load_id: str | None = None
        self.fixtures: list[Callable[[], object]] = []

    def name_(self) -> str:
        self.seq += 1
        return f"{self.id_prefix}-{self.seq}-{time.monotonic_ns() % 100000}"

    def remove_fixtures(self) -> None:
        for remove in reversed(self.fixtures):
            remove()


class PylibctrdPeer(InProcessPeer):
    name = "pylibctrd"
    id_prefix = "py"

    def __init__(self, setup: Setup, namespace: str) -> None:
        super().__init__(setup, namespace)
        self._cond = threading.Condition()
        self._exits: set[tuple[str, str]] = set()
        self.subscriber: Subscriber | None = None
        self.exec_task: pylibctrd.Task | None = None
        self.exec_process: dict[str, Any] = {}
        self.client = pylibctrd.Client.connect(setup.address, namespace=namespace,
                                               state_dir=setup.state_dir, backend=self)

    def process_event(self, container_id: str, event: EventType, info: EventInfo) -> None:
        if event is EventType.PAUSED:
            if self.subscriber is not None:
                self.subscriber.saw(container_id)
        elif event is EventType.EXIT:
            with self._cond:
                self._exits.add((container_id, info.process_id))
                self._cond.notify_all()

    def wait_exit(self, container_id: str, process_id: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: (container_id, process_id) in self._exits, 30):
                raise TimeoutError(f"no exit for {container_id}/{process_id}")
            self._exits.discard((container_id, process_id))

    def close(self) -> None:
        try:
            self.remove_fixtures()
        finally:
            self.client.close()

    # --- workloads ---------------------------------------------------------
    def version(self, n: int) -> list[int]:
        return timed(n, lambda _: self.client.version())

    def load(self, n: int) -> list[int]:
        if self.load_id is None:
            self.load_id = self.name_()
            self.fixtures.append(self.client.new_container(self.load_id, self.setup.spec(self.load_id, ["true"])).delete)
        id = self.load_id
        return timed(n, lambda _: self.client.load_container(id))

    def create_delete(self, n: int) -> list[int]:
        def op(_: int) -> None:
            id = self.name_()
            self.client.new_container(id, self.setup.spec(id, ["true"])).delete()
        return timed(n, op)

    def _lifecycle(self, id: str) -> None:
        ctr = self.client.new_container(id, self.setup.spec(id, ["true"]))
        task = ctr.new_task()
        task.start()
        self.wait_exit(id, id)
        task.delete()
        ctr.delete()

    def lifecycle(self, n: int) -> list[int]:
        return timed(n, lambda _: self._lifecycle(self.name_()))

    def _exec_fixture(self) -> tuple[pylibctrd.Task, dict[str, Any]]:
        if self.exec_task is None:
            id = self.name_()
            spec = self.setup.spec(id, ["sleep", "600"])
            ctr = self.client.new_container(id, spec)
            self.fixtures.append(ctr.delete)
            self.exec_task = ctr.new_task()
            self.fixtures.append(self.exec_task.force_delete)
            self.exec_task.start()
            self.exec_process = pylibctrd.process_spec(spec, ["echo", "hi"])
        return self.exec_task, self.exec_process

    def exec(self, n: int) -> list[int]:
        task, process = self._exec_fixture()

        def op(_: int) -> None:
            pid = self.name_()
            cap = stdio.Capture()
            proc = task.exec(pid, process, attach_stdio=cap)
            self.wait_exit(task.id, pid)
            cap.wait(10)
            assert cap.stdout == b"hi\n", cap.stdout
            proc.delete()

        return timed(n, op)

    def threads_version(self, n: int, threads: int) -> int:
        return parallel(n, threads, lambda _: self.client.version())

    def threads_lifecycle(self, n: int, threads: int) -> int:
        base = self.name_()
        return parallel(n, threads, lambda i: self._lifecycle(f"{base}-t{i}"))

    def events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        prefix = f"{self.name_()}-ev"
        self.subscriber = Subscriber(prefix)
        try:
            sent = publish(self.setup, self.ns, prefix, n, interval)
            _settle(self.subscriber, n)
            return sent, dict(self.subscriber.received)
        finally:
            self.subscriber = None


    # --- asyncio workloads: one aio.Client on a fresh loop per measurement ----
    def _aio(self, body: Callable[[aio.Client], Awaitable[int]]) -> int:
        async def main() -> int:
            async with await aio.Client.connect(self.setup.address, namespace=self.ns,
                                                state_dir=self.setup.state_dir) as client:
                return await body(client)

        return asyncio.run(main())

    def aio_version(self, n: int, concurrency: int) -> int:
        async def body(client: aio.Client) -> int:
            return await _concurrently(n, concurrency, lambda _: client.version())

        return self._aio(body)

    def aio_lifecycle(self, n: int, concurrency: int) -> int:
        base = self.name_()

        async def lifecycle(client: aio.Client, id: str) -> None:
            ctr = await client.new_container(id, self.setup.spec(id, ["true"]))
            task = await ctr.new_task()
            await task.start()
            await task.wait(30)
            await task.delete()
            await ctr.delete()

        async def body(client: aio.Client) -> int:
            return await _concurrently(n, concurrency,
                                       lambda i: lifecycle(client, f"{base}-a{i}"))

        return self._aio(body)

    def aio_events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        prefix = f"{self.name_()}-aev"
        sub = Subscriber(prefix)

        async def main() -> dict[str, int]:
            async with await aio.Client.connect(self.setup.address, namespace=self.ns,
                                                state_dir=self.setup.state_dir) as client:
                async def consume() -> None:
                    async with client.events() as events:
                        async for ev in events:
                            if ev.type is EventType.PAUSED:
                                sub.saw(ev.info.container_id)
                                if len(sub.received) >= n:
                                    return

                consumer = asyncio.ensure_future(consume())
                sent = await asyncio.to_thread(publish, self.setup, self.ns, prefix, n, interval)
                try:
                    await asyncio.wait_for(consumer, 30)
                except asyncio.TimeoutError:
                    pass
                return sent

        sent = asyncio.run(main())
        return sent, dict(sub.received)


async def _concurrently(total: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> int:
    """Wall time (ns) for `total` ops with `concurrency` in flight on this loop."""
    per = total // concurrency

    async def worker(w: int) -> None:
        for i in range(per):
            await op(w * per + i)

    start = time.perf_counter_ns()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter_ns() - start


def _settle(sub: Subscriber, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sub.received) < n and time.monotonic() < deadline:
        time.sleep(0.01)


class GrpcPeer(InProcessPeer):
    name = "grpcio"
    id_prefix = "grpc"

    def __init__(self, setup: Setup, namespace: str) -> None:
        from .grpc_driver import Driver

        super().__init__(setup, namespace)
        self.driver = Driver(setup.address, namespace, setup.state_dir)
        self.exec_id: str | None = None
        self.exec_process: dict[str, Any] = {}

    def close(self) -> None:
        try:
            self.remove_fixtures()
        finally:
            self.driver.close()

    def version(self, n: int) -> list[int]:
        return timed(n, lambda _: self.driver.version())

    def load(self, n: int) -> list[int]:
        if self.load_id is None:
            self.load_id = id = self.name_()
            self.driver.create(id, self.setup.spec(id, ["true"]))
            self.fixtures.append(lambda: self.driver.delete(id))
        id = self.load_id
        return timed(n, lambda _: self.driver.load(id))

    def create_delete(self, n: int) -> list[int]:
        def op(_: int) -> None:
            id = self.name_()
            self.driver.create(id, self.setup.spec(id, ["true"]))
            self.driver.delete(id)
        return timed(n, op)

    def lifecycle(self, n: int) -> list[int]:
        def op(_: int) -> None:
            id = self.name_()
            self.driver.lifecycle(id, self.setup.spec(id, ["true"]))
        return timed(n, op)

    def exec(self, n: int) -> list[int]:
        if self.exec_id is None:
            self.exec_id = id = self.name_()
            spec = self.setup.spec(id, ["sleep", "600"])
            fds = self.driver.start_task(id, spec)
            self.fixtures.append(lambda: self.driver.stop_task(id, fds))
            self.exec_process = pylibctrd.process_spec(spec, ["echo", "hi"])
        id = self.exec_id

        def op(_: int) -> None:
            out = self.driver.exec(id, self.name_(), self.exec_process)
            assert out == b"hi\n", out

        return timed(n, op)

    def threads_version(self, n: int, threads: int) -> int:
        return parallel(n, threads, lambda _: self.driver.version())

    def threads_lifecycle(self, n: int, threads: int) -> int:
        base = self.name_()
        return parallel(n, threads, lambda i: self.driver.lifecycle(
            f"{base}-t{i}", self.setup.spec(f"{base}-t{i}", ["true"])))

    def events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        sub = Subscriber(f"{self.name_()}-ev")
        self.driver.on_paused = sub.saw
        try:
            sent = publish(self.setup, self.ns, sub.prefix, n, interval)
            _settle(sub, n)
            return sent, dict(sub.received)
        finally:
            self.driver.on_paused = None


    def _aio(self, body: Callable[[Any], Awaitable[int]]) -> int:
        from .grpc_driver import AioDriver

        async def main() -> int:
            driver = AioDriver(self.setup.address, self.ns, self.setup.state_dir)
            try:
                return await body(driver)
            finally:
                await driver.close()

        return asyncio.run(main())

    def aio_version(self, n: int, concurrency: int) -> int:
        return self._aio(lambda d: _concurrently(n, concurrency, lambda _: d.version()))

    def aio_lifecycle(self, n: int, concurrency: int) -> int:
        base = self.name_()
        return self._aio(lambda d: _concurrently(
            n, concurrency, lambda i: d.lifecycle(f"{base}-a{i}", self.setup.spec(f"{base}-a{i}", ["true"]))))

    def aio_events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        from .grpc_driver import AioDriver

        sub = Subscriber(f"{self.name_()}-aev")

        async def main() -> dict[str, int]:
            driver = AioDriver(self.setup.address, self.ns, self.setup.state_dir)
            driver.on_paused = sub.saw
            try:
                await asyncio.sleep(0.2)  # the subscription is open
                sent = await asyncio.to_thread(publish, self.setup, self.ns, sub.prefix, n, interval)
                deadline = time.monotonic() + 30
                while len(sub.received) < n and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                return sent
            finally:
                await driver.close()

        sent = asyncio.run(main())
        return sent, dict(sub.received)


def gobench_argv(setup: Setup, namespace: str, prefix: str, workload: str, n: int, *extra: str,
                 binary: Path | None = None) -> list[str]:
    """A gobench command line; `binary`: gobench_path() when not given."""
    return [str(binary or gobench_path()), "-workload", workload, "-n", str(n), "-address", setup.address,
            "-namespace", namespace, "-state-dir", setup.state_dir, "-rootfs", setup.rootfs,
            "-prefix", prefix, *extra]


def run_gobench(argv: list[str]) -> dict[str, Any]:
    """A one-shot gobench process (fresh memory, or no client at all)."""
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    return dict(json.loads(out.stdout.splitlines()[-1]))


class GoPeer:
    """gobench: the same workloads in Go, calling libcontainerd directly. One
    serving process answers every measurement, so that its client is made once
    (as the Python peers' are) and the harness can interleave op by op.

    With locked=True each measurement runs on a goroutine locked to its OS
    thread, the condition every cgo callback (so every pylibctrd call) runs
    under: the floor a C-ABI binding over Go can reach.

    `flavour`: the Moby of its gobench (build_gobench(flavour)); default the
    loaded library's. `name`: the peer's name in the results."""

    def __init__(self, setup: Setup, namespace: str, locked: bool = False, flavour: str | None = None,
                 name: str | None = None) -> None:
        self.setup, self.ns, self.seq, self.locked = setup, namespace, 0, locked
        self.binary = gobench_path(flavour)
        self.name = name or ("go-locked" if locked else "go")
        self.server = Server("gobench serve", self._argv("serve", 0, namespace=namespace, prefix=f"{self.name}-s-"))
        if self.server.reply() != {"ready": True}:
            raise RuntimeError("gobench serve did not start")

    def _argv(self, workload: str, n: int, *extra: str, namespace: str = "", prefix: str = "") -> list[str]:
        if not prefix:
            self.seq += 1
            prefix = f"{self.name}-{self.seq}-{time.monotonic_ns() % 100000}-"
        return gobench_argv(self.setup, namespace or self.ns, prefix, workload, n, *extra, binary=self.binary)

    def _serve(self, workload: str, n: int, threads: int = 0) -> dict[str, Any]:
        return self.server.request({"workload": workload, "n": n, "threads": threads, "locked": self.locked})

    def ffi(self, workload: str, n: int) -> float:
        return float(run_gobench(self._argv(workload, n))["ns_per_op"])

    @staticmethod
    def memory(setup: Setup, namespace: str, n: int) -> tuple[int, int]:
        """RSS (KiB) of a fresh gobench after n/10 and n lifecycles."""
        r = run_gobench(gobench_argv(setup, namespace, "go-mem-", "memory", n))
        return int(r["rss_kib_at_10pct"]), int(r["rss_kib_at_end"])

    def close(self) -> None:
        """The server removes its fixtures and exits."""
        self.server.close()

    def version(self, n: int) -> list[int]:
        return list(self._serve("version", n)["ns"])

    def load(self, n: int) -> list[int]:
        return list(self._serve("load", n)["ns"])

    def create_delete(self, n: int) -> list[int]:
        return list(self._serve("create_delete", n)["ns"])

    def lifecycle(self, n: int) -> list[int]:
        return list(self._serve("lifecycle", n)["ns"])

    def exec(self, n: int) -> list[int]:
        return list(self._serve("exec", n)["ns"])

    def threads_version(self, n: int, threads: int) -> int:
        return int(self._serve("threads_version", n, threads)["wall_ns"])

    def threads_lifecycle(self, n: int, threads: int) -> int:
        return int(self._serve("threads_lifecycle", n, threads)["wall_ns"])

    def aio_version(self, n: int, concurrency: int) -> int:
        """Go's answer to an event loop: `concurrency` goroutines."""
        return self.threads_version(n, concurrency)

    def aio_lifecycle(self, n: int, concurrency: int) -> int:
        return self.threads_lifecycle(n, concurrency)

    def aio_events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        return self.events(n, interval)

    def events(self, n: int, interval: str) -> tuple[dict[str, int], dict[str, int]]:
        self.seq += 1
        prefix = f"{self.name}-{self.seq}-{time.monotonic_ns() % 100000}-"
        sub = subprocess.Popen(self._argv("subscribe", n, prefix=prefix), stdout=subprocess.PIPE, text=True)
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != "ready":
            sub.kill()
            raise RuntimeError("gobench subscriber did not start")
        sent = publish(self.setup, self.ns, prefix + "ev", n, interval)
        out, _ = sub.communicate(timeout=120)
        return sent, dict(json.loads(out)["received"])

