"""``release verify``: re-hash a release's manifests and every one of its shards.

    problems = verify_release("manifests/timelapse-d/1.0.0", shards="/data/shards")
    # [] when whole; else one line per missing or altered file, naming it
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from timelapse_d.manifest import table_path
from timelapse_d.media import sha256_file

from .store import load_release


def verify_release(path: str | Path, shards: str | Path | None = None, progress: bool = True) -> list[str]:
    path = Path(path)
    record = load_release(path)
    problems = []
    for table, digest in record["manifests"].items():
        manifest = table_path(path, table)
        if not manifest.exists():
            problems.append(f"manifest {manifest} is missing")
        elif sha256_file(manifest) != digest:
            problems.append(f"manifest {manifest} has been altered (sha256 differs from release.json)")
    directory = Path(shards or record["shards_location"])
    for shard in tqdm(record["shards"], desc="verify shards", unit="shard", disable=not progress):
        file = directory / shard["name"]
        if not file.exists():
            problems.append(f"shard {shard['name']} is missing from {directory}")
        elif file.stat().st_size != shard["bytes"]:
            problems.append(f"shard {shard['name']} in {directory} has {file.stat().st_size} bytes, "
                            f"release.json says {shard['bytes']}")
        elif sha256_file(file) != shard["sha256"]:
            problems.append(f"shard {shard['name']} in {directory} has been altered (sha256 differs from release.json)")
    return problems
