"""Helpers for tests that run real containers: what the pytest plugin
(`pylibctrd.pytest_plugin`) is made of, importable on their own.

`Containerd` is a test session's containerd (address, namespace, bundle
dir), `Env` adds the busybox rootfs; `remove_container` and `sweep` leave containerd as it was (no
container, task or shim left); `missing()` names what this machine lacks to
run containers; `frozen()` stops a process (containerd) for real;
`oci_version()` is the spec version the tests' containers carry
($PYLIBCTRD_TEST_OCI_VERSION), `crun_runtime()` crun's entry on this host.
Nothing here needs pytest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol

from . import errors
from .client import Client, Container
from .daemon import Daemon
from .events import Backend
from .healthrecord import read_health
from ._versions import versions
from .images import Image
from .removal import remove_container as remove_container
from .rootfs import find_busybox
from .runtimes import scripts_dir
from .services import Health, LogLine
from .spec import container_spec

# How soon an interrupted or cancelled call must return in a test. On an idle
# machine it takes milliseconds; the bound is wide because a test machine may
# be loaded far beyond 2x (one Ctrl-C took 307 ms under stress-ng plus three
# builds on 2 cores). The tests see an uninterrupted call anyway: it would
# block (on a frozen containerd, for ever) or complete (a pull stores its image).
PROMPT = 1.0

#: The binaries a managed containerd needs on PATH (the shim finds runc there).
CONTAINER_BINARIES = ("containerd", "containerd-shim-runc-v2", "runc")

#: Where the runc shim keeps a state dir per namespace.
RUNC_ROOT = Path("/run/containerd/runc")


def missing(*, managed: bool = True) -> list[str]:
    """What this machine lacks to run containers, as readable reasons (empty:
    nothing). With `managed=False` (an existing containerd given by address)
    only the local needs count: root, for the FIFOs and bundles the shim
    opens, and busybox for the rootfs."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (containers need uid 0)")
    if managed:
        reasons += [f"no {b} on PATH" for b in CONTAINER_BINARIES if shutil.which(b) is None]
    try:
        find_busybox()
    except FileNotFoundError:
        reasons.append("no busybox (Debian's busybox-static) for the rootfs")
    return reasons


def cgroup_hybrid_with_v2_controllers() -> bool:
    """Whether this host mounts cgroup v1 with a cgroup2 hierarchy that holds
    controllers (/sys/fs/cgroup/unified): runc copes, crun refuses every
    container ("cgroups in hybrid mode not supported, drop all controllers
    from cgroupv2")."""
    try:
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split())
    except OSError:
        return False


#: The test switch for the OCI runtime of every container made without runtime
#: options (make test-matrix's runtime column; tests/conftest.py).
RUNTIME_ENV = "PYLIBCTRD_TEST_RUNTIME"


def runtime_under_test() -> str:
    """The runtime the session's containers run under ($PYLIBCTRD_TEST_RUNTIME,
    else "runc"): for the few expectations that are the runtime's own words
    (COMPATIBILITY.md, "runc and crun")."""
    return os.environ.get(RUNTIME_ENV) or "runc"


def server_release(server_version: str) -> tuple[int, int]:
    """containerd's (major, minor) from its version as `Client.version()`
    gives it: "1.6.20~ds1" (Debian's), "v1.7.35", "v2.4.2" (its own builds).
    The per-server expectations below, and the tests', read it here."""
    major, minor = server_version.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


def drops_tasks_that_exited_while_down(server_version: str) -> bool:
    """Whether a containerd of `server_version` (`server_release`) deletes,
    when it starts, a task whose every process exited while it was down, and
    publishes no exit for it: 1.7 and 2.x do (their shim loader's "cleaning leaked shim process",
    containerd#6860; the exit status is lost with the shim), 1.6 does not
    (the task is STOPPED and `delete` gives the exit, as dockerd's restore
    reads it). docs/servers.md, "An exit while containerd is down"."""
    return server_release(server_version) >= (1, 7)


def unknown_suffix(server_version: str) -> str:
    """What containerd's client puts after the message of an error of class
    Unknown from a server of `server_version`: ": unknown", or "" for the
    v28 flavour (containerd's v2 client: errdefs' `errgrpc.ToNative`) on a
    containerd 2.x, which sends the message without the class's name. Go
    libcontainerd at the same Moby says the same (COMPATIBILITY.md)."""
    v2_server = server_release(server_version) >= (2, 0)
    return "" if versions().flavour == "v28" and v2_server else ": unknown"


#: The test switch for the OCI spec version of every container a test makes
#: (make test-matrix sets it under crun: matrix/run.py, tests/conftest.py).
OCI_VERSION_ENV = "PYLIBCTRD_TEST_OCI_VERSION"
# A version goes into a sed expression and a file name (crun_runtime).
_OCI_VERSION = re.compile(r"[0-9A-Za-z.+-]+")


def oci_version() -> str | None:
    """The `ociVersion` the tests' containers carry instead of Moby's
    ($PYLIBCTRD_TEST_OCI_VERSION; None: Moby's own). Debian 12's crun 1.8.1
    refuses Moby v26's 1.2.0 ("unknown version specified"), as it would under
    dockerd, so the matrix runs crun with 1.1.0. The one reading of the switch:
    `with_oci_version` and `crun_runtime(oci_version=...)` apply it."""
    version = os.environ.get(OCI_VERSION_ENV) or None
    if version is not None and not _OCI_VERSION.fullmatch(version):
        raise ValueError(f"{OCI_VERSION_ENV}={version!r} is no OCI spec version")
    return version


def with_oci_version(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec`, its `ociVersion` set to `oci_version()` when that is set
    (changed in place and returned)."""
    version = oci_version()
    if version is not None:
        spec["ociVersion"] = version
    return spec


# crun on a host that mounts cgroup v1 beside a cgroup2 hierarchy holding
# controllers, which crun refuses ("cgroups in hybrid mode not supported,
# drop all controllers from cgroupv2"; runc copes): in a private mount
# namespace, that hierarchy's controller list reads empty, so crun uses the
# v1 controllers as runc does. The host's view is untouched.
_CRUN_HYBRID = """exec unshare -m sh -c 'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec "$0" "$@"' {crun} "$@"
"""
# crun given specs at another version than the bundle's: the containers
# made in processes no test helper reaches (the CLI and its monitor, README
# examples) start from Moby's spec. Only create has a bundle (go-runc:
# `create --bundle DIR`); the first ociVersion of its config.json (the
# spec's first field as Go writes it) is rewritten there. The spec
# containerd keeps is untouched.
_CRUN_OCI = """prev= bundle=
for arg; do
    case "$prev" in --bundle|-b) bundle=$arg ;; esac
    case "$arg" in --bundle=*) bundle=${arg#--bundle=} ;; esac
    prev=$arg
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    sed -i '0,/"ociVersion"/s/"ociVersion": *"[^"]*"/"ociVersion":"{version}"/' "$bundle/config.json"
fi
"""


def crun_runtime(path: str = "crun", *, oci_version: str | None = None) -> dict[str, Any]:
    """dockerd's runtimes entry for crun on this host: `{"path": path}`, or
    the path of a wrapper script (under pylibctrd.runtimes.scripts_dir())
    that runs crun with the cgroup2 controllers hidden from it where crun
    refuses the host's cgroup layout and, with `oci_version`, with every
    bundle's spec at that version (see `oci_version()`)."""
    hybrid = cgroup_hybrid_with_v2_controllers()
    if not hybrid and oci_version is None:
        return {"path": path}
    crun = shutil.which(path) or path
    name, script = "crun", "#!/bin/sh\n"
    if oci_version is not None:
        if not _OCI_VERSION.fullmatch(oci_version):
            raise ValueError(f"{oci_version!r} is no OCI spec version")
        name += f"-oci-{oci_version}"
        script += _CRUN_OCI.replace("{version}", oci_version)
    if hybrid:
        name += "-hybrid-cgroups"
        script += _CRUN_HYBRID.replace("{crun}", crun)
    else:
        script += f'exec {crun} "$@"\n'
    # One file per variant: a session's default crun and a test's bare crun
    # are in use at once.
    wrapper = Path(scripts_dir()) / name
    if not wrapper.exists() or wrapper.read_text() != script:
        wrapper.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A name of its own per call: threads of one process (the conformance
        # kit's two runs) may write it at once, and each rename must find its file.
        tmp = wrapper.with_name(f".{wrapper.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(script)
        tmp.chmod(0o700)
        tmp.replace(wrapper)
    return {"path": str(wrapper)}


def freeze(pid: int, timeout: float = 10.0) -> None:
    """Stop process `pid` with SIGSTOP and return once every thread of it has
    stopped. kill() only starts a group stop: each thread stops when it next
    runs, and on a busy machine a thread of a "stopped" containerd can still
    answer a request milliseconds later (seen under stress-ng: an exec that
    was to hang got through)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while not _all_stopped(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} not stopped {timeout}s after SIGSTOP")
        time.sleep(0.001)


def _all_stopped(pid: int) -> bool:
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            state = stat.read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue  # a thread that just ended
        if state not in "tTZX":  # stopped (or traced), or ended
            return False
    return True


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Process `pid` stopped (freeze()) for the duration; SIGCONT after."""
    freeze(pid)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def sweep(address: str, state_dir: str, namespace: str) -> list[str]:
    """Remove every container left in `namespace` (tasks too, so that no
    shim outlives the run); returns the ids containerd listed."""
    with Client.connect(address, namespace=namespace, state_dir=state_dir) as client:
        ids = [r.id for r in client.list_containers()]
        for id in ids:
            remove_container(client, id)
    return ids


def remove_runc_root(namespace: str) -> None:
    """The runc shim keeps a state dir per namespace under its default root;
    drop it once empty, so that a run leaves nothing in /run."""
    try:
        (RUNC_ROOT / namespace).rmdir()
    except OSError:
        pass  # absent, or a runc container is still recorded there


class Containerd:
    """A test session's containerd: its address, the session's own namespace
    and bundle dir (`Client.connect(state_dir=...)`), and the `Daemon` when
    the session started it (None when it was given by address)."""

    def __init__(self, address: str, namespace: str, workdir: Path,
                 daemon: Daemon | None = None) -> None:
        self.address = address
        self.namespace = namespace
        self.workdir = workdir
        self.bundles = workdir / "bundles"
        self.daemon = daemon

    def connect(self, backend: Backend | None = None) -> Client:
        return Client.connect(self.address, namespace=self.namespace,
                              state_dir=str(self.bundles), backend=backend)

    def ctr(self, *args: str) -> str:
        """containerd's own CLI, to look at what containerd recorded."""
        return subprocess.run(["ctr", "-a", self.address, "-n", self.namespace, *args],
                              check=True, capture_output=True, text=True, timeout=30).stdout

    def container_info(self, id: str) -> dict[str, Any]:
        return dict(json.loads(self.ctr("containers", "info", id)))

    def leftovers(self) -> list[str]:
        """The containers containerd still has in this namespace."""
        with self.connect() as client:
            return [r.id for r in client.list_containers()]

    def sweep(self) -> list[str]:
        """Remove what is left in the namespace; the runc state dirs of this
        namespace and of any namespace named after it go too."""
        left = sweep(self.address, str(self.bundles), self.namespace)
        for d in RUNC_ROOT.glob(f"{self.namespace}*"):
            remove_runc_root(d.name)
        return left


class Env(Containerd):
    """A containerd and the busybox rootfs containers are made from."""

    def __init__(self, containerd: Containerd, rootfs: Path) -> None:
        super().__init__(containerd.address, containerd.namespace, containerd.workdir,
                         containerd.daemon)
        self.rootfs = rootfs

    def spec(self, id: str, args: list[str], **kw: Any) -> dict[str, Any]:
        """A busybox container spec; its cgroup is named after the container,
        its version is `oci_version()`'s when that is set."""
        kw.setdefault("cgroups_path", f"/pylibctrd-test/{id}")
        return with_oci_version(container_spec(self.rootfs, args, **kw))


class MakeContainer(Protocol):
    """The `pylibctrd_container` fixture: `make(args, **spec_kw)` creates a
    busybox container (spec from `container_spec`, at `oci_version()` when
    $PYLIBCTRD_TEST_OCI_VERSION is set) that is removed, with its task and
    execs, after the test. With `image=` (an `Image`, e.g.
    `pylibctrd_image`) its rootfs is prepared from that image (`args=None`:
    the image's command) and released after the test."""

    def __call__(self, args: list[str] | None, *, id: str | None = None,
                 **spec_kw: Any) -> Container: ...


class ContainerFactory:
    """What `pylibctrd_container` yields; `cleanup()` force-deletes all it made."""

    def __init__(self, env: Env, client: Client) -> None:
        self.env = env
        self.client = client
        self.made: list[str] = []
        self.prepared: list[str] = []

    def __call__(self, args: list[str] | None, *, id: str | None = None,
                 **spec_kw: Any) -> Container:
        id = id or f"t-{uuid.uuid4().hex[:12]}"
        self.made.append(id)  # before creating: a half-made container is removed too
        image: Image | None = spec_kw.get("image")
        if image is None:
            if args is None:
                raise TypeError("args are needed without an image")
            return self.client.new_container(id, self.env.spec(id, args, **spec_kw))
        rootfs = self.client.prepare_rootfs(id, image.name or image.digest)
        self.prepared.append(id)
        spec_kw.setdefault("cgroups_path", f"/pylibctrd-test/{id}")
        return self.client.new_container(id, with_oci_version(container_spec(rootfs, args,
                                                                             **spec_kw)))

    def cleanup(self) -> None:
        # A fresh client: the test may have closed its own. Releasing a rootfs
        # another client prepared is fine (the mount and lease are shared state).
        with self.env.connect() as cleaner:
            for id in self.made:
                remove_container(cleaner, id)
            for id in self.prepared:  # unless the test released it
                remove_container(cleaner, id, rootfs=True)


class SessionImages:
    """What `pylibctrd_images` yields: `load(archive, *, name=None)` imports
    an image archive once per session (the same path and name again returns
    the same list); `remove_all()` removes every image it imported."""

    def __init__(self, containerd: Containerd) -> None:
        self.containerd = containerd
        self.loaded: dict[tuple[Path, str | None], list[Image]] = {}

    def __call__(self, archive: str | os.PathLike[str], *, name: str | None = None) -> list[Image]:
        key = (Path(archive).resolve(), name)
        if key not in self.loaded:
            with self.containerd.connect() as client:
                self.loaded[key] = client.import_image(key[0], name=name)
        return self.loaded[key]

    def pull(self, ref: str, *, platform: str | None = None) -> Image:
        """Pull ref once per session (credentials from the docker config)."""
        key = (Path("registry:" + ref), platform)
        if key not in self.loaded:
            with self.containerd.connect() as client:
                self.loaded[key] = [client.pull(ref, platform=platform)]
        return self.loaded[key][0]

    def remove_all(self) -> None:
        with self.containerd.connect() as client:
            for images in self.loaded.values():
                for image in images:
                    try:
                        client.remove_image(image.name or image.digest)
                    except errors.NotFound:
                        pass  # a test removed it, or another name's removal did
        self.loaded.clear()


def release_prepared(containerd: Containerd) -> list[str]:
    """Release every rootfs still prepared under the session's bundle dir
    (removing the containers on them first); returns their ids."""
    mounts = Path(f"{containerd.bundles}-images") / "rootfs" / "overlayfs"
    ids = sorted(p.name for p in mounts.iterdir()) if mounts.is_dir() else []
    if ids:
        with containerd.connect() as client:
            for id in ids:
                remove_container(client, id, rootfs=True)
    return ids


# Readiness: wait until a container says it is ready.


class NotReady(errors.Deadline):
    """A readiness wait gave up (a `TimeoutError`); the message shows the
    container's last log lines."""


def _last_lines(container: Container, n: int = 10) -> str:
    try:
        lines = list(container.client.logs(container.id, tail=n))
    except errors.Error as err:
        return f"  (no log: {err})"
    if not lines:
        return "  (the log is empty)"
    return "\n".join(f"  {line.stream}: {line.data.decode('utf-8', 'replace').rstrip()}"
                     for line in lines)


def wait_for_log(container: Container, pattern: str | re.Pattern[str],
                 timeout: float = 30.0) -> LogLine:
    """Wait until a line of the container's log (written by `stdio.Log`)
    matches `pattern` (a regex, searched in each line) and return it; raise
    `NotReady` with the last lines after `timeout` seconds, or when the
    output ends without a match."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    deadline = time.monotonic() + timeout
    with container.client.logs(container.id, follow=True) as reader:
        while (left := deadline - time.monotonic()) > 0:
            lines = reader.read(timeout=left)
            if lines is None:
                raise NotReady(f"{container.id}: the output ended without a line matching "
                               f"{regex.pattern!r}; last lines:\n{_last_lines(container)}")
            for line in lines:
                if regex.search(line.data.decode("utf-8", "replace")):
                    return line
    raise NotReady(f"{container.id}: no line matched {regex.pattern!r} within {timeout:g} s; "
                   f"last lines:\n{_last_lines(container)}")


def wait_healthy(container: Container, timeout: float = 60.0, *,
                 poll: float = 0.1) -> Health:
    """Wait until the container's health check says healthy and return its
    state; raise `NotReady` (with the last probe results and log lines) when
    it turns unhealthy, probing ends, or after `timeout`. The check is this
    client's (`task.start_health`, followed result by result), else the one
    its monitor runs and records (`run -d` with a HEALTHCHECK or
    `--health-cmd`, `pylibctrd.healthrecord`: read every `poll` seconds), so
    `wait_healthy(client.load_container(id))` works from any process;
    `NotFound` when neither probes it."""
    task = container.task()
    deadline = time.monotonic() + timeout
    seq = 0
    while True:
        left = deadline - time.monotonic()
        try:
            update = task.watch_health(seq, timeout=max(0.0, left))
            health, seq, ended = update.health, update.seq, update.ended
            recorded = False
        except errors.NotFound:
            record = read_health(container.client.state_dir, container.id)
            if record is None:
                raise errors.NotFound(f"{container.id}: no health check runs for it (neither"
                                      " this client's start_health nor a monitor's)") from None
            health, ended, recorded = record.health, record.ended or not record.alive, True
        if health.status == "healthy":
            return health
        if health.status == "unhealthy" or ended or time.monotonic() >= deadline:
            why = ("is unhealthy" if health.status == "unhealthy" else
                   f"stopped being probed while {health.status}" if ended else
                   f"is still {health.status} after {timeout:g} s")
            probes = "\n".join(f"  exit {r.exit_code}: {r.output.rstrip()}" for r in health.log)
            raise NotReady(f"{container.id} {why}; last probes:\n{probes or '  (none yet)'}\n"
                           f"last lines:\n{_last_lines(container)}")
        if recorded:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


class Readiness:
    """What the pytest plugin's `pylibctrd_ready` fixture gives."""

    wait_for_log = staticmethod(wait_for_log)
    wait_healthy = staticmethod(wait_healthy)

# --- registries ---------------------------------------------------------------------------

#: The tools registry tests need: Debian's docker-registry (distribution 2.8),
#: skopeo (a third-party client that writes images into it) and openssl.
REGISTRY_TOOLS = ("docker-registry", "skopeo", "openssl")


def free_port(host: str = "127.0.0.1") -> int:
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for an htpasswd file (the only scheme distribution takes)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class Registry:
    """Debian's `docker-registry` on a free port of `host`, its config and
    data under `workdir`; optionally with htpasswd auth (`users`) and TLS
    (`cert`, `key`: PEM files), optionally inside network namespace `netns`.
    `stop()` (or leaving `with`) kills it; its files go with `workdir`."""

    def __init__(self, workdir: str | os.PathLike[str], *, host: str = "127.0.0.1",
                 port: int | None = None, users: dict[str, str] | None = None,
                 cert: str | None = None, key: str | None = None, netns: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data = self.workdir / "data"
        self.port = port or free_port(host if netns is None else "127.0.0.1")
        self.host = host
        self.address = f"{host}:{self.port}"
        self.tls = cert is not None
        self._netns = netns
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.data}",
                 "  delete:", "    enabled: true", "http:", f"  addr: {self.address}"]
        if cert is not None:
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if users:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: pylibctrd-test", f"    path: {htpasswd}"]
        self.config = self.workdir / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Registry:
        import time
        cmd = ["docker-registry", "serve", str(self.config)]
        if self._netns is not None:
            cmd = ["ip", "netns", "exec", self._netns, *cmd]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"docker-registry exited: {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not listen on {self.address}")
            time.sleep(0.02)
        return self

    def _listening(self) -> bool:
        import socket
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the registry (SIGKILL: also what the fault tests need)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
        self._proc = None

    def blob_path(self, digest: str) -> Path:
        algo, hexd = digest.split(":", 1)
        return (self.data / "docker" / "registry" / "v2" / "blobs" / algo / hexd[:2] / hexd
                / "data")

    def copy_in(self, archive: str | os.PathLike[str], ref: str, *,
                creds: tuple[str, str] | None = None, cert_dir: str | None = None) -> None:
        """`skopeo copy docker-archive:ARCHIVE docker://ADDRESS/REF`."""
        cmd = ["skopeo", "copy", "--quiet"]
        if cert_dir is not None:
            cmd.append(f"--dest-cert-dir={cert_dir}")
        else:
            cmd.append("--dest-tls-verify=false")
        if creds is not None:
            cmd.append(f"--dest-creds={creds[0]}:{creds[1]}")
        cmd += [f"docker-archive:{os.fspath(archive)}", f"docker://{self.address}/{ref}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> Registry:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class VethNetns:
    """A network namespace of the test's own with a veth pair to it: the
    host side `host_ip`, the namespace side `ns_ip` (10.x, off loopback,
    which Moby would treat as an insecure registry). `close()` deletes the
    namespace, which deletes the pair."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        octet = int(tag[:2], 16) % 250 + 1
        self.name = f"pylibctrd-reg-{tag}"
        self.host_ip, self.ns_ip = f"10.199.{octet}.1", f"10.199.{octet}.2"
        host_if, ns_if = f"prh{tag}", f"prn{tag}"

        def ip(*args: str) -> None:
            subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)
        ip("netns", "add", self.name)
        try:
            ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            ip("link", "set", ns_if, "netns", self.name)
            ip("addr", "add", f"{self.host_ip}/30", "dev", host_if)
            ip("link", "set", host_if, "up")
            ip("-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", ns_if)
            ip("-n", self.name, "link", "set", ns_if, "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)

    def __enter__(self) -> VethNetns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_tls(workdir: str | os.PathLike[str], ip: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `ip` signed by it, made with
    openssl: (ca.crt, server.crt, server.key)."""
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", "/CN=pylibctrd test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", f"/CN={ip}")
    (d / "san.ext").write_text(f"subjectAltName=IP:{ip}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", "server.crt", "-extfile", "san.ext")
    return d / "ca.crt", d / "server.crt", d / "server.key"
