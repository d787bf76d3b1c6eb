"""Precompute per kept pair against its true floor, part by part, at real source resolutions.

    .venv/bin/python benchmarks/precompute_floor.py [--frames 240] [--repeats 3]

Sources: the real 1280x720 test video (../shared/assets/videos/pyscenedetect_testvideo.mp4), and
the same scaled to 1920x1080; one clip of ``--frames`` frames each, every 4th frame kept at
256x256, DIS flow, and a randomly initialised small SegFormer as the configured segmenter (no
weights exist here: its masks are noise, its cost that of a small network on CPU).

The floor of one clip is what precompute cannot avoid, each part timed bare, in the same process,
on the same frames:

- decode: reading the clip's frames with the project's frame reader (every frame up to the last
  kept one decodes: the codec cannot skip), nothing else;
- flow: the estimator on each kept pair, frames resized beforehand;
- segment: the segmenter on each kept frame, resized beforehand.

Beside them, not in the floor: resize (to 256x256) and encode (JPEG, PNG masks, flow codec), both
of which precompute also does. Precompute is ``process_batch`` on the clip in one process (the
stage's own decode thread and encoder thread included); its ratio to the floor is the figure
to watch (goal <= 1.3x). Medians of ``--repeats``. Bytes per kept frame and the process's peak
RSS (1080p run last) are reported too.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "assets" / "videos" / "pyscenedetect_testvideo.mp4"
sys.path.insert(0, str(ROOT))

from timelapse_d.frame_reader import read_frames  # noqa: E402
from timelapse_d.media import ffmpeg_exe, probe_video  # noqa: E402
from timelapse_d.resize import fit_frame  # noqa: E402
from timelapse_d.shards.sample import SampleBuilder  # noqa: E402
from timelapse_d.stages.base import StageContext  # noqa: E402
from timelapse_d.stages.precompute import PrecomputeStage, flow_estimator  # noqa: E402


def make_sources(directory: Path, frames: int) -> dict[str, Path]:
    scaled = directory / "clip1080.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(VIDEO), "-frames:v", str(frames),
                    "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    "-pix_fmt", "yuv420p", str(scaled)], check=True)
    return {"720p": VIDEO, "1080p": scaled}


def random_segformer(directory: Path) -> Path:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    weights = directory / "segformer-random"
    config = SegformerConfig(num_labels=150, hidden_sizes=[16, 32, 64, 128], decoder_hidden_size=64,
                             depths=[1, 1, 1, 1])
    SegformerForSemanticSegmentation(config).save_pretrained(weights)
    SegformerImageProcessor().save_pretrained(weights)
    return weights


def clip_item(video: Path, frames: int) -> dict:
    info = probe_video(video)
    return {"clip_id": video.stem, "video_id": video.stem, "start_frame": 0, "end_frame": frames,
            "categories": ["cloud"], "category": "cloud", "drop_reason": "", "split": "train",
            "video": {"path": str(video), "width": info.width, "height": info.height, "fps": info.fps, "sha256": ""},
            "source": {"source_id": video.stem}, "ground_truth": None}


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def parts(stage: PrecomputeStage, video: Path, frames: int) -> dict[str, float]:
    """Seconds of each bare part on one clip, and of precompute itself."""
    config = stage.config
    indices = list(range(0, frames, config.every))
    size = (config.width, config.height)
    decode, decoded = timed(lambda: [frame for _, frame in read_frames(video, indices)])
    resize, small = timed(lambda: [fit_frame(frame, size, config.aspect) for frame in decoded])
    del decoded
    estimator, segmenter = flow_estimator(config), stage_segmenter(stage)
    flow, flows = timed(lambda: [estimator.estimate(a, b) for a, b in zip(small[:-1], small[1:])])
    segment, groups = timed(lambda: [segmenter.segment(frame) for frame in small])

    def encode():
        builder = SampleBuilder(config.frame_format, config.jpeg_quality)
        for i, frame in enumerate(small):
            builder.add(frame, groups[i], None if i == 0 else flows[i - 1])
        return builder.entries({})

    encoding, entries = timed(encode)
    with tempfile.TemporaryDirectory() as work:
        total, rows = timed(lambda: stage.process_batch([clip_item(video, frames)], StageContext(work=work)))
    assert rows[0]["status"] == "ok", rows[0]["error"]
    return {"decode": decode, "resize": resize, "flow": flow, "segment": segment, "encode": encoding,
            "precompute": total, "pairs": len(indices) - 1, "kept": len(indices),
            "bytes_per_frame": sum(len(value) for value in entries.values()) / len(indices)}


def stage_segmenter(stage: PrecomputeStage):
    from timelapse_d.segmentation import load_segmenter

    return load_segmenter(stage.config.segmenter, stage.config.segmenter_params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240, help="frames of the clip (every 4th kept)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        stage = PrecomputeStage.from_params({"segmenter": "segformer", "segmenter_params": {
            "weights": str(random_segformer(directory)), "local_files_only": True}})
        print(f"{'source':>6} {'part':>11} {'ms/pair':>8} {'share of floor':>15}")
        for name, video in make_sources(directory, args.frames).items():
            runs = [parts(stage, video, args.frames) for _ in range(args.repeats)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            floor = median["decode"] + median["flow"] + median["segment"]
            for part in ("decode", "flow", "segment", "resize", "encode"):
                print(f"{name:>6} {part:>11} {1000 * median[part] / median['pairs']:8.1f} "
                      f"{median[part] / floor:15.2f}")
            print(f"{name:>6} {'floor':>11} {1000 * floor / median['pairs']:8.1f} {1.0:15.2f}")
            print(f"{name:>6} {'precompute':>11} {1000 * median['precompute'] / median['pairs']:8.1f} "
                  f"{median['precompute'] / floor:15.2f}   (goal <= 1.30)")
            print(f"{name:>6} {median['kept']:.0f} kept frames, {median['bytes_per_frame'] / 1000:.1f} kB per kept "
                  f"frame (goal <= 100 kB)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (goal <= 1024)")


if __name__ == "__main__":
    main()
