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

import json
import tarfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from timelapse_d.atomic import write_bytes_atomic, write_json_atomic
from timelapse_d.executors.base import Executor
from timelapse_d.manifest import read_rows, write_rows
from timelapse_d.pipeline import PIPELINE_COPY, Pipeline, open_work, run_stage
from timelapse_d.shards import ClipSample
from timelapse_d.shards.pack import SHARDS_DIR
from timelapse_d.shards.tarfiles import index_tar, read_indexed
from timelapse_d.stages.precompute import SPLITS_FILE

from .store import ReleaseError, load_release

DEFAULT_FLOW_TOLERANCE_PX = 0.05
REPORT = "rebuild_report.json"  # in the new work directory


def _stage(pipeline: Pipeline, name: str):
    for stage in pipeline.stages:
        if stage.name == name:
            return stage
    raise ReleaseError(f"the release's pipeline {pipeline.name!r} has no {name!r} stage to rebuild with")


def _seed_manifests(release: Path, work: Path, pipeline: Pipeline) -> None:
    """The recorded rows, written only where the table is still empty (a resumed rebuild keeps its own)."""
    for table in ("sources", "clips", "labels"):
        if not read_rows(work, table):
            write_rows(work, table, read_rows(release, table))
    splits = {row["video_id"]: row["split"] for row in read_rows(release, "samples")}
    write_json_atomic(work / SPLITS_FILE, {"rule": "recorded by the release", "videos": dict(sorted(splits.items()))})
    discover = next((stage for stage in pipeline.stages if stage.name == "discover"), None)
    if discover is not None:
        for row in read_rows(work, "sources"):
            if row["source_kind"] == discover.source.name:
                discover.source.restore(row, str(work))


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
    release = Path(release)
    record = load_release(release)
    pipeline = Pipeline.parse(record["pipeline"], f"{release}/pipeline.toml")
    download, precompute = _stage(pipeline, "download"), _stage(pipeline, "precompute")
    published_dir = Path(shards or record["shards_location"])
    with open_work(work) as work, executor:
        write_bytes_atomic(work / PIPELINE_COPY, record["pipeline"].encode())
        _seed_manifests(release, work, pipeline)
        run_stage(download, str(work), executor, progress=progress)
        run_stage(precompute, str(work), executor, progress=progress)

    recorded_videos = {row["video_id"]: row["sha256"] for row in read_rows(release, "videos")}
    changed = sorted(row["video_id"] for row in read_rows(work, "videos")
                     if row["status"] == "ok" and recorded_videos.get(row["video_id"]) != row["sha256"])
    expected = {row["sample_key"] for row in read_rows(release, "samples")}
    rebuilt_rows = {row["sample_key"]: row for row in read_rows(work, "samples")}
    made = {key for key, row in rebuilt_rows.items() if row["status"] == "ok"}
    published, unreadable = _index(published_dir, [shard["name"] for shard in record["shards"]])
    remade, _ = _index(work / SHARDS_DIR, sorted({rebuilt_rows[key]["shard"] for key in made}))
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
        "missing_reasons": {key: rebuilt_rows[key]["error"] for key in sorted(expected - made) if key in rebuilt_rows},
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
        lines.append(f"missing: {key} {report['missing_reasons'].get(key, '(no row)')}")
    lines += [f"extra: {key}" for key in report["extra"]]
    lines += [f"video changed at its source: {video}" for video in report["videos_changed"]]
    lines += [f"differs: {key} {json.dumps(result, sort_keys=True)}" for key, result in report["samples_differing"].items()]
    lines += [f"unreadable published shard: {name}: {why}" for name, why in report["unreadable_shards"].items()]
    lines += [f"not comparable: {key}: {why}" for key, why in report["samples_not_comparable"].items()]
    lines.append("identical within tolerance" if report["identical"] else "NOT identical")
    return lines
