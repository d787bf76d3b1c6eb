"""Staged samples -> WebDataset shards, so that no partial shard is ever visible.

Workers write each finished sample as its own small tar, ``WORK/precompute/staging/<key>.tar``
(atomically), and its ``samples`` row says ``shard = ""``. Packing, in the driver, copies the staged
samples of each split in key order into ``WORK/shards/<split>-NNNNNN.tar`` with
``webdataset.ShardWriter`` (a new shard once one reaches ``shard_bytes``). A shard is written under
a ``.tmp-`` name, flushed to disk and renamed when complete; only then are its samples' rows given
the shard's name (a manifest commit of those rows alone) and their staged files deleted. A run
killed while packing leaves a temporary file (removed by the next run) and rows still saying
``shard = ""``, which the next run packs. Shards are numbered on from the highest number the table
knows for that split, so samples added later go to new shards and finished shards are never
rewritten.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from timelapse_d.atomic import TMP_PREFIX, atomic_path, fsync_path, remove_stale_temporaries
from timelapse_d.manifest import append_rows, write_rows
from timelapse_d.manifest_store import Replaces

from .tarfiles import read_samples, write_samples

STAGING_DIR = Path("precompute") / "staging"  # relative to WORK
SHARDS_DIR = "shards"  # relative to WORK
_SHARD = re.compile(r"^(?P<split>[a-z]+)-(?P<index>\d{6})\.tar$")


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def staging_path(work: str | Path, key: str) -> Path:
    return Path(work) / STAGING_DIR / f"{key}.tar"


def stage_sample(work: str | Path, key: str, entries: dict[str, bytes]) -> int:
    """Write one sample's staged tar atomically; return its size in bytes."""
    target = staging_path(work, key)
    with atomic_path(target) as tmp:
        write_samples(tmp, [{"__key__": key, **entries}])
    return target.stat().st_size


def _next_index(rows: list[dict], split: str) -> int:
    indices = [int(match["index"]) for row in rows if (match := _SHARD.match(row.get("shard") or ""))
               and match["split"] == split]
    return max(indices, default=-1) + 1


def _clean_staging(work: Path, rows: list[dict]) -> None:
    """Delete staged files whose sample is packed, or that no ok row wants any more."""
    wanted = {row["sample_key"] for row in rows if row["status"] == "ok" and not row["shard"]}
    directory = work / STAGING_DIR
    if directory.is_dir():
        remove_stale_temporaries(directory)
        for path in directory.glob("*.tar"):
            if path.stem not in wanted:
                path.unlink()


def write_shards(directory: str | Path, prefix: str, samples: Iterable[dict], shard_bytes: int, start: int = 0,
                 on_shard: Callable[[str, list[str]], None] | None = None) -> list[tuple[str, list[str]]]:
    """Write samples into ``<prefix>-NNNNNN.tar`` shards (numbered from ``start``, a new one once a
    shard holds ``shard_bytes``), each under a temporary name until complete. Return (name, keys)
    per shard; ``on_shard(name, keys)`` runs as each one is in place. On any error the shard being
    written is deleted, so only complete shards are ever visible."""
    import webdataset

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keys_by_file: dict[str, list[str]] = {}
    written: list[tuple[str, list[str]]] = []

    def shard_done(temporary: str) -> None:
        final = directory / Path(temporary).name[len(TMP_PREFIX):]
        fsync_path(temporary)
        os.replace(temporary, final)
        fsync_path(directory)
        written.append((final.name, keys_by_file.pop(temporary)))
        if on_shard:
            on_shard(*written[-1])

    writer = None
    try:
        for sample in samples:
            if writer is None:  # ShardWriter opens its first file at once: only when there is a sample
                writer = webdataset.ShardWriter(str(directory / f"{TMP_PREFIX}{prefix}-%06d.tar"),
                                                maxsize=shard_bytes, post=shard_done, start_shard=start,
                                                verbose=0, encoder=False, mtime=0)
            writer.write(sample)
            keys_by_file.setdefault(writer.fname, []).append(sample["__key__"])
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.post = None  # never publish a partial shard
            writer.close()
            Path(writer.fname).unlink(missing_ok=True)
        raise
    return written


def pack_staged(work: str | Path, rows: list[dict], shard_bytes: int, progress: bool = True) -> list[dict]:
    """Pack the staged samples of ``rows`` (the samples table) into shards; return the updated rows,
    which are also written to the table after each shard."""
    work = Path(work)
    shards = work / SHARDS_DIR
    shards.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(shards)
    by_key = {row["sample_key"]: row for row in rows}
    pending = sorted((row for row in rows if row["status"] == "ok" and not row["shard"]),
                     key=lambda row: (row["split"], row["sample_key"]))
    missing = [row["sample_key"] for row in pending if not staging_path(work, row["sample_key"]).exists()]
    if missing:  # the staged file is gone (deleted by hand): the item must be precomputed again
        for key in missing:
            by_key[key] = {**by_key[key], "status": "failed",
                           "error": f"staged sample {staging_path(work, key)} is missing; rerun with --retry-failed"}
        pending = [row for row in pending if row["sample_key"] not in missing]
        write_rows(work, "samples", list(by_key.values()))

    def shard_done(name: str, keys: list[str]) -> None:
        for key in keys:
            by_key[key] = {**by_key[key], "shard": name}
        append_rows(work, "samples", [by_key[key] for key in keys], Replaces("sample_key", tuple(keys)))
        for key in keys:
            staging_path(work, key).unlink()

    with tqdm(total=len(pending), desc="pack shards", unit="sample", disable=not progress or not pending) as bar:
        for split in sorted({row["split"] for row in pending}):
            def staged(split=split):
                for row in (row for row in pending if row["split"] == split):
                    yield from read_samples(staging_path(work, row["sample_key"]))
                    bar.update(1)

            write_shards(shards, split, staged(), shard_bytes, _next_index(rows, split), shard_done)
    rows = list(by_key.values())
    _clean_staging(work, rows)
    return rows
