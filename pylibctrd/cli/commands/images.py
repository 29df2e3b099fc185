"""The images: `import`, `images` and `rmi`, on containerd's image store
through Moby's image service (Client.import_image, images, get_image,
remove_image)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from typing import IO

import pylibctrd
from pylibctrd import errors

from .._common import (
    AddCommand, CLIError, add_format, each, emit_json, emit_table, message, session,
)
from .._records import image_row, split_name
from .._spec import L_IMAGE_DIGEST


def register(add_command: AddCommand) -> None:
    p = add_command(
        "import", cmd_import,
        example=("pylibctrd import busybox.tar                       # a `docker save` archive",
                 "pylibctrd import --name myapp:1 oci-layout.tar.gz  # tags the archive's"
                 " untagged image",
                 "docker save busybox | pylibctrd import -"),
        usage="pylibctrd import [--name REF] [-q] ARCHIVE",
        description="Import a `docker save` or OCI image-layout archive (plain or gzip) into"
                    " containerd's image store and unpack it, as `docker load` does (Moby's"
                    " LoadImage). Prints `Loaded image: NAME` for each image. On a terminal,"
                    " stderr shows how much of the archive has been read.")
    p.add_argument("archive", metavar="ARCHIVE", help="the archive's path, or - for stdin")
    p.add_argument("--name", metavar="REF", help="tag the archive's one untagged image")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")

    p = add_command(
        "images", cmd_images,
        example=("pylibctrd images", "pylibctrd images --json | jq -r .name"),
        description="The namespace's images, one row per name (Moby's Images): repository,"
                    " tag, image id (the manifest digest, as with dockerd's containerd store),"
                    " size.")
    p.add_argument("-q", "--quiet", action="store_true", help="only image ids")
    add_format(p)

    p = add_command(
        "rmi", cmd_rmi,
        example=("pylibctrd rmi busybox:latest", "pylibctrd rmi -f sha256:3f57d9401f8d"),
        description="Untag REF, and delete the image with its last name (Moby's ImageDelete)."
                    " Refused while a container made from the image exists (run -f to remove"
                    " it anyway: such a container's rootfs keeps working, its snapshots are"
                    " leased to it).")
    p.add_argument("-f", "--force", action="store_true",
                   help="remove even if containers were made from it")
    p.add_argument("refs", nargs="+", metavar="REF")


# --- import ---------------------------------------------------------------------------

class _Progress:
    """A binary reader that reports how much of the archive was read, on a
    terminal only: a line redrawn at most ten times a second."""

    def __init__(self, source: IO[bytes], total: int | None, out: IO[str]) -> None:
        self._source, self._total, self._out = source, total, out
        self.read_bytes = 0
        self._shown = 0.0
        self._lock = threading.Lock()

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.read_bytes += len(chunk)
        now = time.monotonic()
        if not chunk or now - self._shown >= 0.1:
            self._shown = now
            self.show("unpacking..." if not chunk else "")
        return chunk

    def show(self, suffix: str = "") -> None:
        done = _size(self.read_bytes)
        if self._total:
            pct = min(100, self.read_bytes * 100 // self._total)
            text = f"reading archive: {done} / {_size(self._total)} ({pct}%)"
        else:
            text = f"reading archive: {done}"
        with self._lock:
            self._out.write(f"\r\x1b[K{text} {suffix}".rstrip())
            self._out.flush()

    def end(self) -> None:
        with self._lock:
            self._out.write("\r\x1b[K")
            self._out.flush()


def cmd_import(opts: argparse.Namespace) -> int:
    if opts.archive == "-":
        if sys.stdin.isatty():
            raise CLIError("import -: stdin is a terminal; pipe an archive into it")
        source: IO[bytes] = sys.stdin.buffer
        total = None
    else:
        try:
            source = open(opts.archive, "rb")
        except OSError as e:
            raise CLIError(f"open {opts.archive}: {e.strerror}") from e
        total = os.fstat(source.fileno()).st_size
    progress = (_Progress(source, total, sys.stderr)
                if sys.stderr.isatty() and not opts.quiet else None)
    try:
        with session(opts) as client:
            try:
                # A file object streams into Go through a pipe: the progress
                # counts what containerd has been handed.
                loaded = client.import_image(progress or source, name=opts.name)  # type: ignore[arg-type]
            except errors.Error as e:
                raise CLIError(message(e)) from e
            finally:
                if progress is not None:
                    progress.end()
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    for image in loaded:
        # docker load's lines.
        print(f"Loaded image: {image.name}" if image.name else f"Loaded image ID: {image.digest}")
    return 0


# --- images -----------------------------------------------------------------------------

def cmd_images(opts: argparse.Namespace) -> int:
    with session(opts) as client:
        images = client.images()
    images.sort(key=lambda i: (i.name == "", i.name, i.digest))
    if opts.quiet:
        seen: set[str] = set()
        for image in images:
            if image.digest not in seen:
                seen.add(image.digest)
                print(_short_id(image.digest))
    elif opts.format == "json":
        for image in images:
            emit_json(image_row(image))
    else:
        emit_table(["REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
                   [[*split_name(i.name), _short_id(i.digest), _size(i.size)] for i in images])
    return 0


def _short_id(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _size(n: int) -> str:
    """docker's HumanSize: decimal units, three significant digits."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{n}B"


# --- rmi ----------------------------------------------------------------------------------

_HEX_ID = re.compile(r"(sha256:)?[0-9a-f]{1,64}")


def _normalized(ref: str) -> str:
    """busybox -> busybox:latest (the name form Image.name has)."""
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in ref else ref + ":latest"


def _users(client: pylibctrd.Client, digest: str) -> list[str]:
    """Containers the CLI made from the image with this digest (their labels
    say so): Moby's own check only knows the rootfs this process prepared."""
    return sorted(r.id for r in client.list_containers()
                  if r.labels.get(L_IMAGE_DIGEST) == digest)


def _exists(client: pylibctrd.Client, digest: str) -> bool:
    try:
        client.get_image(digest)
    except errors.NotFound:
        return False
    return True


def cmd_rmi(opts: argparse.Namespace) -> int:
    def remove(client: pylibctrd.Client, ref: str) -> None:
        image = client.get_image(ref)
        if not opts.force:
            names = {i.name for i in client.images() if i.digest == image.digest and i.name}
            by_name = _normalized(ref) in names
            users = _users(client, image.digest)
            # Untagging one of several names never touches the image (docker's rule).
            if users and (not by_name or len(names) <= 1):
                kind = "repository reference" if by_name else "image"
                raise CLIError(
                    f'conflict: unable to remove {kind} "{ref}" (must force) - container'
                    f" {users[0]} is using its referenced image {_short_id(image.digest)}")
        client.remove_image(ref)
        # docker rmi's lines: the name untagged, the image deleted with its last name.
        if _HEX_ID.fullmatch(ref) is None:
            print(f"Untagged: {_normalized(ref)}", flush=True)
        if not _exists(client, image.digest):
            print(f"Deleted: {image.digest}", flush=True)

    # Moby's image errors name the reference already.
    return each(opts, opts.refs, remove, error_text=lambda ref, e: message(e))
