"""`run` and `exec` in the foreground: the process's stdio wired to ours, a
real terminal with -t, signals proxied to the process (docker's sig-proxy)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import threading
import tty
from types import FrameType
from typing import IO, Callable, Iterator

import pylibctrd
from pylibctrd import errors

from ._common import EXIT_CANNOT_INVOKE, EXIT_CLI, EXIT_NOT_FOUND, CLIError, message

# Signals the CLI passes on to the process, as docker run's sig-proxy does.
PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
           signal.SIGUSR2)


def start_error(exc: errors.Error) -> CLIError:
    """The exit code docker gives a process that could not start: Moby's
    daemon/errors.go setExitCodeFromError reads containerd's (runc's) message:
    permission denied / is a directory -> 126, not found -> 127, else 125."""
    text = message(exc)
    low = text.lower()
    if "permission denied" in low or "is a directory" in low:
        return CLIError(text, EXIT_CANNOT_INVOKE)
    if "not a directory" in low or any(s in low for s in (
            "executable file not found", "no such file or directory",
            "system cannot find the file specified", "failed to run runc create/exec call")):
        return CLIError(text, EXIT_NOT_FOUND)
    return CLIError(text, EXIT_CLI)


def terminal_size() -> tuple[int, int] | None:
    """(rows, columns) of our terminal, or None without one."""
    for fd in (1, 0, 2):
        if os.isatty(fd):
            size = os.get_terminal_size(fd)
            return size.lines, size.columns
    return None


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Raw mode on `fd` (keys go to the container as typed, ^C included),
    restored however the block ends."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write_all(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    return write


class Attach:
    """attach_stdio for the foreground: output copied to our fds 1 and 2,
    our fd 0 copied to the process's stdin (EOF closes it) when `stdin`."""

    def __init__(self, stdin: bool) -> None:
        self._stdin = stdin
        self._done: list[threading.Event] = []

    def __call__(self, dio: pylibctrd.DirectIO) -> pylibctrd.DirectIO:
        for src, fd in ((dio.stdout, 1), (dio.stderr, 2)):
            if src is not None:
                done = threading.Event()
                self._done.append(done)
                threading.Thread(target=self._pump, args=(src, _write_all(fd), done),
                                 daemon=True, name=f"pylibctrd-fd{fd}").start()
        if dio.stdin is not None:
            # A daemon thread: a read of a terminal may block until we exit.
            threading.Thread(target=self._feed, args=(dio.stdin,), daemon=True,
                             name="pylibctrd-stdin").start()
        return dio

    @staticmethod
    def _pump(src: IO[bytes], write: Callable[[bytes], None], done: threading.Event) -> None:
        try:
            while chunk := src.read1(65536):  # type: ignore[attr-defined]
                write(chunk)
        except OSError:
            pass  # our stdout went away (a closed pipe): stop copying
        finally:
            src.close()
            done.set()

    def _feed(self, stdin: IO[bytes]) -> None:
        try:
            while self._stdin and (data := os.read(0, 65536)):
                view = memoryview(data)
                while view:
                    view = view[stdin.write(view):]
        except (OSError, errors.Error):
            pass  # the process is gone
        finally:
            with contextlib.suppress(OSError, errors.Error):
                stdin.close()  # EOF for the process (containerd's CloseIO)

    def wait(self, timeout: float) -> bool:
        """Wait until the output reached EOF (the process's side closed)."""
        return all(done.wait(timeout) for done in self._done)


def foreground(start: Callable[[], pylibctrd.Process], attach: Attach, *, tty: bool,
               raw: bool) -> int:
    """Start the process (`start` creates and starts it, attached to `attach`)
    and wait for it to exit, proxying signals and the window size; its exit
    code. Raw mode is on before the process starts (so that no keystroke is
    read in cooked mode) and off however this ends. A second ^C kills the
    process (SIGKILL): a shell as pid 1 ignores SIGINT."""
    interrupts = 0
    process: pylibctrd.Process | None = None

    def proxy(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        if process is None:
            raise KeyboardInterrupt  # not started yet: stop here
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                print(f"\r\npylibctrd: killing {process.container_id}", file=sys.stderr,
                      flush=True)
                signum = signal.SIGKILL
        with contextlib.suppress(errors.Error):
            process.kill(signum)

    def resize(signum: int = 0, frame: FrameType | None = None) -> None:
        size = terminal_size()
        if size is not None and process is not None:
            with contextlib.suppress(errors.Error):
                process.resize(size[1], size[0])

    previous = {s: signal.signal(s, proxy) for s in PROXIED}
    try:
        with raw_terminal(0) if raw else contextlib.nullcontext():
            try:
                process = start()
            except errors.Error as e:
                raise start_error(e) from e
            if tty:
                previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
                resize()  # the size at start, as docker's MonitorTtySize does
            info = process.wait()
            attach.wait(10.0)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return info.exit_code
