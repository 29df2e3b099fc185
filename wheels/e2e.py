"""The end-to-end check `make test-wheels` runs inside each Debian root, with
the root's own CPython and the wheel pip installed there (stdlib only besides
pylibctrd): the versions, then a container run through this host's containerd
(exit code, output, events). Prints one JSON line; exits 1 on a failed check.

usage: e2e.py ADDRESS NAMESPACE STATE_DIR ROOTFS MACHINE EXPECTED_VERSIONS_JSON
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import sysconfig
import time

import pylibctrd
import pylibctrd.aio  # noqa: F401  (every module is in the wheel)
from pylibctrd import EventType, stdio

address, namespace, state_dir, rootfs, machine, expected_file = sys.argv[1:7]
with open(expected_file) as f:
    expected = json.load(f)
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        failures.append(what)


versions = dataclasses.asdict(pylibctrd.versions())
check(platform.machine() == machine, f"machine {platform.machine()} != {machine}")
check(pylibctrd.__file__.startswith(sysconfig.get_path("platlib")),
      f"{pylibctrd.__file__} is not the venv's copy")
check(versions["flavour"] == os.environ.get("PYLIBCTRD_FLAVOUR", "v26"),
      f"versions().flavour {versions['flavour']!r}, PYLIBCTRD_FLAVOUR {os.environ.get('PYLIBCTRD_FLAVOUR')!r}")
for key in ("pylibctrd", "flavour", "moby", "containerd", "go"):
    check(versions[key] == expected[key], f"versions().{key} {versions[key]!r} != {expected[key]!r}")
check(versions["python"] == platform.python_version(), f"versions().python {versions['python']}")

cid = f"wheel-{machine}-{versions['flavour']}"
events = pylibctrd.Recorder()
start = time.monotonic()
with pylibctrd.Client.connect(address, namespace=namespace, state_dir=state_dir,
                              backend=events) as client:
    daemon_version = client.version().version
    spec = pylibctrd.container_spec(rootfs, ["sh", "-c", "echo from-wheel; uname -m; exit 5"],
                                    cgroups_path=f"/pylibctrd-test/{namespace}")
    ctr = client.new_container(cid, spec)
    out = stdio.Capture()
    task = ctr.new_task(attach_stdio=out)
    task.start()
    exit_event = events.wait_for(cid, EventType.EXIT, timeout=60)
    out.wait(10)
    status = task.delete()
    ctr.delete()
took = time.monotonic() - start
seen = [str(e.value) for e, _ in events.of(cid)]

# The container runs natively on the host (x86_64) whatever the client's machine.
check(out.stdout.decode() == f"from-wheel\n{expected['host_machine']}\n",
      f"stdout {out.stdout!r}")
check(exit_event.exit_code == 5, f"exit event code {exit_event.exit_code}")
check(status.exit_code == 5, f"task.delete() exit code {status.exit_code}")
for wanted in ("create", "start", "exit"):
    check(wanted in seen, f"no {wanted!r} event in {seen}")

print(json.dumps({
    "machine": platform.machine(), "python": platform.python_version(),
    "versions": versions, "daemon": daemon_version, "stdout": out.stdout.decode(),
    "event_exit": exit_event.exit_code, "exit": status.exit_code, "events": seen,
    "seconds": round(took, 2), "failures": failures,
}))
sys.exit(1 if failures else 0)
