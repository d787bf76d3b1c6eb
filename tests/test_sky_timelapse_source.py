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
