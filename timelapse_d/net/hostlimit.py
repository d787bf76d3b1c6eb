"""Per-host slots shared by every worker process on one machine: at most ``max_per_host`` holders at once.

    >>> with host_slot("/tmp/work", "www.flickr.com", max_per_host=2, min_interval=1.0):
    ...     pass  # at most two processes are in here for www.flickr.com at any moment

Slot ``i`` of a host is the file ``WORK/locks/hosts/<host>/<i>.lock``, held with an exclusive
``fcntl.flock``. The kernel drops the lock when its holder exits or is killed, so a dead worker
never keeps a slot, and the limit holds for anything that shares WORK on one kernel: the local
process pool, Ray workers on one machine, two pipelines run side by side. (On a network file
system, whether flock is shared between machines depends on the file system.) Lock files are
never deleted: unlinking a locked file would let a second holder lock a new file of the same name.

A slot file holds the time it was last released; ``min_interval`` makes the next holder of that
slot wait until that many seconds after it, so each slot sends at most one download per interval.
"""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import random
import re
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

LOCKS_DIR = Path("locks") / "hosts"  # relative to WORK
_UNSAFE = re.compile(r"[^a-z0-9._-]")


def host_key(url: str) -> str:
    """The host a URL's requests go to, as a safe folder name: lower-case host name, port dropped."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return _UNSAFE.sub("_", host) or "unknown-host"


def is_loopback(host: str) -> bool:
    """Whether a host (as ``host_key`` gives it) is this machine: localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.replace("_", ":")).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def host_slot(work: str | Path, host: str, max_per_host: int, min_interval: float = 0.0,
              poll_seconds: float = 0.05) -> Iterator[int]:
    """Hold one of ``max_per_host`` slots of ``host`` for the block; yields the slot's number.

    Waits (polling every ``poll_seconds``, jittered) while all slots are held by other processes.
    """
    if max_per_host < 1:
        raise ValueError(f"max_per_host must be >= 1, got {max_per_host!r}")
    if _UNSAFE.search(host) or not host.strip("."):
        raise ValueError(f"host must be a host_key() name, got {host!r}")
    folder = Path(work) / LOCKS_DIR / host
    folder.mkdir(parents=True, exist_ok=True)
    fd, slot = _acquire(folder, max_per_host, poll_seconds)
    try:
        _wait_after_last_release(fd, min_interval)
        yield slot
    finally:
        with contextlib.suppress(OSError):
            _write_release_time(fd)
        os.close(fd)  # releases the flock


def _acquire(folder: Path, slots: int, poll_seconds: float) -> tuple[int, int]:
    start = random.randrange(slots)  # spread holders over the slots
    while True:
        for offset in range(slots):
            slot = (start + offset) % slots
            fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd, slot
        time.sleep(poll_seconds * random.uniform(0.5, 1.5))


def _wait_after_last_release(fd: int, min_interval: float) -> None:
    if min_interval <= 0:
        return
    try:
        released = float(os.pread(fd, 64, 0).decode())
    except ValueError:
        return  # a new slot (empty), or one whose holder died while writing it
    remaining = released + min_interval - time.time()
    if remaining > 0:
        time.sleep(min(remaining, min_interval))  # min: a clock step back must not stall the slot


def _write_release_time(fd: int) -> None:
    stamp = f"{time.time():.6f}".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, stamp, 0)
