"""The real videos of ../shared/assets through the whole data chain: urls -> download -> split ->
auto-label -> precompute (SegFormer with random tiny weights made in the test: the plumbing, not
real masks). Each clip ends where its content says: PySceneDetect's published cuts, the handheld pan
dropped as camera motion, static scenes dropped as barely moving, the moving sky precomputed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from timelapse_d.cli import main
from timelapse_d.manifest import read_rows
from timelapse_d.net.serve import LocalFileServer

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "videos"
VIDEOS = {"testvideo.mp4": ASSETS / "pyscenedetect_testvideo.mp4", "pan.mp4": ASSETS / "skyar_annarbor_pan.mp4",
          "clouds.mp4": ASSETS / "derived" / "al_clouds_sunset_8frames.mp4"}
PIPELINE = """
[[stages]]
stage = "discover"
source = "urls"
path = "{links}"

[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]

[[stages]]
stage = "split"
min_clip_frames = 4

[[stages]]
stage = "auto-label"

[[stages]]
stage = "precompute"
every = 2
width = 64
height = 64
segmenter = "segformer"
test_fraction = 0.0
shard_bytes = 2_000_000

[stages.segmenter_params]
weights = "{weights}"
"""


def test_real_videos_end_to_end(tmp_path, tiny_segformer_dir):
    served = tmp_path / "served"
    served.mkdir()
    for name, path in VIDEOS.items():
        shutil.copy(path, served / name)
    golden = json.loads((ASSETS / "pyscenedetect_testvideo_golden_ContentDetector.json").read_text())
    work = tmp_path / "work"
    with LocalFileServer(served) as server:
        (tmp_path / "links.csv").write_text("url,tags\n" + "".join(
            f"{server.url}/{name},{'cloud' if name != 'testvideo.mp4' else ''}\n" for name in VIDEOS))
        (tmp_path / "real.toml").write_text(PIPELINE.format(links=tmp_path / "links.csv", weights=tiny_segformer_dir))
        assert main(["run", str(tmp_path / "real.toml"), "--work", str(work), "--workers", "2", "--no-progress"]) == 0

    name_of = {row["source_id"]: row["url"].rsplit("/", 1)[1] for row in read_rows(work, "sources")}
    clips = {row["clip_id"]: row for row in read_rows(work, "clips")}
    samples = {row["clip_id"]: row for row in read_rows(work, "samples")}
    by_video: dict[str, list] = {}
    for clip in sorted(clips.values(), key=lambda row: row["start_frame"]):
        by_video.setdefault(name_of[clip["video_id"]], []).append((clip, samples[clip["clip_id"]]))

    assert [clip["start_frame"] for clip, _ in by_video["testvideo.mp4"]][1:] == golden["cuts"] == [30, 180, 394]
    for clip, sample in by_video["testvideo.mp4"]:  # title cards and still shots
        assert (sample["status"], sample["error"]) == (
            "dropped", "labelled not usable by auto (the camera is still but the scene barely moves)"), clip
    [(pan, pan_sample)] = by_video["pan.mp4"]
    assert (pan_sample["status"], pan_sample["error"]) == ("dropped", "labelled not usable by auto (camera motion: pan)")
    [(sky, sky_sample)] = by_video["clouds.mp4"]
    assert (sky_sample["status"], sky_sample["category"], sky_sample["frame_indices"]) == ("ok", "cloud", [0, 2, 4, 6])
    assert sky["motion_strength"] > 0.15 and sky["camera_motion_score"] < 0.15
