"""Releases made from another release: ``export`` (a curated subset, for another group) and
``remove`` (a takedown: the next patch version without one source).

An export writes its own shards, ``<name>-<version>-<split>-NNNNNN.tar``, holding only the chosen
samples, so the group receiving it gets a self-contained set with its own checksums. A takedown
rewrites only the shards that held the source and keeps the others as they are. Both record their
parent and what they did in release.json and in the card.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from timelapse_d.manifest import read_rows
from timelapse_d.shards import read_samples
from timelapse_d.shards.pack import write_shards

from .publish import TABLE_ORDER, ReleaseContent, publish, related_rows, shard_record
from .store import (DEFAULT_ROOT, ReleaseError, check_name, check_version, find_release, load_release, next_patch,
                    shards_location)

DEFAULT_SHARD_BYTES = 1_000_000_000


def _parent_shards_dir(parent_path: Path, record: dict, shards: str | Path | None) -> Path:
    directory = Path(shards_location(parent_path, record, shards))
    missing = [shard["name"] for shard in record["shards"] if not (directory / shard["name"]).exists()]
    if missing:
        raise ReleaseError(f"the shards of {record['name']}@{record['version']} are not all in {directory} "
                           f"(missing {missing[:3]}); pass --shards DIR")
    return directory


def _rewrite(source_dir: Path, shards: list[dict], keep: set[str], directory: Path, prefix: str,
             shard_bytes: int, progress: bool) -> tuple[list[dict], dict[str, str]]:
    """Copy the kept samples of ``shards`` into new shards ``<prefix>-<split>-NNNNNN.tar``, split by split.
    Return the new shards' records and sample key -> new shard name."""
    records, shard_of = [], {}
    splits = sorted({shard["split"] for shard in shards})
    with tqdm(total=sum(shard["samples"] for shard in shards), desc="write shards", unit="sample",
              disable=not progress) as bar:
        for split in splits:
            def kept(split=split):
                for shard in (s for s in shards if s["split"] == split):
                    for sample in read_samples(source_dir / shard["name"]):
                        bar.update(1)
                        if sample["__key__"] in keep:
                            yield sample

            for name, keys in write_shards(directory, f"{prefix}-{split}", kept(), shard_bytes):
                records.append(shard_record(directory / name, split, len(keys)))
                shard_of.update(dict.fromkeys(keys, name))
    return records, shard_of


def _derive(parent_path: Path, name: str, version: str, keep: Callable[[dict, dict], bool], filter_: dict,
            shards: str | Path | None, root: str | Path, reuse_untouched: bool, shard_bytes: int,
            removed: list[dict], progress: bool) -> Path:
    check_name(name), check_version(version)
    parent = load_release(parent_path)
    source_dir = _parent_shards_dir(parent_path, parent, shards)
    directory = Path(shards) if shards else source_dir
    tables = {table: read_rows(parent_path, table) for table in TABLE_ORDER}
    context = {
        "videos": {row["video_id"]: row for row in tables["videos"]},
        "sources": {row["source_id"]: row for row in tables["sources"]},
    }
    kept = {row["sample_key"] for row in tables["samples"] if keep(row, context)}
    if not kept:
        raise ReleaseError(f"the filter {filter_} keeps no sample of {parent['name']}@{parent['version']}")
    shard_of = {row["sample_key"]: row["shard"] for row in tables["samples"]}
    touched = {shard_of[key] for key in shard_of if key not in kept}
    untouched = [s for s in parent["shards"] if reuse_untouched and s["name"] not in touched]
    to_write = [s for s in parent["shards"] if s not in untouched]
    written, new_shard = _rewrite(source_dir, to_write, kept, directory, f"{name}-{version}", shard_bytes, progress)
    records = untouched + written
    related = related_rows(tables, kept)
    related["samples"] = [{**row, "shard": new_shard.get(row["sample_key"], row["shard"])} for row in related["samples"]]
    content = ReleaseContent(tables=related, shards=sorted(records, key=lambda r: r["name"]),
                             shards_location=str(directory.resolve()), pipeline=parent["pipeline"],
                             parent=f"{parent['name']}@{parent['version']}", filter=filter_,
                             removed=parent.get("removed", []) + removed)
    return publish(root, name, version, content)


def export_release(parent_ref: str, name: str, version: str, categories: list[str] | None = None,
                   licenses: list[str] | None = None, min_height: int | None = None, splits: list[str] | None = None,
                   shards: str | Path | None = None, root: str | Path = DEFAULT_ROOT,
                   shard_bytes: int = DEFAULT_SHARD_BYTES, progress: bool = True) -> Path:
    """A child release holding the parent's samples that pass every given filter."""
    filter_ = {key: value for key, value in (("category", categories), ("license", licenses),
                                             ("min_height", min_height), ("split", splits)) if value}

    def keep(row: dict, context: dict) -> bool:
        video = context["videos"][row["video_id"]]
        source = context["sources"][video["source_id"]]
        return ((not categories or row["category"] in categories)
                and (not licenses or source.get("license_id") in licenses)
                and (min_height is None or (video.get("height") or 0) >= min_height)
                and (not splits or row["split"] in splits))

    return _derive(find_release(root, parent_ref), name, version, keep, filter_, shards, root,
                   reuse_untouched=False, shard_bytes=shard_bytes, removed=[], progress=progress)


def remove_source(parent_ref: str, source_id: str, reason: str = "", shards: str | Path | None = None,
                  root: str | Path = DEFAULT_ROOT, shard_bytes: int = DEFAULT_SHARD_BYTES,
                  progress: bool = True) -> Path:
    """The next patch version of a release without the samples of one source."""
    parent_path = find_release(root, parent_ref)
    parent = load_release(parent_path)
    if source_id not in {row["source_id"] for row in read_rows(parent_path, "sources")}:
        raise ReleaseError(f"source {source_id!r} is not in {parent_ref}")
    version = next_patch(parent["version"])
    removal = {"source_id": source_id, "reason": reason or "not given",
               "date": datetime.now(timezone.utc).date().isoformat(),
               "in": f"{parent['name']}@{version}", "previous": parent_ref}

    def keep(row: dict, context: dict) -> bool:
        return context["videos"][row["video_id"]]["source_id"] != source_id

    return _derive(parent_path, parent["name"], version, keep, {"remove_source": source_id}, shards, root,
                   reuse_untouched=True, shard_bytes=shard_bytes, removed=[removal], progress=progress)
