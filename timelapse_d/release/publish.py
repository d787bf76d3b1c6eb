"""Writing one release directory, whole or not at all, and never over an existing version.

Every way of making a release (``create`` from a work directory, ``export`` of a curated subset,
``remove`` of a source) ends here with the rows that define it and its shards' descriptions.
The directory is assembled under a ``.tmp-`` name and renamed into place last.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import timelapse_d
from timelapse_d.atomic import TMP_PREFIX, fsync_path, write_bytes_atomic, write_json_atomic
from timelapse_d.manifest import table_path, write_rows
from timelapse_d.media import sha256_file

from .card import attribution_list, dataset_card
from .store import RELEASE_JSON, ReleaseError, release_dir

TABLE_ORDER = ("sources", "videos", "clips", "labels", "samples")


@dataclass
class ReleaseContent:
    tables: dict[str, list[dict]]  # table -> the rows that define the release
    shards: list[dict]  # {"name", "split", "samples", "bytes", "sha256"}
    shards_location: str  # the flat directory (or URL) holding the shards
    pipeline: str  # the pipeline definition the samples were made with (TOML text)
    parent: str | None = None  # NAME@VERSION of the release this one derives from
    filter: dict | None = None  # how it was derived from the parent
    removed: list[dict] = field(default_factory=list)  # takedowns: {"source_id", "reason", "date", "in"}


def related_rows(tables: dict[str, list[dict]], sample_keys: set[str]) -> dict[str, list[dict]]:
    """The rows of every table that belong to the given ok samples (and nothing else)."""
    samples = [row for row in tables["samples"] if row["sample_key"] in sample_keys and row["status"] == "ok"]
    clip_ids = {row["clip_id"] for row in samples}
    video_ids = {row["video_id"] for row in samples}
    videos = [row for row in tables["videos"] if row["video_id"] in video_ids]
    source_ids = {row["source_id"] for row in videos}
    return {"sources": [row for row in tables["sources"] if row["source_id"] in source_ids],
            "videos": videos,
            "clips": [row for row in tables["clips"] if row["clip_id"] in clip_ids],
            "labels": [row for row in tables["labels"] if row["clip_id"] in clip_ids],
            "samples": samples}


def shard_record(path: Path, split: str, samples: int) -> dict:
    return {"name": path.name, "split": split, "samples": samples, "bytes": path.stat().st_size,
            "sha256": sha256_file(path)}


def code_version() -> dict:
    """The package version and, when it runs from a git checkout, the commit and whether it was dirty."""
    version = {"timelapse_d": getattr(timelapse_d, "__version__", "unknown")}
    root = Path(timelapse_d.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return version
    if commit.returncode == 0:
        version.update(git_commit=commit.stdout.strip(), git_dirty=bool(dirty.stdout.strip()))
    return version


def counts(tables: dict[str, list[dict]]) -> dict:
    samples = tables["samples"]
    source_of = {row["video_id"]: row["source_id"] for row in tables["videos"]}
    licenses = {row["source_id"]: row.get("license_id") or "unknown" for row in tables["sources"]}
    heights = {row["video_id"]: row.get("height") for row in tables["videos"]}
    return {
        "samples": len(samples),
        "frames": sum(len(row["frame_indices"]) for row in samples),
        "frame_pairs": sum(len(row["frame_indices"]) - 1 for row in samples),
        "videos": len(tables["videos"]), "sources": len(tables["sources"]),
        "per_split": dict(sorted(Counter(row["split"] for row in samples).items())),
        "per_category": dict(sorted(Counter(row["category"] or "none" for row in samples).items())),
        "per_license": dict(sorted(Counter(licenses[source_of[row["video_id"]]] for row in samples).items())),
        "per_source_height": {str(h): n for h, n in sorted(Counter(heights[row["video_id"]] for row in samples).items(),
                                                            key=lambda item: item[0] or 0)},
    }


def publish(root: str | Path, name: str, version: str, content: ReleaseContent) -> Path:
    """Write ``root/name/version/``; raise ReleaseError if that version exists."""
    target = release_dir(root, name, version)
    if target.exists():
        raise ReleaseError(f"release {name}@{version} already exists at {target}; a version is never overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.parent / f"{TMP_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        for table in TABLE_ORDER:
            write_rows(building, table, content.tables[table])
        write_bytes_atomic(building / "pipeline.toml", content.pipeline.encode())
        record = {
            "name": name, "version": version,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "parent": content.parent, "filter": content.filter, "removed": content.removed,
            "code_version": code_version(), "pipeline": content.pipeline,
            "counts": counts(content.tables),
            "manifests": {table: sha256_file(table_path(building, table)) for table in TABLE_ORDER},
            "shards_location": content.shards_location,
            "shards": content.shards,
        }
        write_json_atomic(building / RELEASE_JSON, record)
        write_bytes_atomic(building / "README.md", dataset_card(record, content.tables).encode())
        write_bytes_atomic(building / "ATTRIBUTION.md", attribution_list(record, content.tables["sources"]).encode())
        os.rename(building, target)  # fails if the version appeared meanwhile: nothing is overwritten
        fsync_path(target.parent)
    except OSError as error:
        raise ReleaseError(f"cannot write release {name}@{version} at {target}: {error}") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target
