"""Images in containerd's image store, through Moby's own image service
(`github.com/docker/docker/daemon/containerd`), as dockerd with the
containerd store: import (`docker load`), list, inspect, remove, and a
container's rootfs prepared on an init layer and mounted.

The `Client` methods (`import_image`, `images`, `get_image`, `remove_image`,
`prepare_rootfs`, `release_rootfs`) are built here as `_ffi.Op`s, so the
sync and the asyncio client share them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import IO, Any, Union

from . import _args
from ._ffi import Op, json_result, lib, no_result, op, text_result

Archive = Union[str, "os.PathLike[str]", IO[bytes]]


@dataclass(frozen=True)
class Image:
    """One name of an image in containerd's image store."""

    name: str            # "busybox:latest" (docker's familiar form); "" when untagged
    digest: str          # "sha256:..." of the image's manifest (containerd's target)
    size: int            # bytes, as Moby reports it (content plus unpacked layers)
    config: dict[str, Any]  # the OCI image config: Env, Cmd, Entrypoint, WorkingDir, User, ...


def _image(record: dict[str, Any]) -> Image:
    return Image(record["name"], record["digest"], int(record["size"]), record["config"] or {})


def _images(number: int, data: bytes | None) -> list[Image]:
    return [_image(r) for r in json_result(number, data) or []]


class PipeCopy:
    """A copy between a binary file object and a pipe whose other end Go
    owns, on a thread, so data streams without being held in memory. What
    the copy raised is re-raised by `finish()` on the calling thread."""

    def __init__(self, name: str) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name=name, daemon=True)

    def _copy(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error


class Pump(PipeCopy):
    """Copies a file object into the pipe Go reads an archive from. Go
    closing the read end (done or failed) ends the copy."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__("pylibctrd-import")
        self.read_fd, self._write_fd = os.pipe()
        self._source = source

    def _copy(self) -> None:
        try:
            with open(self._write_fd, "wb", buffering=0, closefd=True) as pipe:
                while True:
                    chunk = self._source.read(1 << 20)
                    if not chunk:
                        break
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise TypeError("archive must be opened in binary mode")
                    pipe.write(chunk)
        except BrokenPipeError:
            pass  # Go stopped reading: its error says why
        except BaseException as exc:  # re-raised on the calling thread
            self.error = exc


def import_op(client: int, archive: Archive, name: str | None) -> tuple[Op[list[Image]], Pump | None]:
    """The import call and, for a file object, the pump to start right before it."""
    tag = _args.text(name if name is not None else "", "name")
    if isinstance(archive, (str, os.PathLike)):
        path = _args.text(_args.path(archive, "archive"), "archive")
        return op(_images, lib().pylibctrd_client_import_image, client, path, -1, tag), None
    if not callable(getattr(archive, "read", None)):
        raise TypeError(f"archive must be a path or a binary file object, not {type(archive).__name__}")
    if isinstance(archive, (os.PathLike, bytes)) or hasattr(archive, "encoding"):
        raise TypeError("archive must be a path or a file object opened in binary mode")
    pump = Pump(archive)
    call = op(_images, lib().pylibctrd_client_import_image, client, ffi_null(), pump.read_fd, tag)
    return call, pump


def ffi_null() -> Any:
    from ._ffi import ffi
    return ffi().NULL


def images_op(client: int) -> Op[list[Image]]:
    return op(_images, lib().pylibctrd_client_images, client)


def get_image_op(client: int, ref: str) -> Op[Image]:
    ref_c = _args.text(ref, "ref")
    return op(lambda n, d: _image(json_result(n, d)), lib().pylibctrd_client_get_image,
              client, ref_c)


def remove_image_op(client: int, ref: str) -> Op[None]:
    ref_c = _args.text(ref, "ref")
    return op(no_result, lib().pylibctrd_client_remove_image, client, ref_c)


def prepare_rootfs_op(client: int, container_id: str, ref: str) -> Op[str]:
    id_c, ref_c = _args.text(container_id, "container_id"), _args.text(ref, "ref")
    return op(lambda n, d: text_result(n, d)[0], lib().pylibctrd_client_prepare_rootfs,
              client, id_c, ref_c)


def release_rootfs_op(client: int, container_id: str) -> Op[None]:
    id_c = _args.text(container_id, "container_id")
    return op(no_result, lib().pylibctrd_client_release_rootfs, client, id_c)


def run_import(call: Op[list[Image]], pump: Pump | None) -> list[Image]:
    """Run an import now (the sync client)."""
    if pump is None:
        return call.run()
    pump.start()
    try:
        result = call.run()
    except BaseException:
        pump.finish()  # a read error of the file object explains a failed import best
        raise
    pump.finish()
    return result
