"""Process stdio: the FIFO streams libcontainerd hands to an attach callback,
as Python binary file objects, and helpers for the common cases.

An attach callback (`attach_stdio=`) receives a `DirectIO` and returns it; it
runs synchronously inside `new_task`/`exec`/`attach_task`, so it should start
readers (threads) rather than read to the end itself. Passing
`attach_stdio=None` drains and drops the output natively (no Python threads),
and closes stdin; `Capture` collects it natively (no Python threads either).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Callable, cast

from . import _ffi, errors
from ._ffi import Op, call, lib, number_result, op
from .types import DirectIO, from_unix_nanos

if TYPE_CHECKING:
    from ._native import CData, Result

AttachStdio = Callable[[DirectIO], object]


class FifoStream(_ffi.Owned, io.RawIOBase):
    """One FIFO end owned by Go, read or written through the C ABI: the raw
    file under each file of a DirectIO that pylibctrd hands over."""

    def __init__(self, handle: int, writable: bool) -> None:
        _ffi.Owned.__init__(self, handle)
        io.RawIOBase.__init__(self)
        self._writable = writable

    def readable(self) -> bool:
        return not self._writable

    def writable(self) -> bool:
        return self._writable

    def readinto(self, buffer: Any) -> int:
        return self._transfer(lib().pylibctrd_stream_read, buffer)

    def write(self, data: Any) -> int:
        return self._transfer(lib().pylibctrd_stream_write, data)

    def _transfer(self, fn: Callable[[Result, int, bytes | CData, int], int], buffer: Any) -> int:
        """One read or write of the FIFO into or from `buffer`, in place."""
        self._checkClosed()  # Python's io convention: ValueError on a closed file
        view = memoryview(buffer).cast("B")
        if len(view) == 0:
            return 0
        n, _ = call(fn, self._handle, _ffi.ffi().from_buffer(view), len(view))
        return n

    def close(self) -> None:
        """Close this end; for stdin this gives the process EOF (CloseIO)."""
        if self.closed:
            return
        try:
            call(lib().pylibctrd_stream_close, self._handle)
        finally:
            io.RawIOBase.close(self)

    def _finalize(self) -> None:
        self.close()  # what io does for a file collected open

    def _disown(self) -> None:
        """Go took this stream over (a native capture): forget the handle."""
        self._handle = 0
        io.RawIOBase.close(self)

    # Ops for pylibctrd.aio's streams, which run them in the background.
    def recv_op(self, max_bytes: int) -> Op[bytes]:
        self._checkClosed()
        return op(lambda n, data: data or b"", lib().pylibctrd_stream_recv, self._handle,
                  max_bytes)

    def send_op(self, data: bytes) -> Op[int]:
        self._checkClosed()
        return op(number_result, lib().pylibctrd_stream_write, self._handle, data, len(data))

    def close_op(self) -> Op[None]:
        def closed(number: int, data: bytes | None) -> None:
            io.RawIOBase.close(self)

        close = op(closed, lib().pylibctrd_stream_close, self._handle)
        close.on_error = lambda: io.RawIOBase.close(self)
        return close


def _open_direct_io(stdin: int, stdout: int, stderr: int) -> DirectIO:
    return DirectIO(
        stdin=cast(IO[bytes], FifoStream(stdin, writable=True)) if stdin else None,
        stdout=io.BufferedReader(FifoStream(stdout, writable=False)) if stdout else None,
        stderr=io.BufferedReader(FifoStream(stderr, writable=False)) if stderr else None,
    )


def to_sink(attach: AttachStdio | None) -> _ffi.StdioSink | None:
    """The token-level callback _ffi calls for a user's attach_stdio."""
    if attach is None:
        return None

    def sink(stdin: int, stdout: int, stderr: int) -> None:
        dio = _open_direct_io(stdin, stdout, stderr)
        try:
            attach(dio)
        except BaseException:
            for f in (dio.stdin, dio.stdout, dio.stderr):
                if f is not None:
                    try:
                        f.close()
                    except Exception:
                        pass
            raise

    return sink


def _pump(src: IO[bytes], dst: Callable[[bytes], object], done: threading.Event) -> None:
    try:
        while chunk := src.read1(65536):  # type: ignore[attr-defined]
            dst(chunk)
    finally:
        src.close()
        done.set()


def _fifo_of(f: IO[bytes] | None) -> FifoStream | None:
    """The live FIFO stream behind one of our DirectIO's readers (None for
    anything else, e.g. a DirectIO a caller made of its own files)."""
    raw: object = f.raw if isinstance(f, io.BufferedReader) else f
    if isinstance(raw, FifoStream) and not raw.closed and raw._handle:
        return raw
    return None


class _NativeCapture(_ffi.Owned):
    """stdout and stderr drained into memory by goroutines in Go."""

    @classmethod
    def start(cls, stdout: IO[bytes] | None, stderr: IO[bytes] | None) -> _NativeCapture | None:
        """Hand both streams to Go, or None if either is not one of our FIFOs."""
        raws = [_fifo_of(f) for f in (stdout, stderr)]
        if any(r is None for r, f in zip(raws, (stdout, stderr)) if f is not None):
            return None
        handle, _ = call(lib().pylibctrd_capture_start, raws[0]._handle if raws[0] else 0,
                         raws[1]._handle if raws[1] else 0)
        for f, raw in zip((stdout, stderr), raws):
            if isinstance(f, io.BufferedReader):
                f.detach()  # the buffered wrapper must not close the FIFO under Go
            if raw is not None:
                raw._disown()
        return cls(handle)

    def wait(self, timeout: float | None) -> bool:
        ms = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
        ended, _ = call(lib().pylibctrd_capture_wait, self._handle, ms)
        return bool(ended)

    def output(self, stream: int) -> bytes:
        return call(lib().pylibctrd_capture_output, self._handle, stream)[1] or b""


class Capture:
    """attach_stdio that collects stdout and stderr into bytes. With the
    FIFOs pylibctrd hands over, Go reads them (no Python thread per stream);
    with other files, Python threads do.

    >>> cap = Capture()
    >>> task = container.new_task(attach_stdio=cap)
    ... # after the process exits:
    >>> cap.wait(10); cap.stdout
    """

    def __init__(self) -> None:
        self._out = bytearray()
        self._err = bytearray()
        self._done: list[threading.Event] = []
        self._native: list[_NativeCapture] = []
        # The process's stdin; None unless created with with_stdin=True
        # (as DirectIO.stdin, libcontainerd's nil Stdin).
        self.stdin: IO[bytes] | None = None

    def __call__(self, dio: DirectIO) -> DirectIO:
        self.stdin = dio.stdin
        native = _NativeCapture.start(dio.stdout, dio.stderr)
        if native is not None:
            self._native.append(native)
            return dio
        return self._read_in_threads(dio)

    def _read_in_threads(self, dio: DirectIO) -> DirectIO:
        for src, buf in ((dio.stdout, self._out), (dio.stderr, self._err)):
            if src is None:
                continue
            done = threading.Event()
            self._done.append(done)
            threading.Thread(target=_pump, args=(src, buf.extend, done), daemon=True,
                             name="pylibctrd-capture").start()
        return dio

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stdout and stderr reached EOF; False on timeout."""
        return (all(n.wait(timeout) for n in self._native)
                and all(done.wait(timeout) for done in self._done))

    @property
    def stdout(self) -> bytes:
        return bytes(self._out) + b"".join(n.output(0) for n in self._native)

    @property
    def stderr(self) -> bytes:
        return bytes(self._err) + b"".join(n.output(1) for n in self._native)


class PassThrough:
    """attach_stdio that copies the process's output to file objects (by
    default this process's stdout/stderr) and, if given, `stdin` into it."""

    def __init__(self, stdout: IO[bytes] | None = None, stderr: IO[bytes] | None = None,
                 stdin: IO[bytes] | None = None) -> None:
        import sys

        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr.buffer
        self._stdin = stdin
        self._done: list[threading.Event] = []

    def __call__(self, dio: DirectIO) -> DirectIO:
        if self._stdin is not None and dio.stdin is None:
            # Dropping the input silently would leave the caller guessing.
            raise errors.InvalidParameter(
                "PassThrough was given stdin, but the process has none: "
                "pass with_stdin=True to new_task()/exec()")
        for src, dst in ((dio.stdout, self._stdout), (dio.stderr, self._stderr)):
            if src is not None:
                done = threading.Event()
                self._done.append(done)
                threading.Thread(target=_pump, args=(src, self._writer(dst), done),
                                 daemon=True, name="pylibctrd-passthrough").start()
        if dio.stdin is not None:
            threading.Thread(target=self._feed, args=(dio.stdin,), daemon=True,
                             name="pylibctrd-stdin").start()
        return dio

    @staticmethod
    def _writer(dst: IO[bytes]) -> Callable[[bytes], None]:
        def write(chunk: bytes) -> None:
            dst.write(chunk)
            dst.flush()

        return write

    def _feed(self, stdin: IO[bytes]) -> None:
        try:
            if self._stdin is not None:
                shutil.copyfileobj(self._stdin, stdin)
        finally:
            stdin.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the process's output reached EOF; False on timeout."""
        return all(done.wait(timeout) for done in self._done)


@dataclass(frozen=True)
class LogFailures:
    """Lines the log driver failed to write (a full disk...): Moby's copier
    logs each failure ("Error writing log message", at most 333 a second)
    and goes on with the next line, so the container keeps running and the
    line is lost. `count` so far, the last error and when (None before)."""

    count: int = 0
    last_error: str = ""
    last_at: datetime | None = None

    def __add__(self, other: LogFailures) -> LogFailures:
        if not other.count:
            return self
        if not self.count:
            return other
        last = max(self, other, key=lambda f: f.last_at or datetime.min.replace(tzinfo=timezone.utc))
        return LogFailures(self.count + other.count, last.last_error, last.last_at)


class _NativeLog(_ffi.Owned):
    """A container's log being written by Moby's copier in Go."""

    def wait(self, timeout: float | None) -> bool:
        ms = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
        ended, _ = call(lib().pylibctrd_log_wait, self._handle, ms)
        return bool(ended)

    def failures(self) -> LogFailures:
        _, data = call(lib().pylibctrd_log_failures, self._handle)
        r = json.loads(data or b"{}")
        return LogFailures(int(r.get("count") or 0), str(r.get("last_error") or ""),
                           from_unix_nanos(r.get("last_at")))


class Log:
    """attach_stdio that writes the container's stdout and stderr to its log
    through one of Moby's log drivers, fed by Moby's `logger.Copier` in Go
    (no Python thread): `driver` "json-file" (dockerd's default) or "local",
    `opts` its `--log-opt`s (`max_size="10m"` is `max-size=10m`; values as
    docker takes them). Read it back with `client.logs(container_id)`.

    `tee` (e.g. `Capture()` or `PassThrough()`) gets the same output too; the
    log then waits for it to read. For `new_task`/`attach_task` only (dockerd
    does not log execs).

    >>> task = container.new_task(attach_stdio=stdio.Log(max_size="1m", max_file="3"))
    """

    def __init__(self, driver: str = "json-file", *, tee: AttachStdio | None = None,
                 **opts: str) -> None:
        self.driver = driver
        self.opts = {k.replace("_", "-"): str(v) for k, v in opts.items()}
        self.tee = tee
        self.stdin: IO[bytes] | None = None
        self._logs: list[_NativeLog] = []
        self._target: tuple[Any, str] | None = None  # (ClientOps, container id)

    def _bind(self, client: Any, container_id: str) -> None:
        """Which container's log to write (pylibctrd._ops sets it)."""
        self._target = (client, container_id)

    def __call__(self, dio: DirectIO) -> DirectIO:
        if self._target is None:
            raise TypeError("stdio.Log is the attach_stdio of a container's task "
                            "(new_task/attach_task), not of an exec")
        client, container_id = self._target
        self.stdin = dio.stdin
        raws = [_fifo_of(f) for f in (dio.stdout, dio.stderr)]
        if any(r is None for r, f in zip(raws, (dio.stdout, dio.stderr)) if f is not None):
            raise TypeError("stdio.Log takes the FIFOs pylibctrd hands over, not other files")
        opts = _args_json(self.opts)
        handle, data = call(lib().pylibctrd_log_start, client.handle, container_id.encode(),
                            self.driver.encode(), opts, len(opts),
                            raws[0]._handle if raws[0] else 0, raws[1]._handle if raws[1] else 0,
                            int(self.tee is not None))
        for f, raw in zip((dio.stdout, dio.stderr), raws):
            if isinstance(f, io.BufferedReader):
                f.detach()
            if raw is not None:
                raw._disown()
        self._logs.append(_NativeLog(handle))
        if self.tee is not None:
            fds = [int(x) for x in (data or b"-1\0-1").decode().split("\0")]
            teed = DirectIO(stdin=dio.stdin,
                            stdout=open(fds[0], "rb") if fds[0] >= 0 else None,
                            stderr=open(fds[1], "rb") if fds[1] >= 0 else None)
            self.tee(teed)
        return dio

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the output ended and the log is closed; False on timeout."""
        return all(log.wait(timeout) for log in self._logs)

    def failures(self) -> LogFailures:
        """What the driver failed to write so far (all tasks this logged)."""
        total = LogFailures()
        for log in self._logs:
            total += log.failures()
        return total


def _args_json(opts: dict[str, str]) -> bytes:
    from . import _args
    return _args.json_object(opts, "log options")
