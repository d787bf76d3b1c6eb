"""Split (scene detection + camera-motion sampling) versus decoding alone, on the same video.

    .venv/bin/python benchmarks/split_speed.py [VIDEO ...]

Default: the real PySceneDetect test video (1280x720, 720 frames). Goal: split <= 1.3x decode-only.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2

from timelapse_d.media import probe_video
from timelapse_d.stages.split import ClipMeasure, SplitConfig, detect_scenes, windows

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "assets" / "videos" / "pyscenedetect_testvideo.mp4"


def decode_only(path: Path) -> float:
    started = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    while capture.read()[0]:
        pass
    capture.release()
    return time.perf_counter() - started


def split(path: Path, frames: int) -> tuple[float, int]:
    config = SplitConfig()
    started = time.perf_counter()
    found = detect_scenes(path, config, frames)
    clips = [window for scene in found.ranges for window in windows(*scene, config.max_clip_frames)]
    measure = ClipMeasure(config, found.pairs, {}, [], ".")
    for start, end in clips:
        measure.measure(start, end)
    return time.perf_counter() - started, len(clips)


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]] or [DEFAULT]
    print(f"{'video':40} {'frames':>6} {'decode s':>8} {'split s':>8} {'ratio':>6} {'clips':>5} {'clips/min':>9}")
    for path in paths:
        frames = probe_video(path).frames
        decode = min(decode_only(path) for _ in range(3))
        seconds, clips = min(split(path, frames) for _ in range(3))
        print(f"{path.name[:40]:40} {frames:>6} {decode:>8.2f} {seconds:>8.2f} {seconds / decode:>6.2f} "
              f"{clips:>5} {clips / seconds * 60:>9.0f}")


if __name__ == "__main__":
    main()
