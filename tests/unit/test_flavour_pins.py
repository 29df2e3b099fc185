"""Each build flavour is pinned to what its Moby tag vendors: every module
that provides a package to the build (go/..., tests included) is at the
version github.com/docker/docker's vendor/modules.txt lists, docker/cli is
at the Moby tag, and nothing else floats. Checked for the loaded flavour
(`go mod tidy` or `-mod=mod` would drift; see docs/flavours.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomod import flavour, go, go_flags, module_source

# The modules Moby does not vendor: Moby itself, the docker CLI (its config
# package, for credentials) and what only that needs.
NOT_VENDORED_BY_MOBY = {"github.com/docker/docker", "github.com/docker/cli",
                        "github.com/docker/docker-credential-helpers"}


def vendored(moby: Path) -> dict[str, str]:
    out = {}
    for line in (moby / "vendor" / "modules.txt").read_text().splitlines():
        if line.startswith("# "):
            path, version = line.split()[1:3]
            out[path] = version
    return out


def build_list() -> dict[str, str]:
    text = go("list", *go_flags(), "-deps", "-test",
              "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "./...")
    assert text is not None
    # The main module (pylibctrd) has no version.
    pairs = [line.split() for line in set(text.splitlines())]
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def test_every_module_is_at_the_version_moby_vendors() -> None:
    moby = module_source("github.com/docker/docker")
    if moby is None:
        pytest.skip("no go, or Moby's sources are not in the Go module cache (make go-deps)")
    want = vendored(moby)
    built = build_list()
    moby_version = built["github.com/docker/docker"]
    assert moby_version.startswith(flavour() + ".")
    drift = {m: (v, want[m]) for m, v in built.items() if m in want and v != want[m]}
    assert drift == {}, f"modules not at Moby {moby_version}'s vendored version (have, want): {drift}"
    assert built["github.com/docker/cli"] == moby_version
    assert {m for m in built if m not in want} <= NOT_VENDORED_BY_MOBY
