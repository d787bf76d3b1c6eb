"""``release create``: a release from a work directory's precomputed samples.

The release holds every ok sample of the work directory. Its shards stay where precompute wrote
them (``WORK/shards``) unless ``shards`` names another directory, into which they are copied
(hard-linked where possible); a file of the same name and different content there is an error.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from timelapse_d.manifest import read_rows
from timelapse_d.media import sha256_file
from timelapse_d.pipeline import PIPELINE_COPY
from timelapse_d.shards.pack import SHARDS_DIR

from .publish import TABLE_ORDER, ReleaseContent, publish, related_rows, shard_record
from .store import DEFAULT_ROOT, ReleaseError, check_name, check_version


def _place(source: Path, directory: Path) -> Path:
    target = directory / source.name
    if target.exists():
        if target.samefile(source) or sha256_file(target) == sha256_file(source):
            return target
        raise ReleaseError(f"{target} exists with other content than {source}; choose another --shards directory")
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def create_release(work: str | Path, name: str, version: str, shards: str | Path | None = None,
                   root: str | Path = DEFAULT_ROOT) -> Path:
    check_name(name), check_version(version)
    work = Path(work)
    if not (work / PIPELINE_COPY).exists():
        raise ReleaseError(f"{work} is not a work directory (no {PIPELINE_COPY})")
    tables = {table: read_rows(work, table) for table in TABLE_ORDER}
    ok = [row for row in tables["samples"] if row["status"] == "ok"]
    if not ok:
        raise ReleaseError(f"{work} has no precomputed samples: run the precompute stage first")
    unpacked = [row["sample_key"] for row in ok if not row["shard"]]
    if unpacked:
        raise ReleaseError(f"{len(unpacked)} sample(s) of {work} are not in a shard yet (e.g. {unpacked[0]}): "
                           "run the precompute stage again to finish packing")
    source_dir = work / SHARDS_DIR
    directory = Path(shards) if shards else source_dir
    directory.mkdir(parents=True, exist_ok=True)
    records = []
    for shard in sorted({row["shard"] for row in ok}):
        members = [row for row in ok if row["shard"] == shard]
        if not (source_dir / shard).exists():
            raise ReleaseError(f"shard {source_dir / shard} named in the samples table is missing")
        records.append(shard_record(_place(source_dir / shard, directory), members[0]["split"], len(members)))
    content = ReleaseContent(tables=related_rows(tables, {row["sample_key"] for row in ok}), shards=records,
                             shards_location=str(directory.resolve()),
                             pipeline=(work / PIPELINE_COPY).read_text())
    return publish(root, name, version, content)
