"""Releases that travel: ``release publish`` copies a release to a directory or any fsspec URL, and
``release pull`` mirrors a published release from ``http(s)://`` or any fsspec URL.

A published release is self-contained, ``DEST/<name>/<version>/``::

    release.json   (shards_location: "shards", relative to the release)
    README.md  ATTRIBUTION.md  pipeline.toml  manifests/<table>.parquet  shards/<shard>.tar

Every file is copied under a temporary name, hashed as it streams, checked against release.json
(size and sha256 of each shard, sha256 of each manifest) and renamed into place only when it
matches; release.json comes last, so a destination holding it holds the whole release. A copy that
does not match is deleted and tried again (``ATTEMPTS`` times), never kept. A file already in place
with the right checksum is not copied again, so a killed or failed transfer, rerun, copies only what
is missing or wrong. A version already published at DEST is never overwritten.

    publish_release("manifests/demo/1.0.0", "s3://bucket/releases")   # -> s3://bucket/releases/demo/1.0.0
    pull_release("https://data.example.org/releases/demo/1.0.0", "manifests")  # -> manifests/demo/1.0.0
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tqdm import tqdm

from timelapse_d.atomic import TMP_PREFIX
from timelapse_d.manifest import MANIFESTS_DIR
from timelapse_d.net.locations import join, open_read

from .store import (PUBLISHED_SHARDS, RELEASE_JSON, ReleaseError, check_name, check_version, load_release, release_root,
                    shards_location)

CARD_FILES = ("README.md", "ATTRIBUTION.md", "pipeline.toml")
ATTEMPTS = 3  # copies of one file tried before it is reported as not transferred
WORKERS = 4


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: where it is read from, its path in a published release, what it must be."""

    source: str
    path: str  # relative to the published release directory
    size: int | None = None
    sha256: str | None = None  # None: not recorded in release.json (the card files)


def release_files(release: str, record: dict, shards: str | None = None) -> list[ReleaseFile]:
    """Every file of a release but release.json, shards last (the bulk of the bytes)."""
    root, shard_dir = release_root(release), shards_location(release, record, shards)
    files = [ReleaseFile(join(root, MANIFESTS_DIR, f"{table}.parquet"), f"{MANIFESTS_DIR}/{table}.parquet",
                         sha256=digest) for table, digest in record["manifests"].items()]
    files += [ReleaseFile(join(root, name), name) for name in CARD_FILES]
    files += [ReleaseFile(join(shard_dir, shard["name"]), f"{PUBLISHED_SHARDS}/{shard['name']}", shard["bytes"],
                          shard["sha256"]) for shard in record["shards"]]
    return files


def published_record(record: dict) -> bytes:
    """release.json as published: the same record, its shards in the release's own ``shards/``."""
    return (json.dumps({**record, "shards_location": PUBLISHED_SHARDS}, indent=2, sort_keys=True) + "\n").encode()


def _matches(fs, path: str, file: ReleaseFile) -> bool:
    """Whether ``path`` on ``fs`` already holds ``file`` (a card file has no checksum: copied again)."""
    if file.sha256 is None or not fs.exists(path):
        return False
    if file.size is not None and fs.size(path) != file.size:
        return False
    digest = hashlib.sha256()
    with fs.open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == file.sha256


class _NotThere(Exception):
    """The source has no such file: trying again will not help."""


def _copy_once(fs, file: ReleaseFile, final: str, on_bytes) -> str | None:
    """Stream ``file`` to ``final`` through a temporary name; None when it arrived whole, else why not."""
    directory, _, name = final.rpartition("/")
    temporary = f"{directory}/{TMP_PREFIX}{name}-{os.getpid()}-{threading.get_ident()}"
    digest, size = hashlib.sha256(), 0
    try:
        fs.makedirs(directory, exist_ok=True)
        with open_read(file.source) as source, fs.open(temporary, "wb") as target:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
                on_bytes(len(chunk))
        if file.size is not None and size != file.size:
            return f"{file.path}: {size} bytes arrived from {file.source}, release.json says {file.size}"
        if file.sha256 is not None and digest.hexdigest() != file.sha256:
            return f"{file.path}: the copy from {file.source} has another sha256 than release.json"
        fs.mv(temporary, final)
        return None
    except FileNotFoundError:
        raise _NotThere(f"{file.path}: not found at {file.source}") from None
    except OSError as error:
        return f"{file.path}: cannot be copied from {file.source}: {error}"
    finally:
        if fs.exists(temporary):  # a copy that failed: never kept, and its bytes no longer count
            fs.rm(temporary)
            on_bytes(-size)


def _transfer(fs, file: ReleaseFile, target: str, bar: tqdm) -> str | None:
    final = f"{target}/{file.path}"
    if _matches(fs, final, file):
        bar.update(file.size or 0)
        return None
    try:
        for _ in range(ATTEMPTS):
            problem = _copy_once(fs, file, final, bar.update)
            if problem is None:
                return None
    except _NotThere as missing:
        return str(missing)
    return f"{problem} (after {ATTEMPTS} tries)"


def _remove_temporaries(fs, target: str) -> None:
    """What a killed transfer left under temporary names."""
    if fs.exists(target):
        for path in fs.find(target):
            if path.rpartition("/")[2].startswith(TMP_PREFIX):
                fs.rm(path)


def copy_release(files: list[ReleaseFile], record_bytes: bytes, fs, target: str, workers: int = WORKERS,
                 progress: bool = True) -> list[str]:
    """Bring every file to ``target`` on ``fs`` (in parallel), then release.json if all arrived.
    Return one line per file that could not be brought, naming it (empty: the release is whole there)."""
    _remove_temporaries(fs, target)
    with tqdm(total=sum(file.size or 0 for file in files), desc="shards", unit="B", unit_scale=True,
              disable=not progress) as bar, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        problems = [p for p in pool.map(lambda file: _transfer(fs, file, target, bar), files) if p]
    if not problems:
        with fs.open(f"{target}/{TMP_PREFIX}{RELEASE_JSON}", "wb") as stream:
            stream.write(record_bytes)
        fs.mv(f"{target}/{TMP_PREFIX}{RELEASE_JSON}", f"{target}/{RELEASE_JSON}")
    return problems


def publish_release(release: str, dest: str, shards: str | None = None, workers: int = WORKERS,
                    progress: bool = True) -> tuple[str, list[str]]:
    """Copy a release to ``dest/<name>/<version>/`` (a directory or fsspec URL); (where, problems)."""
    import fsspec

    record = load_release(release)
    fs, base = fsspec.core.url_to_fs(dest)
    target = f"{base.rstrip('/')}/{check_name(record['name'])}/{check_version(record['version'])}"
    where = join(dest, record["name"], record["version"])
    if fs.exists(f"{target}/{RELEASE_JSON}"):
        raise ReleaseError(f"{record['name']}@{record['version']} is already published at {where}; "
                           "a version is never overwritten")
    problems = copy_release(release_files(release, record, shards), published_record(record), fs, target,
                            workers, progress)
    return where, problems


def pull_release(url: str, to: str, workers: int = WORKERS, progress: bool = True) -> tuple[str, list[str]]:
    """Mirror the published release at ``url`` into ``to/<name>/<version>/``; (where, problems).
    Rerun, it checks what is there and fetches only what is missing or wrong."""
    import fsspec

    record = load_release(url)
    fs, base = fsspec.core.url_to_fs(to)
    target = f"{base.rstrip('/')}/{check_name(record['name'])}/{check_version(record['version'])}"
    where = os.path.join(to, record["name"], record["version"])
    if fs.exists(f"{target}/{RELEASE_JSON}"):
        here = json.loads(fs.cat_file(f"{target}/{RELEASE_JSON}"))
        if (here["shards"], here["manifests"]) != (record["shards"], record["manifests"]):
            raise ReleaseError(f"{where} holds another {record['name']}@{record['version']} than {url}; "
                               "a version is never overwritten")
    problems = copy_release(release_files(url, record), published_record(record), fs, target, workers, progress)
    return where, problems
