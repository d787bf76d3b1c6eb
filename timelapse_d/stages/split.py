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

Each video is decoded once, in full (``timelapse_d.media.decode_frames``; download decoded only a
few frames): a video whose decoding reports damage, or ends short of what its container declares,
gets one failed clips row naming the damage instead of clips. In the same pass, small copies of
one frame pair every few frames are made (``timelapse_d.small_frames``), and as soon as a scene
ends each of its clips gets its camera-motion scores and category scores from up to
``score_pairs`` of the pairs inside it, and the scene's pairs are let go (``ClipMeasure``:
``timelapse_d.camera_motion``, ``timelapse_d.categories``), with the six-group
maps of ``segmenter`` when one is set (``"oracle"`` for synthetic video, ``"segformer"``).
Source-defined clips get no scores.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from timelapse_d.camera_motion import ANALYSIS_WIDTH, clip_motion, pair_motion
from timelapse_d.categories import clip_category_scores, pair_content, top_categories
from timelapse_d.keys import clip_key
from timelapse_d.manifest import read_rows
from timelapse_d.media import VideoProbeError, decode_frames
from timelapse_d.segmentation import GROUPS, load_segmenter, segmenter_config
from timelapse_d.small_frames import analysis_grey, analysis_grey_and_colour, detection_frame, upright_size
from timelapse_d.sources import SOURCES
from timelapse_d.stages.base import Stage, StageContext

DETECTORS = ("content", "adaptive")
SAMPLE_STRIDE = 8  # a frame pair is sampled every this many frames for the scores
MAX_OPEN_PAIRS = 512  # pairs held for the scene being decoded (about 190 kB a pair): past it, the stride doubles
# In-loop deblocking skipped on frames no other frame references (B-frames, mostly): those frames come
# out a fraction of a grey level different (0.01-0.02 mean on the test video's analysis copies), and
# as nothing is predicted from them nothing drifts; decoding costs about 10-20 % less. (Skipping it on all
# frames drifts within a GOP by up to 4 levels and made a false cut.) docs/scale.md, "Decode once".
DECODER_OPTIONS = {"skip_loop_filter": "noref"}
DETECTOR_RATE = 30.0  # the rate PySceneDetect's timecodes carry: they count decoded frames, never read as seconds


@dataclass(frozen=True)
class SplitConfig:
    detector: str = "content"  # PySceneDetect's ContentDetector, or its AdaptiveDetector
    threshold: float = 27.0  # ContentDetector: content change that makes a cut
    adaptive_threshold: float = 3.0  # AdaptiveDetector: ratio to the rolling average that makes a cut
    min_scene_frames: int = 15  # the detector's minimum scene length
    downscale: int = 0  # detection reads every this-many pixels; 0: the most that leaves >= 256 across
    min_clip_frames: int = 16  # shorter scenes are dropped rows
    max_clip_frames: int = 1200  # longer scenes are cut into windows; 0 for no maximum
    score_pairs: int = 5  # frame pairs per clip measured for the scores and categories; 0 for none
    segmenter: str = ""  # six-group masks for the categories and the camera: "" (none), "oracle", "segformer"
    segmenter_params: dict = field(default_factory=dict)  # the segmenter's parameters (pipeline file only)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        for name in ("threshold", "adaptive_threshold"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_scene_frames", "downscale", "min_clip_frames", "max_clip_frames", "score_pairs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.segmenter:
            segmenter_config(self.segmenter, self.segmenter_params)  # a bad name or parameter fails here, before any work
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


class _PairSampler:
    """Analysis copies (grey i, grey i + 1, colour i) of frame pairs (i, i + 1), i divisible by the
    stride: SAMPLE_STRIDE, whatever the video's length, so a clip is measured alike in a short and a
    long video. Each scene's clips are measured as soon as the detector closes it (``measure``, into
    ``scores``) and its pairs let go, so only the open scene's pairs are held; past MAX_OPEN_PAIRS of
    them (a single shot of over 4,096 frames) that scene's stride doubles and every other pair is let
    go, as long as each window of ``max_clip_frames`` the shot may be cut into (at least half that
    long) keeps ``score_pairs`` pairs: beyond that, a long shot's pairs grow with it (one every 64
    frames by default, 53 MB per 10 minutes at 30 fps). Nothing is sampled without ``measure``, or
    when the config scores nothing."""

    def __init__(self, measure: "ClipMeasure | None"):
        self.measure, self.scores, self.open, self._first = measure, {}, {}, None
        self.stride = SAMPLE_STRIDE if measure is not None and measure.config.score_pairs else 0
        self._widest = _widest_stride(measure.config) if self.stride else math.inf

    def offer(self, index: int, frame) -> None:  # noqa: ANN001 - av.VideoFrame
        if self._first is not None and index == self._first[0] + 1:
            first, grey, colour = self._first
            self.open[first], self._first = (grey, analysis_grey(frame), colour), None
            if len(self.open) > MAX_OPEN_PAIRS and self.stride < self._widest:
                self.stride *= 2
                self.open = {pair: copies for pair, copies in self.open.items() if pair % self.stride == 0}
        elif self.stride and index % self.stride == 0:
            self._first = (index, *analysis_grey_and_colour(frame))

    def close(self, start: int, end: int) -> None:
        """The open scene [start, end) is closed: measure its clips, and keep only the next scene's pairs."""
        if self.measure is not None:
            for window in windows(start, end, self.measure.config.max_clip_frames):
                self.scores[window] = self.measure.measure(self.open, *window)
        self.open = {pair: copies for pair, copies in self.open.items() if pair >= end}
        self.stride = SAMPLE_STRIDE if self.stride else 0


def _widest_stride(config: SplitConfig) -> float:
    """The widest stride (SAMPLE_STRIDE doubled) leaving ``score_pairs`` pairs in every window a long
    shot may be cut into: a shot over ``max_clip_frames`` is cut into windows at least half that long."""
    if not config.max_clip_frames:
        return math.inf
    stride = SAMPLE_STRIDE
    while (config.max_clip_frames // 2 - 1) // (2 * stride) >= config.score_pairs:
        stride *= 2
    return stride


@dataclass(frozen=True)
class Scenes:
    ranges: list[tuple[int, int]]  # [start, end) in decoded-frame indices, covering the whole video
    times: list[float]  # seconds of each decoded frame, from its own timestamp
    scores: dict  # {(start, end) of each clip (window): its score columns, ClipMeasure.measure}; {} without measure

    def time_of(self, index: int) -> float:
        """Seconds at which decoded frame ``index`` starts; ``len(times)``: when the last one ends."""
        if index < len(self.times):
            return round(self.times[index], 6)
        last = self.times[-1] - self.times[-2] if len(self.times) > 1 else 0.0
        return round(self.times[-1] + last, 6)


def detect_scenes(path: str | Path, config: SplitConfig, measure: "ClipMeasure | None" = None) -> Scenes:
    """The video's scenes, by PySceneDetect's detector, in decoded-frame indices, and their clips'
    scores by ``measure`` from the pairs sampled on the way.

    This is the one full decode of a video before precompute (``decode_frames``): each frame feeds
    the detector (a small copy, ``detection_frame``) and the pair sampler, and when the frames end
    the video is checked whole and undamaged (VideoProbeError otherwise, naming the damage). Frames
    are numbered as decoded and timed by their own timestamps, so a cut in a variable-frame-rate
    video lies where its decoded frames say."""
    from scenedetect import FrameTimecode

    detector, sampler = _detector(config), _PairSampler(measure)
    times, edges, step = [], [0], 0

    def take(cuts: list) -> None:  # in order (PySceneDetect's flash filter may hold one back min_scene_frames or more)
        for frame in (cut.frame_num for cut in cuts):
            if edges[-1] < frame < len(times):
                sampler.close(edges[-1], frame)
                edges.append(frame)

    with contextlib.closing(decode_frames(path, DECODER_OPTIONS)) as frames:  # closed here, not when collected
        for index, (seconds, frame) in enumerate(frames):
            sampler.offer(index, frame)  # first: reading the whole frame brings it near for the detector's copy
            step = step or config.downscale or max(1, upright_size(frame)[0] // ANALYSIS_WIDTH)
            times.append(seconds)
            position = FrameTimecode(index, fps=DETECTOR_RATE)
            take(detector.process_frame(position, detection_frame(frame, step)))
    if not times:
        return Scenes([], times, {})
    take(detector.post_process(position))
    sampler.close(edges[-1], len(times))
    edges.append(len(times))
    return Scenes(list(zip(edges[:-1], edges[1:])), times, sampler.scores)


class _OneCallScore:
    """PySceneDetect's content score with its default weights (hue, saturation and luma alike, no
    edges) computed as the mean absolute difference of consecutive HSV frames over all three
    channels in one OpenCV call, instead of a split and three NumPy passes: the same value, at
    0.06 ms a 256-pixel-wide frame instead of 0.3 ms. (Mixed into its detectors, pinned < 0.8.)"""
    _last_hsv = None

    def _calculate_frame_score(self, timecode, frame_img: np.ndarray) -> float:  # noqa: ANN001, ARG002
        import cv2

        hsv, last = cv2.cvtColor(frame_img, cv2.COLOR_BGR2HSV), self._last_hsv
        self._last_hsv = hsv
        return 0.0 if last is None else cv2.norm(hsv, last, cv2.NORM_L1) / hsv.size


def _detector(config: SplitConfig):  # noqa: ANN202 - a PySceneDetect detector
    from scenedetect import AdaptiveDetector, ContentDetector

    if config.detector == "content":
        return type("Content", (_OneCallScore, ContentDetector), {})(
            threshold=config.threshold, min_scene_len=config.min_scene_frames)
    return type("Adaptive", (_OneCallScore, AdaptiveDetector), {})(
        adaptive_threshold=config.adaptive_threshold, min_scene_len=config.min_scene_frames)


def pairs_inside(pairs: dict, start: int, end: int, count: int) -> list[int]:
    """The first frame indices of up to ``count`` sampled pairs lying inside [start, end), evenly spread."""
    inside = [index for index in sorted(pairs) if start <= index and index + 1 < end]
    if len(inside) <= count or count <= 1:
        return inside[:count]
    return [inside[round(i * (len(inside) - 1) / (count - 1))] for i in range(count)]


class ClipMeasure:
    """Measures the clips of one video from its sampled pairs: camera-motion scores and category
    scores (``timelapse_d.camera_motion``, ``timelapse_d.categories``), with the configured segmenter's
    six-group maps where there is one: its static ground judges the camera, its groups the categories."""

    def __init__(self, config: SplitConfig, metadata: dict, tags: list[str] | None, work: str):
        self.config, self.tags = config, tags
        self.segmenter = load_segmenter(config.segmenter, config.segmenter_params) if config.segmenter else None
        self.truth = None
        if self.segmenter is not None and self.segmenter.needs_source_masks:
            if not metadata.get("ground_truth"):
                raise ValueError(f"segmenter {config.segmenter!r} reads masks shipped with a source, and this "
                                 f"video's source ships none")
            self.truth = Path(work) / metadata["ground_truth"]

    def groups(self, index: int, colour: np.ndarray) -> np.ndarray | None:
        """(h, w) uint8 group ids of the pair's first frame at analysis size, or None without a segmenter."""
        import cv2

        if self.segmenter is None:
            return None
        if self.truth is not None:
            groups = self.segmenter.segment_frame(self.truth, index)
            return cv2.resize(groups, colour.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return self.segmenter.segment(colour)

    def measure(self, pairs: dict, start: int, end: int) -> dict:
        """The score columns of the clip [start, end) from up to ``score_pairs`` of ``pairs`` ({first
        frame index: (grey, next grey, colour)}) inside it: camera motion, and ``category_scores``
        (JSON) with ``categories``; all None without pairs."""
        motions, contents = [], []
        for index in pairs_inside(pairs, start, end, self.config.score_pairs):
            first, second, colour = pairs[index]
            groups = self.groups(index, colour)
            static = None if groups is None else groups == GROUPS.index("others")
            motion = pair_motion(first, second, static)
            motions.append(motion)
            grid = None if groups is None else groups[motion.grid]
            sky = None if groups is None else groups == GROUPS.index("sky")
            contents.append(pair_content(grid, motion.residual, colour, sky))
        if not contents:
            return {**clip_motion([]), "category_scores": None, "categories": None}
        scores = clip_category_scores(contents, self.tags)
        return {**clip_motion(motions), "category_scores": json.dumps(scores), "categories": top_categories(scores)}


def _time_at_rate(index: int, fps: float | None) -> float | None:
    """Seconds of frame ``index`` at a constant frame rate; None where there is none (frame folders)."""
    return index / fps if fps else None


class SplitStage(Stage):
    name = "split"
    input_table = "videos"
    output_table = "clips"
    input_key = "video_id"
    Config = SplitConfig

    def plan(self, work: str) -> list[dict]:
        """The ok videos, each with its source's kind, metadata (some sources predefine clips) and tags."""
        sources = {row["source_id"]: row for row in read_rows(work, "sources")}
        return [{**video, "source_kind": sources[video["source_id"]]["source_kind"],
                 "source_metadata": sources[video["source_id"]]["metadata"],
                 "source_tags": sources[video["source_id"]]["tags"]}
                for video in super().plan(work)]

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        import cv2

        cv2.setNumThreads(1)  # parallelism is across videos (workers); on small copies threads cost more than they save
        config, video_id, fps = self.config, item["video_id"], item["fps"]
        predefined = SOURCES.get(item["source_kind"]).predefined_clips(item["source_metadata"])
        measure = ClipMeasure(config, json.loads(item["source_metadata"] or "{}"), item["source_tags"], ctx.work)
        if predefined is not None:
            ranges, detector, params = predefined, item["source_kind"], {"clips": "as the source defines them"}
            time_of = functools.partial(_time_at_rate, fps=fps)
            scores = {clip: measure.measure({}, *clip) for clip in ranges}  # none: no pairs are sampled
        else:
            path = Path(ctx.work) / item["path"]
            try:
                scenes = detect_scenes(path, config, measure)
            except VideoProbeError as error:
                return self.failed_rows(item, f"decoding {item['path']} failed: {str(error).removeprefix(f'{path}: ')}")
            scores, time_of = scenes.scores, scenes.time_of
            ranges = [window for scene in scenes.ranges for window in windows(*scene, config.max_clip_frames)]
            detector, params = config.detector, asdict(config)
        split_at = datetime.now(timezone.utc)
        rows = []
        for start, end in ranges:
            row = {"clip_id": clip_key(video_id, start, end), "video_id": video_id, "status": "ok", "error": "",
                   "start_frame": start, "end_frame": end,
                   "start_time": time_of(start), "end_time": time_of(end),
                   "detector": detector, "detector_params": json.dumps(params, sort_keys=True), "split_at": split_at,
                   **scores[start, end]}
            if predefined is None and end - start < config.min_clip_frames:
                row.update(status="dropped",
                           error=f"scene of {end - start} frames is shorter than min_clip_frames {config.min_clip_frames}")
            rows.append(row)
        return rows

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        return [{"clip_id": f"{item['video_id']}_split-failed", "video_id": item["video_id"],
                 "status": "failed", "error": error}]
