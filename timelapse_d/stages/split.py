"""``split``: cut each video into clips at its scene boundaries (PySceneDetect), as frame ranges.

    [[stages]]
    stage = "split"
    detector = "content"     # or "adaptive"
    threshold = 27.0
    min_clip_frames = 16
    max_clip_frames = 1200

A clip is a frame range [start_frame, end_frame) of its video (nothing is re-encoded), keyed by
``clip_key(video_id, start, end)`` so that a rebuild reproduces it. Scenes shorter than
``min_clip_frames`` are ``dropped`` rows saying so; scenes longer than ``max_clip_frames`` are cut
into that many near-equal windows as needed. Sources that come with their own clips (the Sky
Time-lapse folders) keep them: ``Source.predefined_clips``.

In the same decoding pass, a small grey copy of one frame pair every few frames is kept, and each
clip gets its camera-motion scores from up to ``score_pairs`` of the pairs inside it
(``timelapse_d.camera_motion``). Source-defined clips get no scores.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from timelapse_d.camera_motion import SCORE_COLUMNS, analysis_frame, clip_motion
from timelapse_d.keys import clip_key
from timelapse_d.manifest import read_rows
from timelapse_d.sources import SOURCES
from timelapse_d.stages.base import Stage, StageContext

DETECTORS = ("content", "adaptive")
SAMPLE_STRIDE = 8  # a frame pair is kept every this many frames (at least) for the scores
MAX_SAMPLED_PAIRS = 512  # per video: bounds the memory kept for scoring (about 75 kB a pair)


@dataclass(frozen=True)
class SplitConfig:
    detector: str = "content"  # PySceneDetect's ContentDetector, or its AdaptiveDetector
    threshold: float = 27.0  # ContentDetector: content change that makes a cut
    adaptive_threshold: float = 3.0  # AdaptiveDetector: ratio to the rolling average that makes a cut
    min_scene_frames: int = 15  # the detector's minimum scene length
    downscale: int = 0  # decode-side downscale factor for detection; 0 picks one from the width
    min_clip_frames: int = 16  # shorter scenes are dropped rows
    max_clip_frames: int = 1200  # longer scenes are cut into windows; 0 for no maximum
    score_pairs: int = 5  # frame pairs per clip measured for the camera-motion scores; 0 for none

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        for name in ("threshold", "adaptive_threshold"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_scene_frames", "downscale", "min_clip_frames", "max_clip_frames", "score_pairs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_clip_frames and self.max_clip_frames < self.min_clip_frames:
            raise ValueError(f"max_clip_frames ({self.max_clip_frames}) is below min_clip_frames "
                             f"({self.min_clip_frames})")


def windows(start: int, end: int, max_frames: int) -> list[tuple[int, int]]:
    """[start, end) cut into the fewest near-equal windows of at most ``max_frames`` (0: no cut).

    >>> windows(0, 10, 4)
    [(0, 3), (3, 7), (7, 10)]
    """
    count = math.ceil((end - start) / max_frames) if max_frames else 1
    bounds = [start + round(i * (end - start) / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _sampling_stream(path: str, stride: int):
    """PySceneDetect's OpenCV stream, also keeping analysis copies of frames (i, i+1) for i % stride == 0."""
    from scenedetect.backends.opencv import VideoStreamCv2

    class SamplingStream(VideoStreamCv2):
        def __init__(self) -> None:
            super().__init__(path)
            self.index = -1
            self.pairs: dict[int, tuple] = {}  # first frame index -> (analysis frame i, analysis frame i+1)
            self._first = None

        def read(self, decode: bool = True):
            frame = super().read(decode)
            if frame is False or not decode:
                return frame
            self.index += 1
            if self.index % stride == 0:
                self._first = analysis_frame(frame)
            elif self.index % stride == 1 and self._first is not None:
                self.pairs[self.index - 1] = (self._first, analysis_frame(frame))
                self._first = None
            return frame

    return SamplingStream()


def detect_scenes(path: str | Path, config: SplitConfig, frames: int = 0) -> tuple[list[tuple[int, int]], dict]:
    """Scene frame ranges [start, end) covering the whole video, by PySceneDetect, and the frame
    pairs sampled on the way ({first frame index: (analysis frame, next analysis frame)})."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager

    if config.detector == "content":
        detector = ContentDetector(threshold=config.threshold, min_scene_len=config.min_scene_frames)
    else:
        detector = AdaptiveDetector(adaptive_threshold=config.adaptive_threshold,
                                    min_scene_len=config.min_scene_frames)
    manager = SceneManager()
    manager.add_detector(detector)
    if config.downscale:
        manager.auto_downscale = False
        manager.downscale = config.downscale
    stride = max(SAMPLE_STRIDE, math.ceil(frames / MAX_SAMPLED_PAIRS)) if config.score_pairs else frames + 2
    stream = _sampling_stream(str(path), stride)
    manager.detect_scenes(stream, show_progress=False)
    scenes = [(start.frame_num, end.frame_num) for start, end in manager.get_scene_list(start_in_scene=True)]
    return scenes, stream.pairs


def pairs_inside(pairs: dict, start: int, end: int, count: int) -> list[tuple]:
    """Up to ``count`` sampled pairs lying inside [start, end), evenly spread."""
    inside = [pairs[index] for index in sorted(pairs) if start <= index and index + 1 < end]
    if len(inside) <= count:
        return inside
    return [inside[round(i * (len(inside) - 1) / (count - 1))] for i in range(count)] if count > 1 else inside[:1]


class SplitStage(Stage):
    name = "split"
    input_table = "videos"
    output_table = "clips"
    input_key = "video_id"
    Config = SplitConfig

    def plan(self, work: str) -> list[dict]:
        """The ok videos, each with its source's kind and metadata (some sources predefine clips)."""
        sources = {row["source_id"]: row for row in read_rows(work, "sources")}
        return [{**video, "source_kind": sources[video["source_id"]]["source_kind"],
                 "source_metadata": sources[video["source_id"]]["metadata"]}
                for video in super().plan(work)]

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        config, video_id, fps = self.config, item["video_id"], item["fps"]
        predefined = SOURCES.get(item["source_kind"]).predefined_clips(item["source_metadata"])
        pairs: dict = {}
        if predefined is not None:
            ranges, detector, params = predefined, item["source_kind"], {"clips": "as the source defines them"}
        else:
            scenes, pairs = detect_scenes(Path(ctx.work) / item["path"], config, item["frames"] or 0)
            ranges = [window for scene in scenes for window in windows(*scene, config.max_clip_frames)]
            detector, params = config.detector, asdict(config)
        split_at = datetime.now(timezone.utc)
        rows = []
        for start, end in ranges:
            row = {"clip_id": clip_key(video_id, start, end), "video_id": video_id, "status": "ok", "error": "",
                   "start_frame": start, "end_frame": end,
                   "start_time": start / fps if fps else None, "end_time": end / fps if fps else None,
                   "detector": detector, "detector_params": json.dumps(params, sort_keys=True), "split_at": split_at,
                   **clip_motion(pairs_inside(pairs, start, end, config.score_pairs))}
            if predefined is None and end - start < config.min_clip_frames:
                row.update(status="dropped",
                           error=f"scene of {end - start} frames is shorter than min_clip_frames {config.min_clip_frames}")
            rows.append(row)
        return rows

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        return [{"clip_id": f"{item['video_id']}_split-failed", "video_id": item["video_id"],
                 "status": "failed", "error": error}]
