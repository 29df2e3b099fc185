"""The plugin's own checks that need no containers: what is missing here."""

from __future__ import annotations

import os

import pytest

from pylibctrd import testing


def test_missing_names_each_binary_not_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    reasons = testing.missing()
    for binary in testing.CONTAINER_BINARIES:
        assert f"no {binary} on PATH" in reasons
    # Given an existing containerd, its binaries are not ours to need.
    assert not any("PATH" in r for r in testing.missing(managed=False))


def test_missing_names_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "not root (containers need uid 0)" in testing.missing()
