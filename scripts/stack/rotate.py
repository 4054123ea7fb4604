"""Size-bounded files for a process that only appends to them. OpenBao's file audit device has
no rotation of its own; like Vault, it reopens its file on SIGHUP (what logrotate relies on).
So a small watcher renames the file once it passes `max_bytes` (`.1` the newest of `keep` old
ones, the oldest deleted) and sends SIGHUP: OpenBao goes on in a new file. On disk at most
`keep + 1` files, each about `max_bytes` (plus what is written in one check interval).

    PYTHONPATH=scripts python -m stack rotate FILE PID MAX_MB KEEP
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def rotate_once(path: Path, max_bytes: int, keep: int, pid: int) -> bool:
    """Rotates `path` if it is over `max_bytes`; true when it did."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    old = [path.with_name(f"{path.name}.{i}") for i in range(1, keep + 1)]
    old[-1].unlink(missing_ok=True)
    for newer, older in zip(reversed(old[:-1]), reversed(old[1:])):
        if newer.exists():
            newer.rename(older)
    path.rename(old[0])
    # Entries written until OpenBao reopens go to the renamed file (same inode): none is lost.
    os.kill(pid, signal.SIGHUP)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def watch(path: Path, pid: int, max_mb: float, keep: int, interval: float = 1.0) -> None:
    """Checks every `interval` seconds until process `pid` is gone."""
    max_bytes = int(max_mb * 1024 * 1024)
    while alive(pid):
        rotate_once(path, max_bytes, keep, pid)
        time.sleep(interval)
