"""Pause and resume on one containerd, every error printed (issue 21: no
`resume` of test_properties succeeded on containerd 2.4.2).

    flock /tmp/pylibctrd-suite.lock .venv/bin/python matrix/probe_pause_resume.py \\
        --containerd build/containerd/2.4.2/bin/containerd [--rounds 20] [--properties]

It starts that containerd (Daemon.start, in a temp dir of its own, with the
runc shim beside the binary, else the one on PATH) and runs busybox tasks:

- loop: a `sleep 60` task paused and resumed `--rounds` times, its status
  after each call;
- fresh: pause and resume at once after start, on a new `sleep 60` task
  each round;
- short: the same on tasks that exit at once (`true`; `sh -c "echo out;
  exit 3"`), as test_properties' tasks do;
- kill: a paused task killed (SIGKILL), then resumed;

and with `--properties` test_properties' state machine as `make test` runs
it (the same derandomized sequences: its class is patched at run time, not
edited, so its seed stays), printing every pause and resume with the rule,
the slot's command and the outcome, and the task's status after a failed
resume. The containerd log (its stderr) goes to `--log`. Everything it
made is removed at the end, pass or fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Callable

import pylibctrd
from pylibctrd import errors, stdio
from pylibctrd.removal import remove_container
from pylibctrd.testing import Containerd, Env

ROOT = Path(__file__).resolve().parents[1]
TALLY: Counter[tuple[str, str]] = Counter()


def outcome(what: str, fn: Callable[[], Any]) -> str:
    """Run one call; print and count its outcome ("ok" or class: message)."""
    try:
        fn()
    except errors.Error as exc:
        TALLY[what, type(exc).__name__] += 1
        return f"{type(exc).__name__}: {exc}"
    TALLY[what, "ok"] += 1
    return "ok"


def status(task: pylibctrd.Task) -> str:
    try:
        return task.status().value
    except errors.Error as exc:
        return f"({type(exc).__name__}: {exc})"


class Probe:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.events = pylibctrd.Recorder()
        self.client = env.connect(backend=self.events)
        self.made: list[str] = []

    def task(self, args: list[str], start: bool = True) -> tuple[str, pylibctrd.Task]:
        id = f"probe-{uuid.uuid4().hex[:8]}"
        self.made.append(id)
        ctr = self.client.new_container(id, self.env.spec(id, args))
        task = ctr.new_task(attach_stdio=stdio.Capture())
        if start:
            task.start()
        return id, task

    def remove(self, id: str) -> None:
        remove_container(self.client, id)

    def loop(self, rounds: int) -> None:
        id, task = self.task(["sleep", "60"])
        print(f"loop: {id} (sleep 60), status {status(task)}")
        for n in range(rounds):
            p = outcome("pause", task.pause)
            sp = status(task)
            r = outcome("resume", task.resume)
            print(f"  round {n}: pause {p} -> {sp}; resume {r} -> {status(task)}")
        self.remove(id)

    def fresh(self, rounds: int, args: list[str], what: str) -> None:
        print(f"{what}: {args}, a new task each round, pause and resume right after start")
        for n in range(rounds):
            id, task = self.task(args)
            p = outcome(f"{what} pause", task.pause)
            r = outcome(f"{what} resume", task.resume) if p == "ok" else "(not tried)"
            exits = [i.exit_code for e, i in self.events.of(id) if e == pylibctrd.EventType.EXIT]
            print(f"  round {n}: pause {p}; resume {r}; status {status(task)}; exits so far {exits}")
            self.remove(id)

    def kill_paused(self) -> None:
        id, task = self.task(["sleep", "60"])
        print(f"kill: {id}: pause {outcome('kill pause', task.pause)}, "
              f"kill 9 {outcome('kill kill', lambda: task.kill(signal.SIGKILL))}")
        try:
            info = self.events.wait_for(id, pylibctrd.EventType.EXIT, timeout=10)
            print(f"  exit {info.exit_code}")
        except TimeoutError as exc:
            print(f"  {exc}")
        print(f"  resume {outcome('kill resume', task.resume)}; status {status(task)}")
        self.remove(id)

    def close(self) -> None:
        for id in self.made:
            try:
                self.remove(id)
            except errors.Error:
                pass
        self.client.close()


# -- test_properties, instrumented -------------------------------------------

def load_properties() -> ModuleType:
    path = ROOT / "tests" / "integration" / "test_properties.py"
    spec = importlib.util.spec_from_file_location("test_properties", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["test_properties"] = mod  # inspect.getsource (the seed) finds it by module
    spec.loader.exec_module(mod)
    return mod


def rule_frame(frame: FrameType | None, rules: set[str]) -> FrameType | None:
    while frame is not None and frame.f_code.co_name not in rules:
        frame = frame.f_back
    return frame


def properties(env: Env) -> None:
    mod = load_properties()
    machine: Any = mod.Lifecycles
    rules = {name for name in dir(machine)
             if hasattr(getattr(machine, name), "hypothesis_stateful_rule")} | {"first_container"}
    original_attempt = machine.attempt
    commands: dict[str, list[str]] = {}  # container id -> args
    original_spec = env.spec
    step = [0]

    def spec(id: str, args: list[str], **kw: Any) -> dict[str, Any]:
        commands.setdefault(id, args)
        return original_spec(id, args, **kw)

    def attempt(self: Any, fn: Callable[[], Any], what: str = "") -> Any:
        got = original_attempt(self, fn, what)
        if what in ("", "create"):  # statuses(), and creates (their args are logged below)
            return got
        frame = rule_frame(sys._getframe(1), rules)
        rule = frame.f_code.co_name if frame is not None else "?"
        # on_task's frame (it picked the slot), else the rule's
        slot = sys._getframe(1).f_locals.get("slot")
        if slot is None and frame is not None:
            slot = frame.f_locals.get("slot")
        step[0] += 1
        res = "ok" if not isinstance(got, BaseException) else f"{type(got).__name__}: {got}"
        cmd = commands.get(self.id(slot)) if slot else None
        line = f"  [{step[0]}] {rule}: {what} {slot} {cmd or ''} -> {res}"
        if what in ("pause", "resume") or isinstance(got, BaseException) and what in ("kill", "start"):
            if what == "resume" and isinstance(got, BaseException) and slot in self.tasks:
                line += f"; status now {status(self.tasks[slot])}"
            print(line, flush=True)
        elif what in ("start", "kill", "delete_task", "force_delete", "new_task", "update_resources"):
            extra = f" sig={frame.f_locals.get('sig')}" if rule == "kill" and frame else ""
            print(line + extra, flush=True)
        return got

    original_init = machine.__init__

    def init(self: Any) -> None:
        original_init(self)
        print(f"example {self.prefix}", flush=True)

    machine.attempt = attempt
    machine.__init__ = init
    env.spec = spec  # type: ignore[method-assign]
    try:
        mod.test_random_call_sequences_keep_the_invariants(env)
        print("properties: passed")
    except AssertionError as exc:
        print(f"properties: FAILED: {str(exc)[:300]}")
    finally:
        machine.attempt = original_attempt
        machine.__init__ = original_init
    print("properties outcomes:", sorted((k, v) for k, v in mod.OUTCOMES.items()
                                         if k[0] in ("pause", "resume", "kill", "start")))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--containerd", required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--properties", action="store_true")
    p.add_argument("--no-basic", action="store_true", help="only --properties")
    p.add_argument("--log", default=None, help="containerd's stderr (default: the probe's)")
    args = p.parse_args()
    binary = os.path.abspath(args.containerd)
    if args.log:  # the supervisor's containerd writes to our fd 2
        fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
    os.environ["PATH"] = os.path.dirname(binary) + os.pathsep + os.environ.get("PATH", "")
    tmp = Path(tempfile.mkdtemp(prefix="ppr-"))
    namespace = f"pylibctrd-probe-{os.getpid()}"
    daemon = pylibctrd.Daemon.start(tmp / "root", tmp / "state", containerd=binary)
    containerd = Containerd(daemon.address, namespace, tmp / "work", daemon)
    containerd.bundles.mkdir(parents=True)
    env = Env(containerd, pylibctrd.busybox_rootfs(tmp / "rootfs"))
    with env.connect() as c:
        print(f"containerd {binary}: {c.version()}", flush=True)
    probe = Probe(env)
    try:
        if not args.no_basic:
            probe.loop(args.rounds)
            probe.fresh(args.rounds, ["sleep", "60"], "fresh")
            probe.fresh(args.rounds, ["true"], "short-true")
            probe.fresh(args.rounds, ["sh", "-c", "echo out; exit 3"], "short-sh")
            probe.kill_paused()
        if args.properties:
            properties(env)
    except Exception:
        traceback.print_exc()
    finally:
        probe.close()
        left = containerd.sweep()
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("tally:", sorted(TALLY.items()), f"(left behind and removed: {left})" if left else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
