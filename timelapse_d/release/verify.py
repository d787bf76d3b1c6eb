"""``release verify``: re-hash a release's manifests and every one of its shards, on this machine or
at a URL (a published release is hashed as it streams: no copy is kept).

    problems = verify_release("manifests/timelapse-d/1.0.0", shards="/data/shards")
    problems = verify_release("https://data.example.org/timelapse-d/1.0.0")
    # [] when whole; else one line per missing or altered file, naming it
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from timelapse_d.manifest import MANIFESTS_DIR
from timelapse_d.net.locations import join, size_and_sha256

from .store import load_release, release_root, shards_location


def check_file(location: str, what: str, size: int | None, sha256: str, on_bytes=None) -> str | None:
    """None if the file at ``location`` has this size (when given) and sha256; else what is wrong,
    naming it as ``what`` (e.g. "shard train-000000.tar")."""
    try:
        found_size, found_sha256 = size_and_sha256(location, on_bytes)
    except FileNotFoundError:
        return f"{what} is missing ({location})"
    except OSError as error:
        return f"{what} cannot be read ({location}): {error}"
    if size is not None and found_size != size:
        return f"{what} has {found_size} bytes, release.json says {size} ({location})"
    if found_sha256 != sha256:
        return f"{what} has been altered: its sha256 differs from release.json ({location})"
    return None


def verify_release(path: str | Path, shards: str | Path | None = None, progress: bool = True) -> list[str]:
    record = load_release(path)
    root = release_root(path)
    problems = [check_file(join(root, str(MANIFESTS_DIR), f"{table}.parquet"), f"manifest {table}", None, digest)
                for table, digest in record["manifests"].items()]
    directory = shards_location(root, record, shards)
    with tqdm(total=sum(shard["bytes"] for shard in record["shards"]), desc="verify shards", unit="B",
              unit_scale=True, disable=not progress) as bar:
        problems += damaged_shards(directory, record, bar.update).values()
    return [problem for problem in problems if problem]


def damaged_shards(directory: str, record: dict, on_bytes=None) -> dict[str, str]:  # noqa: ANN001
    """Shard name -> what is wrong with it, for every shard of ``record`` in ``directory`` that is not whole."""
    found = {shard["name"]: check_file(join(directory, shard["name"]), f"shard {shard['name']}", shard["bytes"],
                                       shard["sha256"], on_bytes) for shard in record["shards"]}
    return {name: problem for name, problem in found.items() if problem}
