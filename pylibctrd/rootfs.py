"""A minimal root filesystem from Debian's busybox-static, for tests and demos."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox() -> str:
    for path in BUSYBOX_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError("busybox not found: install Debian's busybox-static")


def busybox_rootfs(path: str | os.PathLike[str]) -> Path:
    """Create (idempotently) a rootfs at `path`: busybox plus a symlink per applet."""
    root = Path(path)
    busybox = find_busybox()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    target = root / "bin" / "busybox"
    if not target.exists():
        shutil.copy2(busybox, target)
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        link = root / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root
