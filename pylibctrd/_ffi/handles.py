"""Ownership of native handles: one idiom for every object Go made (`Owned`),
released when the Python object is collected, and the objects closed at
interpreter exit before Python finalizes."""

from __future__ import annotations

import atexit
import itertools
import logging
import weakref

from .. import errors
from . import native

logger = logging.getLogger("pylibctrd")


def release(handle: int) -> None:
    """Drop a native handle (idempotent; quiet after a fork or at exit)."""
    lib = native._lib
    if lib is None or native._forked:
        return
    try:
        native.call(lib.pylibctrd_release, handle)
    except errors.Error:
        pass


class Owned:
    """Base of every object that owns a native handle (clients, daemons,
    containers, tasks, processes, streams): the handle is released when the
    object is collected, after `_finalize()` (a client closes, a daemon
    stops). Objects made with `close_at_exit=True` are closed at interpreter
    exit, newest first, before Python finalizes."""

    _handle = 0  # 0 until a handle is owned

    def __init__(self, handle: int, *, close_at_exit: bool = False) -> None:
        self._handle = handle
        if close_at_exit:
            key = next(_closer_keys)
            _closers[key] = weakref.ref(self, lambda _: _closers.pop(key, None))

    @property
    def handle(self) -> int:
        """The native handle (0 once given up)."""
        return self._handle

    def _finalize(self) -> None:
        """What collection does before the handle is released."""

    def close(self) -> None:
        """What exit does (for objects made with close_at_exit)."""

    def __del__(self) -> None:
        # __del__ rather than weakref.finalize: a quarter of the cost, and these
        # objects are made on every load/new_task/exec.
        if not self._handle:
            return
        try:
            self._finalize()
        except Exception:
            pass
        release(self._handle)


# Objects to close at exit, newest first: clients are made after the daemons
# they use, so they close first. Weak: a collected object was finalized (and
# drops out of the table).
_closers: dict[int, weakref.ref[Owned]] = {}
_closer_keys = itertools.count()


def close_all_at_exit() -> None:
    atexit.register(_at_exit)


def _at_exit() -> None:
    lib = native._lib
    if native._forked or lib is None:
        return
    for ref in reversed(list(_closers.values())):
        obj = ref()
        if obj is None:
            continue
        try:
            obj.close()
        except Exception:
            logger.exception("pylibctrd: cleanup at exit failed")
    try:
        native.call(lib.pylibctrd_shutdown, 5000)
    except errors.Error:
        logger.warning("pylibctrd: callbacks still running at exit")
