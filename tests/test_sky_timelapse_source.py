"""Importing a Sky Time-lapse tree: sources rows pointing at frame folders, keeping the split."""
import json

import cv2
import numpy as np
import pytest

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows

PIPELINE = """
[[stages]]
stage = "discover"
source = "sky-timelapse"
root = "{root}"

[[stages]]
stage = "download"
"""


def make_tree(root, layout):
    """layout: {(split_folder, video): {clip_folder: [frame numbers]}}; frames are 640x360 JPEGs."""
    rng = np.random.default_rng(0)
    for (split_folder, video), clips in layout.items():
        for folder, numbers in clips.items():
            directory = root / split_folder / video / folder
            directory.mkdir(parents=True)
            for number in numbers:
                frame = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
                cv2.imwrite(str(directory / f"{video}_frames_{number:08d}.jpg"), frame)


@pytest.fixture
def sky_tree(tmp_path):
    root = tmp_path / "sky"
    make_tree(root, {("sky_train", "07U1fSrk9oI"): {"1": range(46, 50), "2": range(120, 123)},
                     ("sky_train", "empty_video"): {"1": []},
                     ("sky_test", "zZ9-test_v"): {"1": range(0, 3)}})
    (root / "sky_train" / "07U1fSrk9oI" / "1" / "notes.txt").write_text("not a frame")
    return root


def test_tree_is_imported_with_clip_ranges_and_split(sky_tree, tmp_path):
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=sky_tree))
    work = tmp_path / "work"
    assert main(["run", str(pipeline), "--work", str(work), "--until", "discover", "--no-progress"]) == 1
    rows = {row["source_id"]: row for row in read_rows(work, "sources")}
    assert set(rows) == {"sky-timelapse-07U1fSrk9oI", "sky-timelapse-empty_video", "sky-timelapse-zZ9-test_v"}

    train = rows["sky-timelapse-07U1fSrk9oI"]
    assert train["status"] == "ok" and train["query"] == "sky-timelapse:sky_train/07U1fSrk9oI"
    assert train["url"] == (sky_tree / "sky_train" / "07U1fSrk9oI").resolve().as_uri()
    metadata = json.loads(train["metadata"])
    assert metadata["split"] == "train"
    assert metadata["clips"] == [{"folder": "1", "start": 46, "end": 50, "frames": 4},
                                 {"folder": "2", "start": 120, "end": 123, "frames": 3}]
    assert json.loads(rows["sky-timelapse-zZ9-test_v"]["metadata"])["split"] == "test"
    empty = rows["sky-timelapse-empty_video"]
    assert empty["status"] == "failed" and "no frames named empty_video_frames_XXXXXXXX.jpg" in empty["error"]


def test_a_video_in_both_splits_is_unusable_input(tmp_path, capsys):
    root = tmp_path / "sky"
    make_tree(root, {("sky_train", "v1"): {"1": [0, 1]}, ("sky_test", "v1"): {"1": [5, 6]}})
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=root))
    assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--until", "discover"]) == 2
    assert "'v1' is in both sky_train/ and sky_test/" in capsys.readouterr().err


def test_a_root_without_split_folders_is_unusable_input(tmp_path, capsys):
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=tmp_path))
    assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--until", "discover"]) == 2
    assert "no sky_train/ folder" in capsys.readouterr().err


def test_download_links_the_frame_folders_after_decoding_every_frame(sky_tree, tmp_path):
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=sky_tree))
    works = [tmp_path / "work", tmp_path / "again"]
    for work in works:
        assert main(["run", str(pipeline), "--work", str(work), "--no-progress"]) == 1  # the empty video
    videos = {row["video_id"]: row for row in read_rows(works[0], "videos")}
    assert set(videos) == {"sky-timelapse-07U1fSrk9oI", "sky-timelapse-zZ9-test_v"}  # nothing to fetch for a failed source
    train = videos["sky-timelapse-07U1fSrk9oI"]
    assert train["status"] == "ok" and train["path"] == "videos/sky-timelapse-07U1fSrk9oI"
    assert (works[0] / train["path"]).resolve() == (sky_tree / "sky_train" / "07U1fSrk9oI").resolve()
    assert (train["width"], train["height"], train["frames"], train["codec"]) == (640, 360, 7, "jpeg-frames")
    assert train["fps"] is None and train["bytes"] == sum(
        path.stat().st_size for path in (sky_tree / "sky_train" / "07U1fSrk9oI").glob("*/*.jpg"))
    assert [row["sha256"] for row in read_rows(works[1], "videos")] == [row["sha256"] for row in videos.values()]


@pytest.mark.parametrize("keep", [200, 0.8])  # bytes, or a share of the file
def test_a_corrupt_frame_fails_the_video_and_names_the_frame(sky_tree, tmp_path, keep):
    broken = sky_tree / "sky_test" / "zZ9-test_v" / "1" / "zZ9-test_v_frames_00000001.jpg"
    data = broken.read_bytes()
    broken.write_bytes(data[:keep] if isinstance(keep, int) else data[:int(len(data) * keep)])
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=sky_tree))
    assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--no-progress"]) == 1
    row = {r["video_id"]: r for r in read_rows(tmp_path / "work", "videos")}["sky-timelapse-zZ9-test_v"]
    assert row["status"] == "failed" and str(broken) in row["error"] and "not a decodable JPEG" in row["error"]
    assert not (tmp_path / "work" / "videos" / "sky-timelapse-zZ9-test_v").exists()


def test_split_keeps_the_dataset_clips_one_per_folder(sky_tree, tmp_path):
    pipeline = tmp_path / "sky.toml"
    pipeline.write_text(PIPELINE.format(root=sky_tree) + '\n[[stages]]\nstage = "split"\n')
    assert main(["run", str(pipeline), "--work", str(tmp_path / "work"), "--no-progress"]) == 1  # the empty video
    clips = read_rows(tmp_path / "work", "clips")
    assert [(row["clip_id"], row["status"], row["detector"], row["start_time"]) for row in clips] == [
        ("sky-timelapse-07U1fSrk9oI_f000046-000050", "ok", "sky-timelapse", None),
        ("sky-timelapse-07U1fSrk9oI_f000120-000123", "ok", "sky-timelapse", None),
        ("sky-timelapse-zZ9-test_v_f000000-000003", "ok", "sky-timelapse", None)]
    assert all(row["camera_motion_score"] is None for row in clips)  # no scores for source-defined clips
