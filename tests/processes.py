"""Finding processes by a mark in their environment (Linux /proc), orphans included.

A process started with ``MARK_VARIABLE=<mark>`` in its environment passes it to everything it
starts (forkserver, pool workers, Ray's raylet and workers), and the mark stays readable in
``/proc/<pid>/environ`` after the process is re-parented to init, so ``marked(mark)`` finds
every process of a run, however its driver died.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

MARK_VARIABLE = "TIMELAPSE_TEST_MARK"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def marked(mark: str) -> dict[int, str]:
    """{pid: command line} of the living processes whose environment has MARK_VARIABLE=mark."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0") and alive(int(proc.name)):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except OSError:  # the process ended meanwhile
                continue
            todo += children - found
            found |= children
    return found


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
