"""Precompute: time per kept frame pair against the bare flow estimator, 2-worker speed-up, bytes
per kept frame, and peak memory on a 1080p, 600-frame clip.

    .venv/bin/python benchmarks/precompute_speed.py [--videos 8] [--frames 96] [--skip-1080p]

Goals (issue 5): precompute <= 1.3x the bare estimator per kept pair; >= 1.8x with 2 workers;
<= 100 KB per kept frame at 256; <= 1 GiB peak for a 1080p, 600-frame clip.

1. A synthetic work directory (256x192 videos, one shot each, still camera) runs to ``auto-label``.
2. Bare estimator: the kept pairs of every clip are decoded and resized beforehand (not timed),
   then only ``estimate`` is timed. Precompute: the stage on the same clips, 1 worker, then 2.
3. 1080p: the real 1280x720 test video scaled to 1920x1080 (600 frames) is precomputed as one clip
   in a fresh process with a randomly initialised small SegFormer (no weights exist here: its
   masks are noise, its cost is that of a small network); the process's peak RSS is reported,
   with the RSS it had after its imports.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets" / "videos"
sys.path.insert(0, str(ROOT))

from timelapse_d.cli import main  # noqa: E402
from timelapse_d.executors import EXECUTORS  # noqa: E402
from timelapse_d.frame_reader import read_frames  # noqa: E402
from timelapse_d.manifest import read_rows  # noqa: E402
from timelapse_d.pipeline import run_stage  # noqa: E402
from timelapse_d.resize import fit_frame  # noqa: E402
from timelapse_d.stages.precompute import PrecomputeStage, flow_estimator  # noqa: E402

PIPELINE = """
name = "precompute-benchmark"
[[stages]]
stage = "discover"
source = "synthetic"
videos = {videos}
seed = 3
width = 256
height = 192
min_shots = 1
max_shots = 1
min_shot_frames = {frames}
max_shot_frames = {frames}
camera_motion_prob = 0.0
[[stages]]
stage = "download"
allow_hosts = ["127.0.0.1"]
[[stages]]
stage = "split"
[[stages]]
stage = "auto-label"
[[stages]]
stage = "precompute"
segmenter = "oracle"
"""


def bare_flow_seconds(work: Path, stage: PrecomputeStage, items: list[dict]) -> tuple[float, int]:
    estimator = flow_estimator(stage.config)
    size = (stage.config.width, stage.config.height)
    pairs = []
    for item in (item for item in items if not item["drop_reason"]):
        indices = range(item["start_frame"], item["end_frame"], stage.config.every)
        frames = [fit_frame(frame, size) for _, frame in read_frames(work / item["video"]["path"], indices)]
        pairs += list(zip(frames[:-1], frames[1:]))
    started = time.perf_counter()
    for first, second in pairs:
        estimator.estimate(first, second)
    return time.perf_counter() - started, len(pairs)


def precompute_seconds(work: Path, stage: PrecomputeStage, workers: int) -> float:
    copy = work.parent / f"{work.name}-{workers}w"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(work, copy, symlinks=True)
    with EXECUTORS.get("local")(workers=workers) as executor:
        started = time.perf_counter()
        run_stage(stage, str(copy), executor, progress=False)
        return time.perf_counter() - started


def peak_memory_1080p(directory: Path) -> dict:
    video = directory / "clip1080.mp4"
    from timelapse_d.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(ASSETS / "pyscenedetect_testvideo.mp4"),
                    "-frames:v", "600", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "20", "-pix_fmt", "yuv420p", str(video)], check=True)
    child = subprocess.run([sys.executable, __file__, "--child-1080p", str(video)], capture_output=True, text=True,
                           check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def child_1080p(video: Path) -> None:
    """In a fresh process: precompute one 600-frame 1080p clip, print the peak RSS as json."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    from timelapse_d.media import probe_video
    from timelapse_d.stages.base import StageContext

    weights = video.parent / "segformer-random"
    config = SegformerConfig(num_labels=150, hidden_sizes=[16, 32, 64, 128], decoder_hidden_size=64,
                             depths=[1, 1, 1, 1])
    SegformerForSemanticSegmentation(config).save_pretrained(weights)
    SegformerImageProcessor().save_pretrained(weights)
    stage = PrecomputeStage.from_params({"segmenter": "segformer", "segmenter_params": {"weights": str(weights),
                                                                                          "local_files_only": True}})
    info = probe_video(video)
    item = {"clip_id": "clip1080", "video_id": "clip1080", "start_frame": 0, "end_frame": 600,
            "categories": ["cloud"], "category": "cloud", "drop_reason": "", "split": "train",
            "video": {"path": video.name, "width": info.width, "height": info.height, "fps": info.fps,
                      "sha256": ""},
            "source": {"source_id": "clip1080"}, "ground_truth": None}
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows = stage.process_batch([item], StageContext(work=str(video.parent)))
    assert rows[0]["status"] == "ok", rows[0]["error"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": 600, "kept": len(rows[0]["frame_indices"]), "seconds": time.perf_counter() - started,
                      "rss_after_imports_mib": baseline, "peak_rss_mib": peak, "sample_bytes": rows[0]["bytes"]}))


def run(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="precompute-bench-"))
    pipeline = directory / "p.toml"
    pipeline.write_text(PIPELINE.format(videos=args.videos, frames=args.frames))
    work = directory / "work"
    assert main(["run", str(pipeline), "--work", str(work), "--until", "auto-label", "--workers", "2",
                 "--no-progress"]) == 0
    stage = PrecomputeStage.from_params({"segmenter": "oracle"})
    items = stage.plan(str(work))
    bare, pairs = bare_flow_seconds(work, stage, items)
    one = precompute_seconds(work, stage, 1)
    two = precompute_seconds(work, stage, 2)
    rows = [row for row in read_rows(work.parent / f"{work.name}-1w", "samples") if row["status"] == "ok"]
    kept = sum(len(row["frame_indices"]) for row in rows)
    shard_bytes = sum(path.stat().st_size for path in (work.parent / f"{work.name}-1w" / "shards").glob("*.tar"))
    print(f"clips {len(rows)}, kept frames {kept}, kept pairs {pairs}")
    print(f"bare estimator: {1000 * bare / pairs:.2f} ms per pair")
    print(f"precompute, 1 worker: {1000 * one / pairs:.2f} ms per pair = {one / bare:.2f}x the bare estimator "
          f"(goal <= 1.3x)")
    print(f"precompute, 2 workers: {1000 * two / pairs:.2f} ms per pair, speed-up {one / two:.2f}x (goal >= 1.8x)")
    print(f"bytes per kept frame: {shard_bytes / kept / 1000:.1f} kB (goal <= 100 kB)")
    if not args.skip_1080p:
        memory = peak_memory_1080p(directory)
        print(f"1080p, 600 frames ({memory['kept']} kept): {memory['seconds']:.1f} s, peak RSS "
              f"{memory['peak_rss_mib']:.0f} MiB (after imports {memory['rss_after_imports_mib']:.0f} MiB; "
              f"goal <= 1024 MiB), sample {memory['sample_bytes'] / memory['kept'] / 1000:.1f} kB per kept frame")
    shutil.rmtree(directory)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--skip-1080p", action="store_true")
    parser.add_argument("--child-1080p", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child_1080p:
        child_1080p(arguments.child_1080p)
    else:
        run(arguments)
