"""Atomic file writes: write a temporary file beside the target, fsync it, rename it into place.

A reader (or a process restarted after SIGKILL) sees either the old file or the new one, never a
partial one. Temporary names start with ``.tmp-`` so that leftovers are easy to recognise.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

TMP_PREFIX = ".tmp-"


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(target: str | Path, obj: object) -> None:
    write_bytes_atomic(target, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def remove_stale_temporaries(directory: str | Path) -> None:
    """Delete temporary files left in ``directory`` by a killed process."""
    for path in Path(directory).glob(f"{TMP_PREFIX}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
