"""Ctrl-C: SIGINT while the main thread is blocked in a pylibctrd call raises
KeyboardInterrupt at once (testing.PROMPT), cancels the Go call's context and leaks
nothing (no handle, no goroutine begun since the call: pylibctrd._leaks).
Each case runs in a child process, so that SIGINT goes to it alone."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import pytest

from pylibctrd.testing import PROMPT, Env, freeze, remove_container

CHILD = r'''
import dataclasses, json, sys, time
import pylibctrd
from pylibctrd import _leaks, stdio
from pylibctrd.testing import remove_container

case, address, namespace, bundles, rootfs, cid, other = sys.argv[1:8]

def say(line):
    print(line, flush=True)

def expect(word):
    line = sys.stdin.readline().strip()
    assert line == word, line

def spec(args):
    return pylibctrd.container_spec(rootfs, args, cgroups_path=f"/pylibctrd-test/{cid}")

# The connect case keeps no other client: its goroutines would blur the count.
client = None if case == "connect" else pylibctrd.Client.connect(
    address, namespace=namespace, state_dir=bundles, timeout=30)
ctr = task = None
streams = {}

def keep(dio):
    streams["dio"] = dio  # all of it: a dropped stdout would close its FIFO under the shim
    return dio

if case != "connect":
    ctr = client.new_container(cid, spec(["sleep", "60"]))
if case in ("exec", "task_wait", "stdin_write"):
    task = ctr.new_task(with_stdin=case == "stdin_write", attach_stdio=keep)
    task.start()
block = {
    "new_task": lambda: ctr.new_task(attach_stdio=stdio.Capture()),
    "exec": lambda: task.exec("e1", pylibctrd.process_spec(spec(["sh"]), ["true"])),
    "wait_for": lambda: pylibctrd.Recorder().wait_for(cid, pylibctrd.EventType.EXIT, timeout=30),
    "task_wait": lambda: task.wait(),
    "stdin_write": lambda: streams["dio"].stdin.write(b"x" * (1 << 20)),  # sleep never reads it
    "connect": lambda: pylibctrd.Client.connect(other, namespace=namespace, state_dir=bundles,
                                                timeout=30),
}[case]
before = _leaks.snapshot()
say("ready")
expect("go")
try:
    block()
    say("not interrupted")
except KeyboardInterrupt:
    raised = time.monotonic()  # CLOCK_MONOTONIC: the parent's clock too
    say(f"interrupted {raised!r}")
expect("resumed")
if case == "stdin_write":
    # The interrupted write goes on until the process reads or its stdin is
    # closed; closing it ends the write (and releases the stream's handle).
    streams["dio"].stdin.close()
    before = dataclasses.replace(before, handles=before.handles - 1)
say(json.dumps(_leaks.settle(before)))
if client is not None:
    remove_container(client, cid)
    client.close()
say("done")
'''

#: How long the child may take for any one line: its calls have 30 s timeouts.
LINE_TIMEOUT = 90


class Lines:
    """The child's output lines, each awaited with a timeout: a child that
    hangs fails the case instead of hanging the suite."""

    def __init__(self, stream: IO[str]) -> None:
        self.got: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self.pump, args=(stream,), daemon=True).start()

    def pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.got.put(line)
        self.got.put("")  # end of output

    def next(self) -> str:
        try:
            return self.got.get(timeout=LINE_TIMEOUT).strip()
        except queue.Empty:
            pytest.fail(f"the child wrote no line in {LINE_TIMEOUT} s")


# (case, whether containerd must be stopped for the call to block)
CASES = [("new_task", True), ("exec", True), ("wait_for", False), ("task_wait", False),
         ("stdin_write", False), ("connect", False)]


@pytest.mark.parametrize("case,needs_stopped", CASES, ids=[c for c, _ in CASES])
def test_ctrl_c_interrupts_a_blocked_call_at_once(env: Env, silent_socket: str, case: str,
                                                  needs_stopped: bool) -> None:
    if needs_stopped and env.daemon is None:
        pytest.skip("needs the containerd this session started (not --pylibctrd-address)")
    cid = f"i-{uuid.uuid4().hex[:12]}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, case, env.address, env.namespace, str(env.bundles),
         str(env.rootfs), cid, silent_socket],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    lines = Lines(child.stdout)
    stopped = None
    try:
        try:
            assert lines.next() == "ready"
            if needs_stopped:
                assert env.daemon is not None
                stopped = int((Path(env.daemon.state_dir) / "containerd.pid").read_text())
                freeze(stopped)
            child.stdin.write("go\n")
            child.stdin.flush()
            time.sleep(0.5)  # well into the blocking call
            sent = time.monotonic()
            child.send_signal(signal.SIGINT)
            word, _, raised = lines.next().partition(" ")
            assert word == "interrupted"
            # From the signal to the exception in the child: not the pipe back
            # nor the parent's own wake-up, which a busy machine delays.
            took = float(raised) - sent
            assert took < PROMPT, f"KeyboardInterrupt after {took * 1000:.0f} ms"
        finally:
            if stopped is not None:
                os.kill(stopped, signal.SIGCONT)
            try:
                child.stdin.write("resumed\n")
                child.stdin.flush()
            except BrokenPipeError:
                pass
        leaks = json.loads(lines.next())
        assert not leaks, "handles or goroutines leaked:\n\n" + "\n\n".join(leaks)
        assert lines.next() == "done"
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
            with env.connect() as client:  # what the child would have removed
                remove_container(client, cid)
