"""`pylibctrd.spec.merge_env` and `resolve_user`: Moby's rules (container/env.go
ReplaceOrAppendEnvValues; moby/sys/user GetExecUser with Moby's getUser), the
ones the CLI uses too."""

from __future__ import annotations

from pathlib import Path

import pytest

from pylibctrd import errors
from pylibctrd.spec import merge_env, resolve_user


def test_merge_env_replaces_in_place_and_appends() -> None:
    assert merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3"]) == ["PATH=/bin", "A=2", "B=3"]
    assert merge_env([], []) == []


def test_merge_env_a_bare_name_unsets() -> None:
    assert merge_env(["PATH=/bin", "A=1", "B=2"], ["A"]) == ["PATH=/bin", "B=2"]
    assert merge_env(["PATH=/bin"], ["NOT_THERE"]) == ["PATH=/bin"]


def test_merge_env_repeats_an_appended_name_as_moby_does() -> None:
    # Moby's cache holds the defaults' names only: a name appended twice stays twice.
    assert merge_env(["PATH=/bin"], ["A=1", "A=2"]) == ["PATH=/bin", "A=1", "A=2"]
    assert merge_env(["A=0"], ["A=1", "A=2"]) == ["A=2"]


def test_merge_env_does_not_change_its_arguments() -> None:
    base = ["A=1"]
    merge_env(base, ["A"])
    assert base == ["A=1"]


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "alice:x:1000:1000::/home/alice:/bin/sh\n"
        "nobody:x:65534:65534::/:/bin/false\n")
    (tmp_path / "etc/group").write_text(
        "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\nstaff:x:50:\n")
    return tmp_path


def test_resolve_user_keeps_the_supplementary_groups(rootfs: Path) -> None:
    assert resolve_user(rootfs, "alice") == {"uid": 1000, "gid": 1000,
                                             "additionalGids": [1000, 10, 29]}
    assert resolve_user(rootfs, "1000") == {"uid": 1000, "gid": 1000,
                                            "additionalGids": [1000, 10, 29]}
    assert resolve_user(rootfs, "") == {"uid": 0, "gid": 0, "additionalGids": [0]}


def test_resolve_user_an_explicit_group_has_no_supplementary_ones(rootfs: Path) -> None:
    assert resolve_user(rootfs, "alice:staff") == {"uid": 1000, "gid": 50,
                                                   "additionalGids": [50]}
    assert resolve_user(rootfs, "1:2") == {"uid": 1, "gid": 2, "additionalGids": [2]}
    assert resolve_user(rootfs, "nobody:4242") == {"uid": 65534, "gid": 4242,
                                                   "additionalGids": [4242]}


def test_resolve_user_a_number_without_an_entry(rootfs: Path, tmp_path: Path) -> None:
    assert resolve_user(rootfs, "4242") == {"uid": 4242, "gid": 0, "additionalGids": [0]}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert resolve_user(empty, "") == {"uid": 0, "gid": 0, "additionalGids": [0]}


def test_resolve_user_unknown_names_are_invalid_parameters(rootfs: Path) -> None:
    with pytest.raises(errors.InvalidParameter,
                       match="^unable to find user bob: no matching entries in passwd file$"):
        resolve_user(rootfs, "bob")
    with pytest.raises(errors.InvalidParameter,
                       match="^unable to find group nogroup: no matching entries in group file$"):
        resolve_user(rootfs, "alice:nogroup")
