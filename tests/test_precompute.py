"""The precompute stage on synthetic videos, measured against their ground truth."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import PRECOMPUTE_PIPELINE as PIPELINE
from conftest import shard_samples

from timelapse_d.cli import main
from timelapse_d.flow import backward_warp
from timelapse_d.manifest import read_rows, write_rows
from timelapse_d.resize import fit_groups
from timelapse_d.shards import pack, read_samples
from timelapse_d.stages.precompute import SPLITS_FILE
from timelapse_d.synthetic import load_ground_truth


@pytest.fixture
def run(precomputed_run):
    return precomputed_run

def before_precompute(run, work):
    """A copy of the run's work directory as it was before the precompute stage."""
    shutil.copytree(run, work, symlinks=True)
    for path in [work / "manifests" / "samples.parquet", work / SPLITS_FILE]:
        path.unlink()
    shutil.rmtree(work / "shards")
    return work


def ground_truth(work, video_id):
    return load_ground_truth(work / "sources" / "synthetic", video_id)[1]


def test_every_usable_clip_is_one_sample_in_exactly_one_shard_and_the_others_say_why(run):
    clips = {row["clip_id"]: row for row in read_rows(run, "clips") if row["status"] == "ok"}
    samples = {row["sample_key"]: row for row in read_rows(run, "samples")}
    assert set(samples) == set(clips)  # every labelled clip has a row
    ok = [row for row in samples.values() if row["status"] == "ok"]
    dropped = [row for row in samples.values() if row["status"] == "dropped"]
    assert len(ok) >= 4 and dropped
    assert all(row["error"].startswith("labelled not usable by auto") for row in dropped)
    in_shards = shard_samples(run)
    assert set(in_shards) == {row["sample_key"] for row in ok}
    assert all(in_shards[row["sample_key"]][0] == row["shard"] for row in ok)
    assert len({row["shard"] for row in ok}) >= 2  # shard_bytes is small
    assert not list((run / "shards").glob(".tmp-*"))
    assert not list((run / pack.STAGING_DIR).iterdir())
    for key, (shard, _) in in_shards.items():
        assert "." not in key and shard.split("-")[0] == samples[key]["split"]


def test_samples_hold_the_kept_frames_the_true_masks_and_the_provenance(run):
    samples = {row["sample_key"]: row for row in read_rows(run, "samples") if row["status"] == "ok"}
    clips = {row["clip_id"]: row for row in read_rows(run, "clips")}
    for key, (_, sample) in shard_samples(run).items():
        clip = clips[key]
        indices = list(range(clip["start_frame"], clip["end_frame"], 2))
        assert sample.meta["frame_indices"] == samples[key]["frame_indices"] == indices
        assert len(sample) == len(indices)
        truth = ground_truth(run, clip["video_id"])
        for i, n in enumerate(indices):
            assert sample.frame(i).shape == (96, 96, 3)
            np.testing.assert_array_equal(sample.groups(i), fit_groups(truth["semantics"][n], (96, 96), "squash"))
        with pytest.raises(IndexError):
            sample.flow(len(indices) - 1)
        meta = sample.meta
        assert meta["flow"]["estimator"] == "dis" and meta["flow"]["preset"] == "medium"
        assert meta["flow"]["direction"] == "backward" and meta["flow"]["max_error_px"] == 1 / 128
        assert meta["segmenter"]["segmenter"] == "oracle"
        assert meta["source_size"] == [128, 96] and meta["size"] == [96, 96] and meta["fps"] == 6.0
        assert meta["license_id"] == "CC0-1.0" and "timelapse_d.synthetic" in meta["attribution"]
        assert meta["split"] == samples[key]["split"] and meta["video_id"] == clip["video_id"]


def _true_kept_pair_flow(truth, n):
    """The exact backward flow of source frames (n, n + 2) from the per-frame truth, at 96x96."""
    first, second = truth["flow"][n].astype(np.float32), truth["flow"][n + 1].astype(np.float32)
    composed = second + backward_warp(first, second)  # F(p) = F1(p) + F0(p + F1(p)), (96, 128, 2)
    valid = ~(truth["occlusion"][n] | truth["occlusion"][n + 1]) & np.isfinite(composed).all(axis=2)
    import cv2

    scaled = cv2.resize(np.nan_to_num(composed), (96, 96), interpolation=cv2.INTER_LINEAR) * [96 / 128, 1.0]
    valid = cv2.resize(valid.astype(np.uint8), (96, 96), interpolation=cv2.INTER_NEAREST).astype(bool)
    return scaled, valid


def test_stored_flow_is_the_backward_flow_of_the_kept_pair_in_stored_pixels(run):
    errors, gains = [], []
    clips = {row["clip_id"]: row for row in read_rows(run, "clips")}
    for key, (_, sample) in shard_samples(run).items():
        truth = ground_truth(run, clips[key]["video_id"])
        for i, n in enumerate(sample.meta["frame_indices"][:-1]):
            flow = sample.flow(i)  # (96, 96, 2)
            true_flow, valid = _true_kept_pair_flow(truth, n)
            errors.append(np.linalg.norm(flow - true_flow, axis=2)[valid].mean())
            # warping kept frame i by its flow reproduces kept frame i + 1
            before, after = sample.frame(i).astype(float), sample.frame(i + 1).astype(float)
            still = np.abs(before - after).mean()
            warped = np.abs(backward_warp(sample.frame(i), flow).astype(float) - after)[4:-4, 4:-4].mean()
            if still > 1.0:
                gains.append(warped / still)
    print(f"mean EPE of stored flows against the truth: {np.mean(errors):.3f} px over {len(errors)} pairs")
    assert np.mean(errors) < 0.35
    assert gains and np.median(gains) < 0.7  # measured 0.65: warping removes a third of the frame difference


def test_split_is_by_video_balanced_and_recorded(run):
    rows = [row for row in read_rows(run, "samples") if row["status"] == "ok"]
    by_video = {}
    for row in rows:
        by_video.setdefault(row["video_id"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_video.values())
    assert {"train", "test"} <= {row["split"] for row in rows}
    recorded = json.loads((run / SPLITS_FILE).read_text())
    assert recorded["seed"] == 0 and recorded["test_fraction"] == 0.3
    assert {video: splits.pop() for video, splits in by_video.items()}.items() <= recorded["videos"].items()


def test_rerun_does_nothing_and_an_interrupted_pack_publishes_no_partial_shard(run, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(run, work, symlinks=True)
    before = {path.name: path.read_bytes() for path in (work / "shards").glob("*.tar")}
    assert main(["precompute", "--work", str(work), "--no-progress"]) == 0
    assert {path.name: path.read_bytes() for path in (work / "shards").glob("*.tar")} == before

    # unpack the last shard's samples back to staging, as if the run had been stopped before packing them
    rows = read_rows(work, "samples")
    last = max(row["shard"] for row in rows if row["status"] == "ok")
    for entries in read_samples(work / "shards" / last):
        pack.stage_sample(work, entries.pop("__key__"), entries)
    (work / "shards" / last).unlink()
    write_rows(work, "samples", [{**row, "shard": "" if row["shard"] == last else row["shard"]} for row in rows])
    staged = sorted(path.stem for path in (work / pack.STAGING_DIR).glob("*.tar"))

    real_read = pack.read_samples

    def failing_read(path):  # the first staged sample is read whole and written, then the disk goes away
        yield from real_read(path)
        raise OSError("disk went away")

    monkeypatch.setattr(pack, "read_samples", failing_read)
    with pytest.raises(OSError):
        pack.pack_staged(work, read_rows(work, "samples"), shard_bytes=10**9, progress=False)
    assert sorted(path.name for path in (work / "shards").iterdir()) == sorted(set(before) - {last})
    assert sorted(row["sample_key"] for row in read_rows(work, "samples") if row["status"] == "ok"
                  and not row["shard"]) == staged

    monkeypatch.setattr(pack, "read_samples", real_read)
    assert main(["precompute", "--work", str(work), "--no-progress"]) == 0
    repacked = shard_samples(work)
    assert sorted(key for key, (shard, _) in repacked.items() if shard == last) == staged  # numbered on
    assert not list((work / pack.STAGING_DIR).glob("*.tar"))


def test_sigkill_during_precompute_then_rerun_gives_the_same_samples(run, tmp_path):
    work = before_precompute(run, tmp_path / "killed")
    command = [sys.executable, "-m", "timelapse_d.cli", "precompute", "--work", str(work), "--workers", "2",
               "--commit-seconds", "0.1", "--no-progress"]
    kills, delay = 0, 0.8
    while True:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert process.wait(timeout=delay) == 0
            break
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            delay += 0.3
        assert kills < 30, "precompute never finished"
    time.sleep(0.5)
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert kills >= 1

    def comparable(work_dir):
        return sorted({k: v for k, v in row.items() if k not in ("shard", "created_at")}.items()
                      for row in read_rows(work_dir, "samples"))

    assert comparable(work) == comparable(run)
    reference, rebuilt = shard_samples(run), shard_samples(work)
    assert set(rebuilt) == set(reference)
    for key, (_, sample) in rebuilt.items():
        other = reference[key][1]
        assert sample.entries.keys() == other.entries.keys()
        assert all(sample.entries[name] == other.entries[name] for name in sample.entries if name != "__key__")


def test_an_unreadable_video_fails_its_clips_with_the_reason_and_the_rest_goes_on(run, tmp_path):
    work = before_precompute(run, tmp_path / "broken")
    ok_rows = [row for row in read_rows(run, "samples") if row["status"] == "ok"]
    victim = ok_rows[0]["video_id"]
    video_path = work / next(row["path"] for row in read_rows(work, "videos") if row["video_id"] == victim)
    video_path.unlink()
    video_path.write_bytes(video_path.name.encode() * 10)
    assert main(["precompute", "--work", str(work), "--no-progress"]) == 1
    rows = {row["sample_key"]: row for row in read_rows(work, "samples")}
    for row in ok_rows:
        if row["video_id"] == victim:
            assert rows[row["sample_key"]]["status"] == "failed"
            assert str(video_path.name) in rows[row["sample_key"]]["error"]
        else:
            assert rows[row["sample_key"]]["status"] == "ok" and rows[row["sample_key"]]["shard"]


def test_unknown_estimator_or_bad_parameters_are_usage_errors(tmp_path, capsys):
    text = PIPELINE.format(videos=1).replace('segmenter = "oracle"', 'segmenter = "oracle"\nflow = "raft9"')
    (tmp_path / "p.toml").write_text(text)
    assert main(["run", str(tmp_path / "p.toml"), "--work", str(tmp_path / "w")]) == 2
    assert "raft9" in capsys.readouterr().err
    text = PIPELINE.format(videos=1) + "\n[stages.flow_params]\npreset = \"slowest\"\n"
    (tmp_path / "p.toml").write_text(text)
    assert main(["run", str(tmp_path / "p.toml"), "--work", str(tmp_path / "w")]) == 2
    assert "slowest" in capsys.readouterr().err
