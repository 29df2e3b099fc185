"""containerd started and supervised by Moby's libcontainerd/supervisor."""

from __future__ import annotations

import os
import threading

from . import _args, _ffi
from ._ffi import Op, call, lib, op

#: Where the embedded default lives, like dockerd's /var/lib/docker/containerd
#: and /var/run/docker/containerd (override with PYLIBCTRD_ROOT / PYLIBCTRD_EXEC_ROOT).
DEFAULT_ROOT = "/var/lib/pylibctrd"
DEFAULT_EXEC_ROOT = "/run/pylibctrd"


def default_root_dir() -> str:
    return os.path.join(os.environ.get("PYLIBCTRD_ROOT", DEFAULT_ROOT), "containerd")


def default_state_dir() -> str:
    return os.path.join(os.environ.get("PYLIBCTRD_EXEC_ROOT", DEFAULT_EXEC_ROOT), "containerd")


class Daemon(_ffi.Owned):
    """A containerd child process, restarted by Moby's supervisor if it dies.

    Its socket is `<state_dir>/containerd.sock`; containerd keeps its data in
    `<root_dir>/daemon` and `<state_dir>/daemon`, as under dockerd. An already
    running containerd recorded in `<state_dir>/containerd.pid` is adopted.
    """

    def __init__(self, handle: int, address: str, root_dir: str, state_dir: str) -> None:
        super().__init__(handle, close_at_exit=True)
        self.address = address
        self.root_dir = root_dir
        self.state_dir = state_dir
        self._running = True

    @classmethod
    def start(cls, root_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str], *,
              log_level: str | None = None,
              containerd: str | os.PathLike[str] | None = None) -> Daemon:
        """Start containerd (CRI disabled, as dockerd does) and wait until it serves.

        `containerd`: the binary to run (an absolute path), else the one on
        PATH as dockerd. Moby's supervisor runs `containerd` from PATH, and
        containerd finds its shims on the PATH it inherits: the binary (and
        the `containerd-shim-runc-v2` beside it, if any) is linked into
        `<state_dir>/bin`, which goes first on this process's PATH while the
        daemon runs. PATH is one per process, so a second daemon with another
        binary raises `Conflict` while this one runs."""
        return start_op(root_dir, state_dir, log_level, containerd).run()

    @property
    def running(self) -> bool:
        return self._running

    def stop(self, timeout: float = 20.0) -> None:
        """Stop containerd (SIGTERM, then SIGKILL after 15s, as Moby does)."""
        if self._running:
            self._running = False
            call(lib().pylibctrd_daemon_stop, self._handle, _args.millis(timeout, "timeout"))

    close = stop

    def _finalize(self) -> None:
        self.stop()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Daemon address={self.address!r} running={self.running}>"


def start_op(root_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str],
             log_level: str | None,
             containerd: str | os.PathLike[str] | None = None) -> Op[Daemon]:
    """`Daemon.start` as an Op (pylibctrd.aio runs it in the background)."""
    root, state = _args.path(root_dir, "root_dir"), _args.path(state_dir, "state_dir")
    root_c, state_c = _args.text(root, "root_dir"), _args.text(state, "state_dir")
    level_c = _args.text(log_level or "", "log_level")
    binary = "" if containerd is None else _args.path(containerd, "containerd")
    binary_c = _args.text(binary, "containerd")
    return op(lambda handle, address: Daemon(handle, (address or b"").decode(), root, state),
              lib().pylibctrd_daemon_start, root_c, state_c, level_c, binary_c)


_default: Daemon | None = None
_default_lock = threading.Lock()


def default_daemon() -> Daemon:
    """The process-wide embedded containerd, started on first use and stopped
    at interpreter exit (what dockerd does without --containerd)."""
    global _default
    with _default_lock:
        if _default is None or not _default.running:
            _default = Daemon.start(default_root_dir(), default_state_dir())
        return _default


def running_default() -> Daemon | None:
    """The embedded containerd if it was started and still runs."""
    with _default_lock:
        return _default if _default is not None and _default.running else None


def adopt_default(daemon: Daemon) -> Daemon:
    """Make `daemon` (started elsewhere, e.g. by pylibctrd.aio) the embedded
    default, unless one runs already: then that one is returned."""
    global _default
    with _default_lock:
        if _default is not None and _default.running:
            if _default is not daemon:
                daemon.stop()
            return _default
        _default = daemon
        return daemon
