"""The pylibctrd side of the differential tests: runs a scenario through the
binding and returns the raw trace in the format go/cmd/refrunner prints."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pylibctrd
from pylibctrd import EventInfo, EventType, errors, stdio
from pylibctrd.removal import remove_container

Trace = list[dict[str, Any]]
PROCESS_EVENTS = {"exit", "create", "start"}
IMAGE_ID = re.compile(r"\{(id|hex|hex12):([^}]+)\}")
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
                "has_exited_at": info.exited_at is not None, "error": info.error,
            })
            self.cond.notify_all()

    def wait_for(self, container: str, event: str, process: str | None, timeout: float,
                 nth: int = 1) -> bool:
        """Wait until `nth` such events arrived; process None matches any.
        Those `nth` are then marked `waited` (see trace.py: an exit of a
        process force_delete killed is compared only if a step waited for it)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if e["container_id"] == container
                         and e["type"] == event and process in (None, e["process_id"])]
                if len(found) >= nth:
                    for e in found[:nth]:
                        e["waited"] = True
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
    """Holds what a scenario made. Parallel step groups use it from several
    threads; dict assignments are atomic, which is all they need."""

    def __init__(self, address: str, namespace: str, state_dir: str, rootfs: str,
                 prefix: str, images_dir: str = "", registry: str = "",
                 auth_registry: str = "") -> None:
        self.address, self.ns, self.state_dir = address, namespace, state_dir
        self.rootfs, self.prefix, self.images_dir = rootfs, prefix, images_dir
        self.registry, self.auth_registry = registry, auth_registry
        self.events = _Events()
        self.clients = {
            "main": self.connect(self.events),
            "second": self.connect(None),
        }
        self.containers: dict[str, pylibctrd.Container] = {}
        self.tasks: dict[str, pylibctrd.Task] = {}
        self.procs: dict[str, pylibctrd.Process] = {}
        self.io: dict[str, Any] = {}
        self.attached: list[Any] = []
        self.used: list[str] = []
        self.prepared: dict[str, str] = {}  # container -> mount point, released at cleanup
        # The pids of the execs started in each task (by the task's pid), and
        # the pids of every process force_delete (or replace_container, which
        # force-deletes the old task) killed: trace.py leaves their exits out
        # unless a step waited for them (containerd 2.x's shim may drop them).
        self.exec_pids: dict[int, list[int]] = {}
        self.killed: set[int] = set()

    def connect(self, backend: pylibctrd.Backend | None) -> pylibctrd.Client:
        return pylibctrd.Client.connect(self.address, namespace=self.ns,
                                        state_dir=self.state_dir, backend=backend)

    def id(self, name: str) -> str:
        return self.prefix + name

    @staticmethod
    def key(s: dict[str, Any]) -> str:
        return f"{s['container']}/{s['process']}" if s.get("process") else str(s["container"])

    def spec(self, s: dict[str, Any]) -> dict[str, Any]:
        """container_spec with the step's spec fields, as the Go runner applies them."""
        spec = pylibctrd.container_spec(self.rootfs, s.get("args") or [], terminal=s.get("tty", False),
                                        env=s.get("env"), cwd=s.get("cwd") or "/",
                                        cgroups_path="/pylibctrd-diff/" + self.id(s["container"]))
        if s.get("memory_limit"):
            limit = s["memory_limit"]
            spec["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
        if s.get("user") is not None:
            spec["process"]["user"] = s["user"]
        if s.get("rlimits") is not None:
            spec["process"]["rlimits"] = s["rlimits"]
        if s.get("readonly_rootfs"):
            spec["root"]["readonly"] = True
        patched: dict[str, Any] = merge_patch(spec, s.get("spec_patch"))
        return patched

    def image_spec(self, client: pylibctrd.Client, s: dict[str, Any]) -> dict[str, Any]:
        """container_spec(image=) on the rootfs prepared for the container
        (docker run's rules), then the step's other spec fields."""
        c = s["container"]
        rootfs = self.prepared.get(c) or os.path.join(
            self.state_dir + "-images", "rootfs", "overlayfs", self.id(c))
        spec = pylibctrd.container_spec(rootfs, s.get("args"), image=client.get_image(s["image"]),
                                        terminal=s.get("tty", False), env=s.get("env"),
                                        cwd=s.get("cwd"), user=s.get("user_name"),
                                        cgroups_path="/pylibctrd-diff/" + self.id(c))
        if s.get("memory_limit"):
            limit = s["memory_limit"]
            spec["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
        if s.get("rlimits") is not None:
            spec["process"]["rlimits"] = s["rlimits"]
        if s.get("readonly_rootfs"):
            spec["root"]["readonly"] = True
        patched: dict[str, Any] = merge_patch(spec, s.get("spec_patch"))
        return patched

    def ref(self, client: pylibctrd.Client, ref: str) -> str:
        """An image ref with {id:NAME}, {hex:NAME} or {hex12:NAME} replaced by
        that image's id (sha256:...), its hex or the hex's first 12 digits
        (after {registry}, {auth_registry} and {run}: registry_ref)."""
        def resolve(m: re.Match[str]) -> str:
            digest = client.get_image(m.group(2)).digest
            return {"id": digest, "hex": digest[7:], "hex12": digest[7:19]}[m.group(1)]
        return IMAGE_ID.sub(resolve, self.registry_ref(ref))

    def registry_ref(self, ref: str) -> str:
        """{registry}, {auth_registry} and {run} replaced by the test's
        registries' addresses and the runner's prefix."""
        return (ref.replace("{registry}", self.registry)
                .replace("{auth_registry}", self.auth_registry).replace("{run}", self.prefix))

    def checkpoint_dir(self, s: dict[str, Any]) -> str:
        if not s.get("checkpoint"):
            return ""
        return os.path.join(os.path.dirname(self.state_dir), "checkpoints", self.id(s["checkpoint"]))

    def attach(self, key: str, mode: str | None) -> Any:
        if mode == "none":
            return None  # the binding drains output natively and closes stdin
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

    def kill_all(self, container: str) -> None:
        """Note the pids a force delete of container's task (the one this
        runner holds, if any) kills: its own and its execs'."""
        task = self.tasks.get(container)
        if task is not None:
            self.killed |= {task.pid, *self.exec_pids.get(task.pid, [])}

    def use(self, container: str) -> None:
        if container not in self.used:
            self.used.append(container)

    def keep(self, src: str, alias: str) -> None:
        """The objects of container `src` also under `alias` (stale handles later)."""
        if src in self.containers:
            self.containers[alias] = self.containers[src]
        if src in self.tasks:
            self.tasks[alias] = self.tasks[src]
        for k, p in list(self.procs.items()):
            if k.startswith(src + "/"):
                self.procs[alias + k[len(src):]] = p

    def do(self, s: dict[str, Any]) -> Any:
        op, c = s["op"], s.get("container", "")
        client = self.clients[s.get("client") or "main"]
        if op in ("new_container", "replace_container"):
            self.use(c)
            if op == "replace_container":
                self.kill_all(c)
            create = client.new_container if op == "new_container" else client.replace_container
            spec = self.image_spec(client, s) if s.get("image") else self.spec(s)
            self.containers[c] = create(self.id(c), spec, runtime_options=s.get("runtime_options"),
                                        labels=s.get("labels"))
            return "ok"
        if op == "load_container":
            self.use(c)
            self.containers[c] = client.load_container(self.id(c))
            return "ok"
        if op == "keep":
            self.keep(c, s["as"])
            return "ok"
        if op == "close_client":
            client.close()
            return "ok"
        if op == "version":
            v = client.version()
            return {"version": v.version, "revision": v.revision}
        if op == "delete_container":
            self.containers[c].delete()
            return "ok"
        if op == "new_task":
            t = self.containers[c].new_task(checkpoint_dir=self.checkpoint_dir(s),
                                            with_stdin=s.get("stdin", False),
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
            if op == "force_delete":
                self.kill_all(c)
            getattr(self.tasks[c], op)()
            return "ok"
        if op == "status":
            return self.tasks[c].status().value
        if op == "stats":
            stats = self.tasks[c].stats()
            return _stats_values(stats.read is not None, stats.metrics)
        if op == "memory_limit":
            return _dig(self.tasks[c].stats().metrics, "memory", "usage", "limit")
        if op == "pids":
            return [{"pid": p.pid, "info": p.info} for p in self.tasks[c].pids()]
        if op == "summary":
            return len(self.tasks[c].summary())
        if op == "update_resources":
            resources = s.get("resources")
            if resources is None:
                resources = {"memory": {"limit": s.get("memory_limit", 0)}}
            self.tasks[c].update_resources(resources)
            return "ok"
        if op == "create_checkpoint":
            self.tasks[c].create_checkpoint(self.checkpoint_dir(s), exit=s.get("exit", False))
            return "ok"
        if op == "exec":
            container = dict(s, spec_patch=None)  # the patch is the process spec's
            spec = merge_patch(pylibctrd.process_spec(self.spec(container), s.get("args") or [],
                                                      terminal=s.get("tty", False)),
                               s.get("spec_patch"))
            p = self.tasks[c].exec(s["process"], spec, with_stdin=s.get("stdin", False),
                                   attach_stdio=self.attach(self.key(s), s.get("io")))
            self.procs[self.key(s)] = p
            self.exec_pids.setdefault(self.tasks[c].pid, []).append(p.pid)
            return {"pid": p.pid}
        if op == "kill":
            self.proc(s).kill(s.get("signal", 0))
            return "ok"
        if op == "resize":
            self.proc(s).resize(s["width"], s["height"])
            return "ok"
        if op in ("delete_task", "delete_process"):
            st = self.proc(s).delete()
            return {"exit_code": st.exit_code, "has_exited_at": st.exited_at is not None,
                    "error": st.error}
        if op == "write_stdin":
            # As a Python caller does: DirectIO.stdin is None without stdin.
            self.io[self.key(s)].stdin.write(s["data"].encode())
            return "ok"
        if op == "close_stdin":
            self.io[self.key(s)].stdin.close()
            return "ok"
        if op == "wait_event":
            # paused/resumed/oom carry no process id; exit/create/start default to the init process
            process = s.get("process") or (self.id(c) if s["event"] in PROCESS_EVENTS else None)
            if not self.events.wait_for(self.id(c), s["event"], process, 30, s.get("nth") or 1):
                raise _Timeout(f"timeout waiting for {s['event']}")
            return "ok"
        if op == "wait_output":
            if not self.io[self.key(s)].wait(15):
                raise _Timeout("timeout waiting for output")
            return "ok"
        if op == "sleep":
            time.sleep(s["seconds"])
            return "ok"
        if op == "import_image":
            return [_image(i) for i in client.import_image(
                os.path.join(self.images_dir, s["archive"]), name=s.get("name"))]
        if op == "images":
            return sorted((_image(i) for i in client.images()),
                          key=lambda i: (i["name"], i["digest"]))
        if op == "get_image":
            return _image(client.get_image(self.ref(client, s["ref"])))
        if op == "remove_image":
            client.remove_image(self.ref(client, s["ref"]))
            return "ok"
        if op == "prepare_rootfs":
            self.use(c)
            self.prepared.setdefault(c, "")
            path = client.prepare_rootfs(self.id(c), self.ref(client, s["ref"]))
            self.prepared[c] = path
            return path
        if op == "release_rootfs":
            client.release_rootfs(self.id(c))
            return "ok"
        if op in ("pull", "push"):
            actions: list[dict[str, str]] = []

            def progress(p: pylibctrd.Progress) -> None:
                actions.append({"id": p.id, "action": p.action})
            auth = s.get("auth")
            creds = pylibctrd.Auth(auth["username"], auth["password"]) if auth else None
            ref = self.registry_ref(s["ref"])
            if op == "pull":
                img = client.pull(ref, platform=s.get("platform"), auth=creds, progress=progress)
                return {"image": _image(img), "progress": actions}
            digest = client.push(ref, auth=creds, progress=progress)
            return {"digest": digest, "progress": actions}
        if op == "tag":
            client.tag(self.registry_ref(s["source"]), self.registry_ref(s["target"]))
            return "ok"
        if op == "rootfs":
            target = os.path.join(self.state_dir + "-images", "rootfs", "overlayfs", self.id(c))
            return {"mounts": _mounts_under(target),
                    "files": {p: _describe_file(os.path.join(target, p)) for p in s.get("paths", [])}}
        raise ValueError(f"unknown op {op!r}")

    def outcome(self, s: dict[str, Any]) -> dict[str, Any]:
        """A step's result, or its error: the binding's class, or the class of
        any other exception a caller would see (e.g. Python io's ValueError)."""
        try:
            if s["op"] == "parallel":
                return {"result": self.parallel(s["steps"])}
            return {"result": self.do(s)}
        except _Timeout as exc:
            return {"error": {"class": "Unknown", "message": str(exc)}}
        except Exception as exc:
            return {"error": {"class": type(exc).__name__, "message": str(exc)}}

    def parallel(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        """Runs the steps at once; each outcome's class, sorted (not the order)."""
        with ThreadPoolExecutor(len(steps)) as pool:
            done = list(pool.map(self.outcome, steps))
        return {"outcomes": sorted(f"{s['op']}:{o['error']['class'] if 'error' in o else 'ok'}"
                                   for s, o in zip(steps, done))}

    def files(self) -> dict[str, Any]:
        """Each bundle dir's entries (and "." itself) with owner and raw mode."""
        out: dict[str, Any] = {}
        for c in list(self.used):
            d = os.path.join(self.state_dir, self.id(c))
            if not _inside(self.state_dir, d):
                out[c] = "outside"  # not a bundle dir of the state dir
                continue
            try:
                names = os.listdir(d)
            except (FileNotFoundError, ValueError):  # ValueError: a NUL in the name
                out[c] = None
                continue
            out[c] = {n: _owner(os.path.join(d, n)) for n in [".", *names]}
        return out

    def records(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.used:
            try:
                r = subprocess.run(["ctr", "-a", self.address, "-n", self.ns, "containers",
                                    "info", self.id(c)], capture_output=True, text=True)
            except ValueError:  # a NUL in the id (Go's exec fails the same way)
                out[c] = None
                continue
            out[c] = json.loads(r.stdout) if r.returncode == 0 else None
        return out

    def run(self, steps: list[dict[str, Any]]) -> Trace:
        trace: Trace = []
        try:
            for i, s in enumerate(steps):
                line: dict[str, Any] = {"step": i, "op": s["op"], **self.outcome(s)}
                line["files"] = self.files()
                if s["op"] in RECORD_OPS:
                    line["record"] = self.records()
                trace.append(line)
            self.events.settle()
            # Output as bytes (hex), exactly as captured.
            outputs = {k: {"stdout": io.stdout.hex(), "stderr": io.stderr.hex()}
                       for k, io in self.io.items()}
            trace.append({"events": list(self.events.events), "outputs": outputs,
                          "killed": sorted(self.killed)})
        finally:
            self.cleanup()
        return trace

    def cleanup(self) -> None:
        """Removes what the scenario used, through a client of its own (the
        scenario may have closed its clients)."""
        with self.connect(None) as client:
            # Best effort: this runs in a finally, and the scenario's own
            # error must not be hidden by one of these.
            for c in self.used:
                remove_container(client, self.id(c), best_effort=True)
            # Images scenarios run in a namespace of their own, which the
            # test removes: every rootfs and image goes.
            for c in self.prepared:
                remove_container(client, self.id(c), rootfs=True, best_effort=True)
            if self.prepared or self.images_dir:
                for img in client.images():
                    try:
                        client.remove_image(img.name or img.digest)
                    except errors.Error:
                        pass
        for cl in self.clients.values():
            cl.close()
        # Bundle dirs libcontainerd made for ids containerd then refused
        # (empty; the Go runner removes its own the same way).
        for c in self.used:
            _remove_empty_bundle(self.state_dir, self.id(c))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null removes a member), as the Go runner
    applies a step's spec_patch."""
    if not isinstance(patch, dict):
        return patch if patch is not None or target is None else target
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _inside(base: str, path: str) -> bool:
    return os.path.normpath(path).startswith(os.path.normpath(base) + os.sep)


def _remove_empty_bundle(state_dir: str, id: str) -> None:
    """rmdir the bundle dir of id and its first component, if empty dirs."""
    for d in (os.path.join(state_dir, id), os.path.join(state_dir, id.split("/", 1)[0])):
        try:
            os.rmdir(os.path.normpath(d))
        except (OSError, ValueError):
            pass


def _owner(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "gone"
    return f"{st.st_uid}:{st.st_gid} {st.st_mode:o}"


CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels")


def _image(img: pylibctrd.Image) -> dict[str, Any]:
    """An Image as the trace compares it: the config fields docker run uses
    (absent or empty as None)."""
    return {"name": img.name, "digest": img.digest, "size": img.size,
            "config": {k: img.config.get(k) or None for k in CONFIG_FIELDS}}


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (\\040 for a space, ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(target: str) -> list[dict[str, Any]]:
    """The mountinfo entries at or below target: mount point (relative),
    root, per-mount options, optional fields without their peer group
    numbers, type, source and super options."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if "-" not in fields:
                continue
            sep = fields.index("-")
            if sep < 6 or len(fields) < sep + 4:
                continue
            rel = os.path.relpath(_unescape(fields[4]), target)
            if rel == ".." or rel.startswith("../"):
                continue
            out.append({"mountpoint": rel, "root": _unescape(fields[3]), "options": fields[5],
                        "optional": [o.split(":", 1)[0] for o in fields[6:sep]],
                        "fstype": fields[sep + 1], "source": _unescape(fields[sep + 2]),
                        "super": fields[sep + 3]})
    return out


def _describe_file(path: str) -> dict[str, Any]:
    """A path as a caller sees it: type, owner and mode, and a regular
    file's content (first 4 KiB, hex) or a symlink's target."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"type": "absent"}
    except OSError as exc:
        return {"type": "error", "error": str(exc)}
    out: dict[str, Any] = {"owner": _owner(path)}
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            out.update(type="file", content=f.read(4096).hex())
    elif stat.S_ISLNK(st.st_mode):
        out.update(type="symlink", target=os.readlink(path))
    elif stat.S_ISDIR(st.st_mode):
        out["type"] = "dir"
    else:
        out["type"] = "other"
    return out


def _dig(m: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(m, dict):
            return None
        m = m.get(p)
    return m


def _stats_values(has_read: bool, m: dict[str, Any]) -> dict[str, Any]:
    """The deterministic parts of Stats (cgroup v1 or v2 layout)."""
    limit = _dig(m, "memory", "usage", "limit")
    if limit is None:
        limit = _dig(m, "memory", "usage_limit")
    return {"has_read": has_read, "metrics": sorted(m), "memory_limit": limit,
            "pids_current": _dig(m, "pids", "current"), "pids_limit": _dig(m, "pids", "limit")}


class _Timeout(Exception):
    pass


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    for flag in ("address", "namespace", "state-dir", "rootfs", "prefix", "scenario"):
        p.add_argument("--" + flag, required=True)
    p.add_argument("--images", default="")
    p.add_argument("--registry", default="")
    p.add_argument("--auth-registry", default="")
    a = p.parse_args()
    with open(a.scenario) as f:
        steps = json.load(f)["steps"]
    for line in Runner(a.address, a.namespace, a.state_dir, a.rootfs, a.prefix,
                       a.images, a.registry, a.auth_registry).run(steps):
        sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
