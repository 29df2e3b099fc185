"""Registries through Moby's own parts: the containerd image service's
`PullImage`, `PushImage`, `TagImage` and `ExportImage`, Moby's registry
service (insecure registries, mirrors, `certs.d`, login) and the docker
CLI's config package for the credentials in `~/.docker/config.json`
(`$DOCKER_CONFIG`), shared with `docker login`.

The `Client` methods (`pull`, `push`, `tag`, `save`, `login`,
`configure_registry`) are built here as `_ffi.Op`s, so the sync and the
asyncio client share them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from typing import IO, Any, AsyncIterator, Callable, Mapping, Sequence, Union

from . import _args, _ffi, errors
from ._ffi import Op, json_result, lib, no_result, op, text_result
from .images import Image, PipeCopy, _image

SaveTarget = Union[str, "os.PathLike[str]", IO[bytes]]


@dataclass(frozen=True)
class Progress:
    """One line of Moby's progress stream. `id` is a layer's short digest
    (or, for "Pulling from ...", the tag; "" for messages about the whole
    operation: "Digest: ...", "Status: ..."); `action` is Moby's text
    ("Pulling fs layer", "Downloading", "Download complete", "Already
    exists", "Waiting", "Pushing", "Pushed", "Layer already exists", ...);
    `current`/`total` are bytes where Moby counts them, else 0."""

    id: str
    action: str
    current: int = 0
    total: int = 0


ProgressCallback = Callable[[Progress], None]
Deliver = Callable[[ProgressCallback, Progress], None]


@dataclass(frozen=True)
class Auth:
    """Credentials for a registry, as `docker login` takes them. `server`
    is the registry ("127.0.0.1:5000", "registry.example.com"); None is
    Docker Hub (or, for a pull or push, the reference's registry)."""

    username: str
    password: str = field(repr=False)
    server: str | None = field(default=None, kw_only=True)
    identity_token: str = field(default="", repr=False, kw_only=True)

    @classmethod
    def from_docker_config(cls, server: str | None = None, *,
                           config_dir: str | os.PathLike[str] | None = None) -> Auth | None:
        """The credentials `docker login` (or `pylibctrd login`) stored for
        `server` (None: Docker Hub) in config_dir's config.json or its
        credential helper (the docker CLI's own config package), or None."""
        record = json_result(*_ffi.call(lib().pylibctrd_registry_auth,
                                        _args.text(server or "", "server"),
                                        _args.text(_config_dir(config_dir), "config_dir")))
        username, password = record.get("username", ""), record.get("password", "")
        token = record.get("identitytoken", "")
        if not username and not token:
            return None
        return cls(username, password, server=record.get("serveraddress") or server,
                   identity_token=token)

    def _json(self) -> bytes:
        for name in ("username", "password", "identity_token"):
            _args.text(getattr(self, name), name)
        record = {"username": self.username, "password": self.password,
                  "serveraddress": self.server or "", "identitytoken": self.identity_token}
        return _args.json_bytes(record, "auth")


def docker_config_dir() -> str:
    """The docker CLI's config dir: $DOCKER_CONFIG, else ~/.docker."""
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _config_dir(value: str | os.PathLike[str] | None) -> str:
    return docker_config_dir() if value is None else _args.path(value, "config_dir")


def registry_of(ref: str) -> str:
    """The registry `ref` names, as the docker CLI keys its credentials
    ("https://index.docker.io/v1/" for Docker Hub); `InvalidParameter` for a
    bad reference."""
    return text_result(*_ffi.call(lib().pylibctrd_registry_of, _args.text(ref, "ref")))[0]


def _auth_for(ref: str, auth: Auth | None) -> bytes:
    """auth, else what the docker config has for ref's registry (as the
    docker CLI sends with a pull or push); b"" for none."""
    if auth is None:
        auth = Auth.from_docker_config(registry_of(ref))
        if auth is None:
            return b""
    if not isinstance(auth, Auth):
        raise TypeError(f"auth must be a pylibctrd.Auth, not {type(auth).__name__}")
    return auth._json()


class _ProgressSink:
    """A progress callback behind an events key for as long as its call
    runs. `deliver` wraps the callback (e.g. to hop onto an event loop)."""

    def __init__(self, progress: ProgressCallback,
                 deliver: Callable[[ProgressCallback, Progress], None] | None = None) -> None:
        if not callable(progress):
            raise TypeError(f"progress must be callable, not {type(progress).__name__}")
        self._progress = progress
        self._deliver = deliver
        self.exc: BaseException | None = None
        self.key = _ffi.register_events(self._on_record)

    def _on_record(self, record: dict[str, Any]) -> None:
        p = Progress(record["id"], record["action"], int(record["current"]), int(record["total"]))
        if self._deliver is not None:
            self._deliver(self._progress, p)
            return
        try:
            self._progress(p)
        except BaseException as exc:  # cancels the call in Go; re-raised by it
            if self.exc is None:
                self.exc = exc
            raise

    def close(self) -> None:
        _ffi.unregister_events(self.key)

    def attach(self, call: Op[Any]) -> None:
        """Unregister when `call` ends; raise what the callback raised."""
        decode = call.decode
        sink = self

        def decoded(number: int, data: bytes | None) -> Any:
            sink.close()
            return decode(number, data)

        call.decode = decoded
        call.on_error = self.close
        call.raised = lambda err: sink.exc if sink.exc is not None else err


def _sink(progress: ProgressCallback | None,
          deliver: Callable[[ProgressCallback, Progress], None] | None) -> _ProgressSink | None:
    return _ProgressSink(progress, deliver) if progress is not None else None


def pull_op(client: int, ref: str, platform: str | None, auth: Auth | None,
            progress: ProgressCallback | None,
            deliver: Callable[[ProgressCallback, Progress], None] | None = None) -> Op[Image]:
    ref_c = _args.text(ref, "ref")
    platform_c = _args.text(platform if platform is not None else "", "platform")
    auth_c = _auth_for(ref, auth)
    sink = _sink(progress, deliver)
    call = op(lambda n, d: _image(json_result(n, d)), lib().pylibctrd_client_pull,
              sink.key if sink else 0, client, ref_c, platform_c, auth_c, len(auth_c))
    if sink is not None:
        sink.attach(call)
    return call


def push_op(client: int, ref: str, auth: Auth | None, progress: ProgressCallback | None,
            deliver: Callable[[ProgressCallback, Progress], None] | None = None) -> Op[str]:
    ref_c = _args.text(ref, "ref")
    auth_c = _auth_for(ref, auth)
    sink = _sink(progress, deliver)
    call = op(lambda n, d: text_result(n, d)[0], lib().pylibctrd_client_push,
              sink.key if sink else 0, client, ref_c, auth_c, len(auth_c))
    if sink is not None:
        sink.attach(call)
    return call


def tag_op(client: int, source: str, target: str) -> Op[None]:
    return op(no_result, lib().pylibctrd_client_tag, client, _args.text(source, "source"),
              _args.text(target, "target"))


def configure_registry_op(client: int, options: Mapping[str, Any]) -> Op[None]:
    data = _args.json_object(options, "registry")
    return op(no_result, lib().pylibctrd_client_configure_registry, client, data, len(data))


def login_op(client: int, auth: Auth, config_dir: str | os.PathLike[str] | None) -> Op[str]:
    if not isinstance(auth, Auth):
        raise TypeError(f"auth must be a pylibctrd.Auth, not {type(auth).__name__}")
    data = auth._json()
    return op(lambda n, d: text_result(n, d)[0], lib().pylibctrd_client_login, client, data,
              len(data), _args.text(_config_dir(config_dir), "config_dir"))


def logout(server: str | None = None, *, config_dir: str | os.PathLike[str] | None = None) -> bool:
    """`docker logout`: remove the credentials stored for `server` (None:
    Docker Hub). Returns whether there were any."""
    found, _ = _ffi.call(lib().pylibctrd_registry_logout, _args.text(server or "", "server"),
                         _args.text(_config_dir(config_dir), "config_dir"))
    return bool(found)


class Drain(PipeCopy):
    """Copies what Go writes into a pipe into a binary file object. A failing
    file object closes the read end, so Go's writes fail."""

    def __init__(self, target: IO[bytes]) -> None:
        super().__init__("pylibctrd-save")
        self._read_fd, self.write_fd = os.pipe()
        self._target = target

    def _copy(self) -> None:
        with open(self._read_fd, "rb", buffering=0, closefd=True) as pipe:
            try:
                while True:
                    chunk = pipe.read(1 << 20)
                    if not chunk:
                        return
                    self._target.write(chunk)
            except BaseException as exc:  # re-raised on the calling thread
                self.error = exc


def save_op(client: int, refs: str | Sequence[str], file: SaveTarget) -> tuple[Op[None], Drain | None]:
    """The save call and, for a file object, the drain to start right before it."""
    names = [refs] if isinstance(refs, str) else list(refs)
    for name in names:
        _args.text(name, "refs")
    data = _args.json_bytes(names, "refs")
    if isinstance(file, (str, os.PathLike)):
        path = _args.text(_args.path(file, "file"), "file")
        return op(no_result, lib().pylibctrd_client_save, client, data, len(data), path, -1), None
    if not callable(getattr(file, "write", None)) or hasattr(file, "encoding"):
        raise TypeError("file must be a path or a file object opened in binary mode")
    drain = Drain(file)
    call = op(no_result, lib().pylibctrd_client_save, client, data, len(data),
              _ffi.ffi().NULL, drain.write_fd)
    return call, drain


def run_save(call: Op[None], drain: Drain | None) -> None:
    """Run a save now (the sync client)."""
    if drain is None:
        call.run()
        return
    drain.start()
    try:
        call.run()
    except BaseException:
        drain.finish()  # a write error of the file object explains a failed save best
        raise
    drain.finish()


async def save_async(port: _ffi.Port, call: Op[None], drain: Drain | None) -> None:
    if drain is not None:
        drain.start()
    try:
        await port.run(call)
    except BaseException:
        if drain is not None:
            await asyncio.to_thread(drain.finish)
        raise
    if drain is not None:
        await asyncio.to_thread(drain.finish)


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[ProgressCallback, Progress], None]:
    """Delivers progress on `loop` (the asyncio client's callbacks run there)."""
    def deliver(progress: ProgressCallback, p: Progress) -> None:
        loop.call_soon_threadsafe(progress, p)
    return deliver


async def pull_progress(run: Callable[[ProgressCallback], Any]
                        ) -> AsyncIterator[Progress | Image]:
    """`async for p in client.pull_progress(ref)`: the progress, then the
    Image. Leaving the loop early cancels the pull."""
    queue: asyncio.Queue[Progress] = asyncio.Queue()
    task: asyncio.Future[Image] = asyncio.ensure_future(run(queue.put_nowait))
    getter: asyncio.Future[Progress] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            both: set[asyncio.Future[Any]] = {getter, task}
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
                continue
            getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            yield task.result()
            return
    finally:
        if getter is not None:
            getter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.Error):
                await task


__all__ = ["Auth", "Progress", "ProgressCallback", "docker_config_dir", "logout", "registry_of"]
