"""docker's progress display for pulls and pushes, and a pull with it
(shared by the registry commands and `run --pull`)."""

from __future__ import annotations

import sys
import threading
from typing import IO

import pylibctrd
from pylibctrd import Progress


class Display:
    """docker's progress display. On a terminal: one line per layer, redrawn
    in place; in a pipe: one line per step (byte counts are left out)."""

    _COUNTED = ("Downloading", "Pushing", "Extracting")

    def __init__(self, out: IO[str], tty: bool | None = None) -> None:
        self._out = out
        self._tty = out.isatty() if tty is None else tty
        self._ids: list[str] = []
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        with self._lock:
            if not p.id:
                self._out.write(p.action + "\n")
            elif self._tty:
                self._redraw(p)
            elif p.action not in self._COUNTED and self._last.get(p.id) != p.action:
                self._last[p.id] = p.action
                self._out.write(f"{p.id}: {p.action}\n")
            self._out.flush()

    def _redraw(self, p: Progress) -> None:
        text = f"{p.id}: {p.action}"
        if p.total > 0 and p.action in self._COUNTED:
            text += f" {_bar(p.current, p.total)} {_size(p.current)}/{_size(p.total)}"
        if p.id not in self._ids:
            self._ids.append(p.id)
            self._out.write(text + "\n")
            return
        up = len(self._ids) - self._ids.index(p.id)
        self._out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")


def _bar(current: int, total: int, width: int = 50) -> str:
    done = min(width, current * width // total) if total else 0
    return "[" + "=" * max(0, done - 1) + (">" if done else "") + " " * (width - done) + "]"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{n}B"


def pull(client: pylibctrd.Client, ref: str, *, platform: str | None = None,
         quiet: bool = False, out: IO[str] | None = None) -> pylibctrd.Image:
    """A pull with docker's display on `out` (stdout), or none with quiet."""
    progress = None if quiet else Display(out or sys.stdout)
    return client.pull(ref, platform=platform, progress=progress)
