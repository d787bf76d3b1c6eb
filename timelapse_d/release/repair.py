"""``release repair``: make the release's damaged shards again, byte for byte, from its manifests.

``verify`` names the shards that are missing or altered; only their samples are made again
(``rebuild.remake`` into a new work directory: download, the recorded frame ranges, precompute).
Each damaged shard is then packed again with its samples in their original order (read from the
damaged file's own tar headers when they still can be, else key order, the order packing uses),
and its sha256 is checked against release.json. A shard that matches is swapped in atomically. One
that does not (another software stack made other bytes: a different FFmpeg, flow estimator or
JPEG encoder) is not: the old file stays, and the rebuilt one is written beside it as
``<shard>.rebuilt.tar`` for the user to compare (``rebuild`` says how its samples differ).

    report = repair_release("manifests/demo/1.0.0", "work/repair", LocalExecutor(workers=2))
    # {"damaged": {shard: why}, "repaired": [shard, ...], "not_matching": {shard: beside}, ...}
"""
from __future__ import annotations

import os
import re
import shutil
import tarfile
import time
from pathlib import Path

from timelapse_d.atomic import TMP_PREFIX, fsync_path, write_json_atomic
from timelapse_d.executors.base import Executor
from timelapse_d.manifest import read_rows
from timelapse_d.media import sha256_file
from timelapse_d.net.locations import is_url
from timelapse_d.shards.pack import write_shards
from timelapse_d.shards.tarfiles import index_tar, read_indexed

from .rebuild import missing_reasons, remade_index, remake
from .store import ReleaseError, load_release, shards_location
from .verify import damaged_shards

REPORT = "repair_report.json"  # in the repair's work directory
_NUMBERED = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{6})\.tar$")
_ALL_IN_ONE = 1 << 62  # write_shards' size limit for one shard that must hold all its samples


def original_order(path: Path, keys: set[str]) -> list[str]:
    """The shard's samples in the order its file held them (its tar headers), else in key order."""
    try:
        order = [key for key in index_tar(path) if key in keys]
    except (OSError, tarfile.TarError):
        order = []
    return order if set(order) == keys else sorted(keys)


def _pack_again(name: str, order: list[str], remade: dict, directory: Path) -> Path:
    """Write shard ``name`` holding ``order``'s samples into ``directory`` (its final name there)."""
    match = _NUMBERED.match(name)
    if not match:
        raise ReleaseError(f"shard {name} is not named <prefix>-NNNNNN.tar; it cannot be packed again")
    samples = (read_indexed(*remade[key], key) for key in order)
    write_shards(directory, match["prefix"], samples, _ALL_IN_ONE, int(match["index"]))
    return directory / name


def _swap_in(rebuilt: Path, shard: dict, directory: Path) -> str | None:
    """Replace the damaged shard by ``rebuilt`` if it has release.json's sha256 (return None); else
    keep the old one, put the rebuilt one beside it and return where."""
    if sha256_file(rebuilt) == shard["sha256"]:
        os.replace(rebuilt, directory / shard["name"])
        fsync_path(directory)
        return None
    beside = directory / f"{shard['name'][:-len('.tar')]}.rebuilt.tar"
    os.replace(rebuilt, beside)
    return str(beside)


def repair_release(release: str | Path, work: str | Path, executor: Executor, shards: str | Path | None = None,
                   progress: bool = True) -> dict:
    if is_url(str(release)):
        raise ReleaseError(f"{release}: repair mends a release on this machine; pull it first (timelapse-d release pull)")
    release, work, started = Path(release), Path(work), time.monotonic()
    record = load_release(release)
    directory = shards_location(release, record, shards)
    if is_url(directory):
        raise ReleaseError(f"the shards of {release} are at {directory}; repair mends shards on this machine: "
                           "pull the release first (timelapse-d release pull)")
    directory = Path(directory)
    damaged = damaged_shards(str(directory), record)
    report = {"release": f"{record['name']}@{record['version']}", "damaged": damaged, "repaired": [],
              "not_matching": {}, "not_rebuilt": {}}
    samples = read_rows(release, "samples")
    by_shard = {name: {row["sample_key"] for row in samples if row["shard"] == name} for name in damaged}
    if damaged:
        rows = remake(release, record, work, executor, set().union(*by_shard.values()), progress)
        remade = remade_index(work, rows)
        staging = directory / f"{TMP_PREFIX}repair"  # one name: what a killed repair left is cleared here
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        reasons = missing_reasons(release, work, rows, set().union(*by_shard.values()) - set(remade))
        try:
            for shard in (shard for shard in record["shards"] if shard["name"] in damaged):
                missing = by_shard[shard["name"]] - set(remade)
                if missing:
                    report["not_rebuilt"][shard["name"]] = {key: reasons[key] for key in sorted(missing)}
                else:
                    _repair_one(shard, by_shard[shard["name"]], remade, directory, staging, report)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    write_json_atomic(work / REPORT, report)
    return report


def _repair_one(shard: dict, keys: set[str], remade: dict, directory: Path, staging: Path, report: dict) -> None:
    name = shard["name"]
    rebuilt = _pack_again(name, original_order(directory / name, keys), remade, staging)
    beside = _swap_in(rebuilt, shard, directory)
    if beside is None:
        report["repaired"].append(name)
    else:
        report["not_matching"][name] = beside


def report_lines(report: dict) -> list[str]:
    if not report["damaged"]:
        return [f"{report['release']}: every shard is whole; nothing to repair"]
    lines = [f"damaged: {why}" for why in report["damaged"].values()]
    lines += [f"repaired: {name} (rebuilt byte for byte, sha256 as in release.json)" for name in report["repaired"]]
    lines += [f"NOT repaired: {name}: rebuilt with another sha256 (a different software stack?); the old file is "
              f"kept, the rebuilt one is at {beside}" for name, beside in report["not_matching"].items()]
    lines += [f"NOT repaired: {name}: {len(why)} sample(s) could not be made again, e.g. "
              f"{next(iter(why.items()))}" for name, why in report["not_rebuilt"].items()]
    lines.append(f"{len(report['repaired'])} of {len(report['damaged'])} damaged shard(s) repaired "
                 f"in {report['seconds']} s")
    return lines
