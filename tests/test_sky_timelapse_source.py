"""Importing a Sky Time-lapse tree: sources rows pointing at frame folders, keeping the split."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from fgla_tiny import tiny_config

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


ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "images" / "sequences"
def _real_tree(root: Path) -> None:
    """Real frames in Sky Time-lapse's layout (renumbered from 0): a sunset sky and a webcam view,
    plus a made one (a sky gradient with a drifting bright cloud)."""
    for split_folder, video, sequence in (("sky_train", "sunset", "al_motion_clouds_sunset"),
                                          ("sky_test", "webcam", "al_appearance_webcam")):
        frames = sorted((ASSETS / sequence).glob("*.jpg"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
        (root / split_folder / video / "1").mkdir(parents=True)
        for number, frame in enumerate(frames):
            shutil.copy(frame, root / split_folder / video / "1" / f"{video}_frames_{number:08d}.jpg")
    (root / "sky_train" / "made" / "1").mkdir(parents=True)
    y, x = np.mgrid[0:360, 0:640]
    for number in range(12):
        sky = np.stack([200 - y * 0.3, 150 - y * 0.2, 90 + 0 * y], axis=-1)
        cloud = np.exp(-(((x - 200 - 6 * number) / 80) ** 2 + ((y - 120) / 40) ** 2))[..., None] * 120
        cv2.imwrite(str(root / "sky_train" / "made" / "1" / f"made_frames_{number:08d}.jpg"),
                    np.clip(sky + cloud, 0, 255).astype(np.uint8))


def test_the_shipped_pipeline_takes_a_tree_to_a_release_and_training_with_no_human_step(tmp_path, tiny_segformer_dir):
    """pipelines/sky_timelapse.toml as shipped, but for its root and weights (random tiny SegFormer
    weights made by the test: the plumbing, not real masks) and a smaller frame size."""
    from fgla_model.cli import main as fgla_main

    _real_tree(tmp_path / "sky")
    text = (Path(__file__).resolve().parents[1] / "pipelines" / "sky_timelapse.toml").read_text()
    text = text.replace('root = "data/sky_timelapse"', f'root = "{tmp_path / "sky"}"')
    text = text.replace('weights = "nvidia/segformer-b0-finetuned-ade-512-512"', f'weights = "{tiny_segformer_dir}"')
    text = text.replace("width = 256", "width = 64").replace("height = 256", "height = 64")
    (tmp_path / "sky.toml").write_text(text)
    work = tmp_path / "work"
    assert main(["run", str(tmp_path / "sky.toml"), "--work", str(work), "--no-progress"]) == 0

    labels = read_rows(work, "labels")
    assert len(labels) == 3 and {(row["annotator"], row["label_source"], row["camera_motion"], row["usable"],
                                  tuple(row["categories"])) for row in labels} == {("import", "import", "none", True,
                                                                                    ("cloud",))}
    samples = {row["video_id"]: row for row in read_rows(work, "samples")}
    assert {video: (row["status"], row["split"], row["category"]) for video, row in samples.items()} == {
        "sky-timelapse-sunset": ("ok", "train", "cloud"), "sky-timelapse-made": ("ok", "train", "cloud"),
        "sky-timelapse-webcam": ("ok", "test", "cloud")}  # the dataset's own split
    assert samples["sky-timelapse-made"]["frame_indices"] == [0, 4, 8]  # one frame in 4

    assert main(["release", "create", "--work", str(work), "--name", "sky", "--version", "1.0.0",
                 "--root", str(tmp_path / "releases")]) == 0
    release = tmp_path / "releases" / "sky" / "1.0.0"
    assert main(["release", "verify", str(release), "--no-progress"]) == 0
    config = tiny_config(tmp_path / "tiny.toml", steps=2, log_every=1, checkpoint_every=2)
    assert fgla_main(["train", "--release", str(release), "--config", str(config),
                      "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"]) == 0
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    steps = [line.split(",")[0] for line in (tmp_path / "run" / "losses.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2"]


@pytest.mark.parametrize("params, message", [
    ({"categories": ["clouds"]}, "categories must be among the paper's 13"),
    ({"camera_motion": "still"}, "camera_motion must be one of"), ({"source_kinds": []}, "source_kinds must name")])
def test_import_labels_config_errors_name_the_field(params, message):
    from timelapse_d.stages.import_labels import ImportLabelsConfig

    with pytest.raises(ValueError, match=message):
        ImportLabelsConfig(**params)
