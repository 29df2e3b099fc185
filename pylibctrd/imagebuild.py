"""Build image archives for tests and demos, without a registry or docker:
busybox-static in one layer plus optional extra layers, written as
`docker save` (manifest.json + repositories) or OCI image layout
(oci-layout + index.json), plain or gzip-compressed.

This only writes archives (Python's tarfile); reading and unpacking them is
containerd's job (`Client.import_image`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from .rootfs import find_busybox

Format = Literal["docker", "oci"]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Layer:
    """One layer: files (path -> content; a str content is text), symlinks
    (path -> target), directories, and whiteouts (paths the layer deletes,
    written as `.wh.<name>` entries)."""

    files: Mapping[str, bytes | str] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    dirs: Sequence[str] = ()
    whiteouts: Sequence[str] = ()

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in self.dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d.strip("/") == "tmp" else 0o755
                tar.addfile(info)
            for name in self.whiteouts:
                head, tail = os.path.split(name)
                info = tarfile.TarInfo(os.path.join(head, ".wh." + tail))
                tar.addfile(info, io.BytesIO(b""))
            for name, content in self.files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755 if name.endswith("busybox") else 0o644
                tar.addfile(info, io.BytesIO(data))
            for name, target in self.symlinks.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
        return buf.getvalue()


def busybox_layer(*, extra_files: Mapping[str, bytes | str] | None = None) -> Layer:
    """Debian's busybox-static with a symlink per applet, /etc/passwd and
    /etc/group (as `pylibctrd.busybox_rootfs` makes them)."""
    busybox = find_busybox()
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    files: dict[str, bytes | str] = {
        "bin/busybox": Path(busybox).read_bytes(),
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    }
    files.update(extra_files or {})
    return Layer(
        files=files,
        symlinks={f"bin/{a}": "busybox" for a in applets if a != "busybox"},
        dirs=["bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc",
              "root"],
    )


@dataclass(frozen=True)
class BuiltImage:
    path: Path
    name: str | None         # the tag written into the archive, if any
    digest: str              # the manifest digest containerd will report
    config_digest: str
    diff_ids: list[str]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _go_json(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (compact, no HTML escaping issue here)."""
    return json.dumps(value, separators=(",", ":")).encode()


def image_members(layers: Sequence[Layer], *, config: Mapping[str, Any] | None = None,
                  name: str | None = "pylibctrd-test:latest",
                  format: Format = "docker") -> tuple[dict[str, bytes], BuiltImage]:
    """The archive's members (path -> content, in order) and what containerd
    should make of them. Tests may alter members before write_archive()."""
    tars = [layer.tar() for layer in layers]
    diff_ids = [_sha(t) for t in tars]
    image_config = {
        "architecture": _go_arch(), "os": "linux", "config": dict(config or {}),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "pylibctrd.imagebuild"} for _ in tars],
    }
    config_blob = _go_json(image_config)
    config_digest = _sha(config_blob)
    members: dict[str, bytes] = {}
    if format == "docker":
        layer_files = []
        for digest, blob in zip(diff_ids, tars):
            hexd = digest.split(":", 1)[1]
            members[f"{hexd}/VERSION"] = b"1.0"
            members[f"{hexd}/layer.tar"] = blob
            layer_files.append(f"{hexd}/layer.tar")
        config_file = config_digest.split(":", 1)[1] + ".json"
        members[config_file] = config_blob
        entry: dict[str, Any] = {"Config": config_file, "RepoTags": [name] if name else None,
                                 "Layers": layer_files}
        members["manifest.json"] = _go_json([entry])
        if name:
            repo, _, tag = name.rpartition(":")
            members["repositories"] = _go_json(
                {repo: {tag: diff_ids[-1].split(":", 1)[1]}})
        # containerd writes this manifest for a docker-save archive (images/archive).
        manifest = _go_json({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest,
                       "size": len(config_blob)},
            "layers": [{"mediaType": DOCKER_LAYER, "digest": d, "size": len(t)}
                       for d, t in zip(diff_ids, tars)],
        })
        digest = _sha(manifest)
    else:
        manifest = _go_json({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_blob)},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": len(t)}
                       for d, t in zip(diff_ids, tars)],
        })
        digest = _sha(manifest)
        members["oci-layout"] = _go_json({"imageLayoutVersion": "1.0.0"})
        desc: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)}
        if name:
            desc["annotations"] = {"io.containerd.image.name": _normalize(name),
                                   "org.opencontainers.image.ref.name": name.rpartition(":")[2]}
        members["index.json"] = _go_json(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]})
        for blob in (config_blob, manifest, *tars):
            members["blobs/sha256/" + _sha(blob).split(":", 1)[1]] = blob
    return members, BuiltImage(Path(), name, digest, config_digest, diff_ids)


def _normalize(name: str) -> str:
    """docker.io/library/ prefix for a short name, as docker's references."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return "docker.io/library/" + name
    if "." in first or ":" in first or first == "localhost":
        return name
    return "docker.io/" + name


def go_arch() -> str:
    """This machine's architecture as Go and OCI name it (amd64, arm64, ...)."""
    return _go_arch()


def _go_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def write_archive(path: str | os.PathLike[str], members: Mapping[str, bytes], *,
                  compress: bool = False) -> Path:
    """Write members as a tar (gzip-compressed with compress)."""
    out = Path(path)
    raw = open(out, "wb")
    stream: Any = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if compress else raw
    try:
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs: set[str] = set()
            for name, data in members.items():
                parent = os.path.dirname(name)
                if parent and parent not in dirs:
                    dirs.add(parent)
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    finally:
        if compress:
            stream.close()
        raw.close()
    return out


def build_image(path: str | os.PathLike[str], layers: Sequence[Layer] | None = None, *,
                config: Mapping[str, Any] | None = None, name: str | None = "pylibctrd-test:latest",
                format: Format = "docker", compress: bool = False) -> BuiltImage:
    """Write an image archive at `path` (default: busybox in one layer) and
    return what containerd should report for it."""
    members, built = image_members(layers if layers is not None else [busybox_layer()],
                                   config=config, name=name, format=format)
    write_archive(path, members, compress=compress)
    return BuiltImage(Path(path), built.name, built.digest, built.config_digest, built.diff_ids)


def busybox_image(path: str | os.PathLike[str], *, name: str | None = "busybox:latest",
                  format: Format = "docker", compress: bool = False,
                  config: Mapping[str, Any] | None = None) -> BuiltImage:
    """busybox-static as a one-layer image with a shell as its command."""
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           "Cmd": ["sh"]}
    cfg.update(config or {})
    return build_image(path, [busybox_layer()], config=cfg, name=name, format=format,
                       compress=compress)


def multi_platform_layout(path: str | os.PathLike[str], archs: Sequence[str], *,
                          name: str = "multi") -> Path:
    """An OCI image layout at `path` whose index (tagged `name`) has one
    manifest per `archs` entry (linux), each with one layer of random bytes
    and the label `arch`: what `skopeo copy --all oci:PATH:NAME docker://...`
    puts into a registry as a multi-platform image."""
    out = Path(path)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    manifests = []
    for arch in archs:
        layer = Layer(files={"data": os.urandom(10_000)}).tar()
        ldesc = {"mediaType": OCI_LAYER, **blob(layer)}
        cfg = json.dumps({"architecture": arch, "os": "linux",
                          "config": {"Labels": {"arch": arch}},
                          "rootfs": {"type": "layers",
                                     "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
        cdesc = {"mediaType": OCI_CONFIG, **blob(cfg.encode())}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": cdesc, "layers": [ldesc]}).encode()
        manifests.append({"mediaType": OCI_MANIFEST, **blob(manifest),
                          "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": manifests}).encode()
    idesc = {"mediaType": OCI_INDEX, **blob(index),
             "annotations": {"org.opencontainers.image.ref.name": name}}
    (out / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [idesc]}))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return out
