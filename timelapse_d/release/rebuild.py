"""``rebuild``: make a release again from its manifests alone, and say how the result differs.

Into a new work directory: the release's ``sources`` rows (a source that has to, such as the
synthetic one, first makes its media again: ``Source.restore``), the download stage as the
release's pipeline defines it, the release's clips (the recorded frame ranges: nothing is
detected again), its labels and its train / test assignment, then the precompute stage. The
report compares each rebuilt sample with the published one: the same sample keys, every frame
and mask equal, and every flow within ``flow_tolerance_px`` (mean end-point error per frame pair,
in pixels of the stored size; both sides are quantised to 1/64 px, so one estimator run on the
same frames gives 0). Videos whose sha256 changed (the source altered them) are listed too.
Resumable: a killed rebuild, rerun, goes on.
"""
from __future__ import annotations

import functools
import json
import tarfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from timelapse_d.atomic import write_bytes_atomic, write_json_atomic
from timelapse_d.executors.base import Executor
from timelapse_d.manifest import read_rows, write_rows
from timelapse_d.manifest_join import clip_joins
from timelapse_d.pipeline import PIPELINE_COPY, Pipeline, open_work, run_stage
from timelapse_d.shards import ClipSample
from timelapse_d.shards.pack import SHARDS_DIR
from timelapse_d.shards.tarfiles import index_tar, read_indexed
from timelapse_d.stages.precompute import SPLITS_FILE

from .store import ReleaseError, load_release, shards_location

DEFAULT_FLOW_TOLERANCE_PX = 0.05
REPORT = "rebuild_report.json"  # in the new work directory


def _stage(pipeline: Pipeline, name: str):
    for stage in pipeline.stages:
        if stage.name == name:
            return stage
    raise ReleaseError(f"the release's pipeline {pipeline.name!r} has no {name!r} stage to rebuild with")


def _seed_manifests(release: Path, work: Path, pipeline: Pipeline, keys: set[str] | None,
                    executor: Executor) -> None:
    """The recorded rows (of the samples ``keys`` only, when given), written only where the table is
    still empty (a resumed rebuild keeps its own)."""
    samples = [row for row in read_rows(release, "samples") if keys is None or row["sample_key"] in keys]
    clip_ids = {row["clip_id"] for row in samples}
    source_ids = {joined.video["source_id"] for joined in clip_joins(release, clip_ids)}
    wanted = {"sources": lambda row: row["source_id"] in source_ids, "clips": lambda row: row["clip_id"] in clip_ids,
              "labels": lambda row: row["clip_id"] in clip_ids}
    for table, keep in wanted.items():
        if not read_rows(work, table):
            write_rows(work, table, [row for row in read_rows(release, table) if keep(row)])
    splits = {row["video_id"]: row["split"] for row in samples}
    write_json_atomic(work / SPLITS_FILE, {"rule": "recorded by the release", "videos": dict(sorted(splits.items()))})
    discover = next((stage for stage in pipeline.stages if stage.name == "discover"), None)
    if discover is not None:
        rows = [row for row in read_rows(work, "sources") if row["source_kind"] == discover.source.name]
        for _ in executor.map_unordered(functools.partial(_restore, discover.source, str(work)), rows):
            pass  # the executor's workers make the media again side by side


def _restore(source, work: str, row: dict) -> None:
    source.restore(row, work)


def remake(release: Path, record: dict, work: str | Path, executor: Executor, keys: set[str] | None = None,
           progress: bool = True) -> dict[str, dict]:
    """Download and precompute the release's samples (``keys`` only, when given) again into ``work``,
    as its pipeline defines them; return the work's samples rows by key."""
    pipeline = Pipeline.parse(record["pipeline"], f"{release}/pipeline.toml")
    download, precompute = _stage(pipeline, "download"), _stage(pipeline, "precompute")
    with open_work(work) as work, executor:
        write_bytes_atomic(work / PIPELINE_COPY, record["pipeline"].encode())
        _seed_manifests(release, work, pipeline, keys, executor)
        run_stage(download, str(work), executor, progress=progress)
        run_stage(precompute, str(work), executor, progress=progress)
    return {row["sample_key"]: row for row in read_rows(work, "samples")}


def missing_reasons(release: Path, work: str | Path, rows: dict[str, dict], keys: set[str]) -> dict[str, str]:
    """Why each of ``keys`` was not made again: its sample row's error, else its video's."""
    video_of = {row["sample_key"]: row["video_id"] for row in read_rows(release, "samples")}
    videos = {row["video_id"]: row for row in read_rows(work, "videos")}
    reasons = {}
    for key in sorted(keys):
        video = videos.get(video_of.get(key), {})
        reasons[key] = ((rows.get(key) or {}).get("error")
                        or (f"its video was not downloaded: {video['error']}" if video.get("error") else "no row"))
    return reasons


def remade_index(work: str | Path, rows: dict[str, dict]) -> dict[str, tuple[Path, dict]]:
    """key -> (shard path, its entries) of the samples a ``remake`` packed."""
    return _index(Path(work) / SHARDS_DIR, sorted({row["shard"] for row in rows.values() if row["status"] == "ok"}))[0]


def _index(directory: Path, names: list[str]) -> tuple[dict[str, tuple[Path, dict]], dict[str, str]]:
    """key -> (shard path, its entries), over the shards that can be read; and shard -> why not, for
    the others (missing, or not a tar file any more)."""
    index, unreadable = {}, {}
    for name in names:
        try:
            entries_of = index_tar(directory / name)
        except (OSError, tarfile.TarError) as error:
            unreadable[name] = f"{type(error).__name__}: {error}"
            continue
        for key, entries in entries_of.items():
            index[key] = (directory / name, entries)
    return index, unreadable


def _compare(key: str, published: dict, remade: dict, tolerance_px: float) -> tuple[dict | None, str]:
    """(the comparison, "") or (None, why the published sample cannot be compared)."""
    if key not in published:
        return None, "its published shard is missing or unreadable"
    try:
        original = ClipSample(read_indexed(*published[key], key))
        return compare_samples(original, ClipSample(read_indexed(*remade[key], key)), tolerance_px), ""
    except (OSError, ValueError, KeyError, zlib.error) as error:  # a damaged entry: bad JPEG, PNG, zlib or JSON
        return None, f"its published sample cannot be decoded ({type(error).__name__}: {error})"


def compare_samples(original: ClipSample, rebuilt: ClipSample, tolerance_px: float) -> dict:
    """How one rebuilt sample differs from its published self."""
    result = {"frames_equal": True, "masks_equal": True, "flow_max_epe_px": 0.0, "flow_mean_epe_px": 0.0,
              "same_frame_indices": original.meta["frame_indices"] == rebuilt.meta["frame_indices"]}
    if len(original) != len(rebuilt) or not result["same_frame_indices"]:
        return {**result, "frames_equal": False, "masks_equal": False, "flow_within_tolerance": False}
    epes = []
    for i in range(len(original)):
        result["frames_equal"] &= bool(np.array_equal(original.frame(i), rebuilt.frame(i)))
        result["masks_equal"] &= bool(np.array_equal(original.groups(i), rebuilt.groups(i)))
        if i < len(original) - 1:
            epes.append(float(np.linalg.norm(original.flow(i) - rebuilt.flow(i), axis=2).mean()))
    result.update(flow_max_epe_px=max(epes), flow_mean_epe_px=float(np.mean(epes)),
                  flow_within_tolerance=max(epes) <= tolerance_px)
    return result


def rebuild(release: str | Path, work: str | Path, executor: Executor, shards: str | Path | None = None,
            flow_tolerance_px: float = DEFAULT_FLOW_TOLERANCE_PX, progress: bool = True) -> dict:
    release, work = Path(release), Path(work)
    record = load_release(release)
    published_dir = Path(shards_location(release, record, shards))
    rebuilt_rows = remake(release, record, work, executor, progress=progress)
    recorded_videos = {row["video_id"]: row["sha256"] for row in read_rows(release, "videos")}
    changed = sorted(row["video_id"] for row in read_rows(work, "videos")
                     if row["status"] == "ok" and recorded_videos.get(row["video_id"]) != row["sha256"])
    expected = {row["sample_key"] for row in read_rows(release, "samples")}
    made = {key for key, row in rebuilt_rows.items() if row["status"] == "ok"}
    published, unreadable = _index(published_dir, [shard["name"] for shard in record["shards"]])
    remade = remade_index(work, rebuilt_rows)
    differences, not_comparable, epes = {}, {}, []
    for key in tqdm(sorted(expected & made), desc="compare samples", unit="sample", disable=not progress):
        result, why = _compare(key, published, remade, flow_tolerance_px)
        if result is None:
            not_comparable[key] = why
            continue
        epes.append(result["flow_max_epe_px"])
        if not (result["frames_equal"] and result["masks_equal"] and result["flow_within_tolerance"]):
            differences[key] = result
    report = {
        "release": f"{record['name']}@{record['version']}", "flow_tolerance_px": flow_tolerance_px,
        "samples_expected": len(expected), "samples_rebuilt": len(expected & made),
        "missing": sorted(expected - made),
        "missing_reasons": missing_reasons(release, work, rebuilt_rows, expected - made),
        "extra": sorted(made - expected),
        "videos_changed": changed, "samples_differing": differences,
        "unreadable_shards": unreadable, "samples_not_comparable": not_comparable,
        "flow_max_epe_px": max(epes, default=0.0),
    }
    report["identical"] = not (report["missing"] or report["extra"] or differences or not_comparable)
    write_json_atomic(work / REPORT, report)
    return report


def report_lines(report: dict) -> list[str]:
    lines = [f"rebuild of {report['release']}: {report['samples_rebuilt']}/{report['samples_expected']} samples "
             f"rebuilt, largest flow difference {report['flow_max_epe_px']:.4f} px "
             f"(tolerance {report['flow_tolerance_px']} px)"]
    for key in report["missing"]:
        lines.append(f"missing: {key}: {report['missing_reasons'][key]}")
    lines += [f"extra: {key}" for key in report["extra"]]
    lines += [f"video changed at its source: {video}" for video in report["videos_changed"]]
    lines += [f"differs: {key} {json.dumps(result, sort_keys=True)}" for key, result in report["samples_differing"].items()]
    lines += [f"unreadable published shard: {name}: {why}" for name, why in report["unreadable_shards"].items()]
    lines += [f"not comparable: {key}: {why}" for key, why in report["samples_not_comparable"].items()]
    lines.append("identical within tolerance" if report["identical"] else "NOT identical")
    return lines
