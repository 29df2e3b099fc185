"""The sync classes and their pylibctrd.aio twins are two faces of the same
operations (pylibctrd/_ops.py): the same public names, parameters, defaults
and annotations, each aio method that calls containerd a coroutine."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import pylibctrd
from pylibctrd import aio

PAIRS = [(pylibctrd.Client, aio.Client), (pylibctrd.Container, aio.Container),
         (pylibctrd.Process, aio.Process), (pylibctrd.Task, aio.Task)]
# Names only one face has, and why.
# sync: the same client for blocking calls from a thread; pull_progress: an
# async iterator over a pull (the sync pull takes a progress callback).
ONLY_AIO = {"sync", "pull_progress"}
NOT_COROUTINES = {"events", "logs"}  # return the stream at once, in both faces


def public(cls: type) -> dict[str, Any]:
    return {name: inspect.getattr_static(cls, name) for name in dir(cls)
            if not name.startswith("_")}


def described(sig: inspect.Signature) -> list[tuple[str, Any, str, Any]]:
    # repr of the default: 9 == signal.SIGKILL, but a reader sees a difference.
    return [(p.name, p.kind, repr(p.default), p.annotation) for p in sig.parameters.values()]


@pytest.mark.parametrize("sync,async_", PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_both_faces_have_the_same_names(sync: type, async_: type) -> None:
    assert set(public(sync)) == set(public(async_)) - ONLY_AIO


@pytest.mark.parametrize("sync,async_", PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_both_faces_have_the_same_signatures(sync: type, async_: type) -> None:
    for name, member in public(sync).items():
        twin = public(async_)[name]
        assert type(member) is type(twin), f"{sync.__name__}.{name}: {member!r} vs {twin!r}"
        if isinstance(member, property):
            continue
        fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        twin_fn = twin.__func__ if isinstance(twin, (classmethod, staticmethod)) else twin
        mine, theirs = inspect.signature(fn), inspect.signature(twin_fn)
        assert described(mine) == described(theirs), f"{sync.__name__}.{name}: {mine} vs {theirs}"
        assert mine.return_annotation == theirs.return_annotation, f"{sync.__name__}.{name}"
        calls_containerd = name not in NOT_COROUTINES
        assert inspect.iscoroutinefunction(twin_fn) == calls_containerd, f"aio {name}"
        assert not inspect.iscoroutinefunction(fn), f"sync {name}"


def test_sync_and_aio_share_the_event_stream() -> None:
    assert pylibctrd.client.EventStream is aio.EventStream
