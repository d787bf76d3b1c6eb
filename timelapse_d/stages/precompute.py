"""``precompute``: each usable clip -> one WebDataset sample of frames, backward flows and masks.

    [[stages]]
    stage = "precompute"
    every = 4                 # keep one frame in 4 (the paper)
    width = 256
    height = 256
    aspect = "squash"         # or "crop" (timelapse_d.resize)
    flow = "dis"              # FLOW_ESTIMATORS; parameters in [stages.flow_params]
    segmenter = "segformer"   # SEGMENTERS; parameters in [stages.segmenter_params], e.g. weights = "DIR"
    test_fraction = 0.15
    seed = 0
    shard_bytes = 1_000_000_000

Which clips: the ok clips whose effective label (``timelapse_d.labelling.effective``: consensus,
then import, then auto) says ``usable``; the others are ``dropped`` rows saying why (camera moves,
a tie to review, fewer than ``min_frames`` kept frames). Unlabelled clips are left for later.

The clips of one video are done together by one worker, decoding the video once as a stream
(``timelapse_d.frame_reader``): frames ``start, start + every, ...`` of each clip are resized
(``timelapse_d.resize``), segmented into the six groups and, from the second on, given the
backward flow from the previous kept frame, estimated on the resized frames (pixels of the stored
size). At most two resized frames per clip are held at a time. The finished sample is staged and
packed into shards when the stage ends (``timelapse_d.shards.pack``). Train / test is by video,
with a category-balanced test set (``timelapse_d.splits``), except that a video whose source gives
its dataset's own split (Sky Time-lapse: ``metadata.split``) keeps it; recorded in the rows and in
``WORK/precompute/splits.json``. Format and measurements: docs/shards.md.
"""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from timelapse_d.atomic import write_json_atomic
from timelapse_d.config import config_from_params
from timelapse_d.flow import FLOW_ESTIMATORS, codec
from timelapse_d.frame_reader import read_frames
from timelapse_d.manifest_join import ClipJoin, clip_joins
from timelapse_d.manifest import read_rows, read_table
from timelapse_d.resize import check_aspect, fit_frame, fit_groups
from timelapse_d.segmentation import load_segmenter, segmenter_config
from timelapse_d.shards.pack import pack_staged, stage_sample
from timelapse_d.shards.sample import FRAME_FORMATS, SampleBuilder
from timelapse_d.splits import SPLITS, assign_splits
from timelapse_d.stages.base import Stage, StageContext

SPLITS_FILE = Path("precompute") / "splits.json"  # relative to WORK
_SOURCE_FIELDS = ("source_id", "source_kind", "title", "page_url", "owner", "owner_name", "license_id",
                  "license_name", "license_url", "attribution")


@dataclass(frozen=True)
class PrecomputeConfig:
    every: int = 4  # keep frames start, start + every, ... of each clip
    width: int = 256  # pixels of the stored frames, flow and masks
    height: int = 256  # pixels of the stored frames, flow and masks
    aspect: str = "squash"  # "squash" to width x height, or "crop" the centre to its aspect first
    frame_format: str = "jpg"  # "jpg", or "png" (lossless, about 4x bigger on real frames)
    jpeg_quality: int = 95  # 1-100, for frame_format "jpg"
    min_frames: int = 2  # clips with fewer kept frames are dropped (a sample needs one flow)
    flow: str = "dis"  # the flow estimator: "dis" or "farneback" (docs/flow.md)
    flow_params: dict = dataclasses.field(default_factory=dict)  # the estimator's parameters (pipeline file only)
    segmenter: str = "segformer"  # the six-group segmenter: "segformer" or "oracle" (synthetic only)
    segmenter_params: dict = dataclasses.field(default_factory=dict)  # e.g. weights (pipeline file only)
    test_fraction: float = 0.15  # share of videos in the test split, balanced by category
    seed: int = 0  # seed of the train / test assignment
    shard_bytes: int = 1_000_000_000  # a shard is closed once it holds about this much

    def __post_init__(self) -> None:
        for name in ("every", "width", "height", "shard_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_frames < 2:
            raise ValueError(f"min_frames must be >= 2 (a sample needs a frame pair), got {self.min_frames}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.frame_format not in FRAME_FORMATS:
            raise ValueError(f"frame_format must be one of {FRAME_FORMATS}, got {self.frame_format!r}")
        check_aspect(self.aspect)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        flow_estimator(self)  # unknown names and bad parameters fail here, before any work
        segmenter_config(self.segmenter, self.segmenter_params)  # (a network segmenter is only loaded in the workers)


def flow_estimator(config: PrecomputeConfig):
    cls = FLOW_ESTIMATORS.get(config.flow)
    return cls(config_from_params(cls.config_class, config.flow_params, f"flow estimator {config.flow!r}"))


_FLOWS: dict[str, object] = {}  # per process: one estimator per setting, not one per video


def _cached_flow(config: PrecomputeConfig):
    key = json.dumps([config.flow, config.flow_params], sort_keys=True)
    if key not in _FLOWS:
        _FLOWS[key] = flow_estimator(config)
    return _FLOWS[key]


def drop_reason(clip: dict, label: dict, config: PrecomputeConfig) -> str:
    """Why a labelled clip makes no sample ("" when it does)."""
    kept = len(range(clip["start_frame"], clip["end_frame"], config.every))
    if label.get("needs_review"):
        return f"its {label['label_source']} label needs review (annotators tied)"
    if not label.get("usable"):
        camera = label.get("camera_motion")
        still = camera == "none" and label["label_source"] == "auto"
        why = "the camera is still but the scene barely moves" if still else f"camera motion: {camera}"
        return f"labelled not usable by {label['label_source']} ({why})"
    if kept < config.min_frames:
        return f"{kept} kept frame(s) at every={config.every}, fewer than min_frames={config.min_frames}"
    return ""


class _ClipSampler:
    """Collects one clip's kept frames as they stream past and turns them into a sample."""

    def __init__(self, item: dict, config: PrecomputeConfig, flow, segmenter, work: str, encoder):
        self.item, self.config, self.flow, self.segmenter, self.work = item, config, flow, segmenter, work
        self.indices = list(range(item["start_frame"], item["end_frame"], config.every))
        self.sample = SampleBuilder(config.frame_format, config.jpeg_quality, encoder)
        self.previous = None  # the last kept resized frame, (height, width, 3) uint8

    def add(self, n: int, frame) -> None:
        size = (self.config.width, self.config.height)
        small = fit_frame(frame, size, self.config.aspect)  # (height, width, 3) uint8
        if self.segmenter.needs_source_masks:
            truth = self.item["ground_truth"]
            if not truth:
                raise ValueError(f"segmenter {self.config.segmenter!r} needs masks shipped with the source; "
                                 f"source {self.item['source']['source_id']!r} has none")
            groups = fit_groups(self.segmenter.segment_frame(Path(self.work) / truth, n), size, self.config.aspect)
        else:
            groups = self.segmenter.segment(small)
        flow = None if self.previous is None else self.flow.estimate(self.previous, small)  # (height, width, 2) px
        self.sample.add(small, groups, flow)
        self.previous = small

    def finish(self) -> dict:
        item, config = self.item, self.config
        meta = {
            "sample_key": item["clip_id"], "clip_id": item["clip_id"], "video_id": item["video_id"],
            "split": item["split"], "category": item["category"], "categories": item["categories"],
            "frame_indices": self.indices, "every": config.every,
            "size": [config.width, config.height], "aspect": config.aspect,
            "frame_format": config.frame_format, "jpeg_quality": config.jpeg_quality,
            "source_size": [item["video"]["width"], item["video"]["height"]],
            "source_fps": item["video"]["fps"], "source_sha256": item["video"]["sha256"],
            "fps": item["video"]["fps"] / config.every if item["video"]["fps"] else None,
            "flow": {**self.flow.params(), "direction": "backward", "units": "pixels of the stored size",
                     "encoding": "timelapse_d.flow.codec", "max_error_px": codec.MAX_ERROR_PX},
            "segmenter": self.segmenter.params(),
            **item["source"],
        }
        size = stage_sample(self.work, item["clip_id"], self.sample.entries(meta))
        return {**_row(item, config, self.flow, self.segmenter), "status": "ok", "error": "", "bytes": size}


def _row(item: dict, config: PrecomputeConfig, flow=None, segmenter=None) -> dict:
    return {"sample_key": item["clip_id"], "clip_id": item["clip_id"], "video_id": item["video_id"],
            "split": item.get("split"), "category": item.get("category"), "shard": "",
            "frame_indices": list(range(item["start_frame"], item["end_frame"], config.every)),
            "flow_estimator": config.flow, "segmenter": config.segmenter,
            "flow_params": json.dumps(flow.params(), sort_keys=True) if flow else None,
            "segmenter_params": json.dumps(segmenter.params(), sort_keys=True) if segmenter else None,
            "created_at": datetime.now(timezone.utc)}


def _item(joined: ClipJoin, config: PrecomputeConfig) -> dict:
    """One clip to precompute: what a worker needs, from the joined manifests."""
    clip, video, source = joined.clip, joined.video, joined.source
    categories = sorted(joined.label.get("categories") or [])
    return {
        "clip_id": clip["clip_id"], "video_id": clip["video_id"],
        "start_frame": clip["start_frame"], "end_frame": clip["end_frame"],
        "categories": categories, "category": categories[0] if categories else None,
        "drop_reason": drop_reason(clip, joined.label, config),
        "video": {field: video[field] for field in ("path", "width", "height", "fps", "sha256")},
        "source": {field: source.get(field) for field in _SOURCE_FIELDS},
        "ground_truth": joined.metadata.get("ground_truth"),
        "dataset_split": joined.metadata.get("split"),  # a dataset's own train / test (Sky Time-lapse)
    }


class PrecomputeStage(Stage):
    name = "precompute"
    input_table = "clips"
    output_table = "samples"
    input_key = "clip_id"
    batch_by = "video_id"
    Config = PrecomputeConfig

    def plan(self, work: str) -> list[dict]:
        items = [_item(joined, self.config) for joined in clip_joins(work) if joined.label is not None]
        kept = [item for item in items if not item["drop_reason"]]
        given = {item["video_id"]: item["dataset_split"] for item in kept if item["dataset_split"] in SPLITS}
        splits = assign_splits(kept, {**given, **recorded_splits(work, read_table(work, "samples", ["video_id", "split"]).to_pylist())},
                               self.config.test_fraction, self.config.seed)
        for item in kept:
            item["split"] = splits[item["video_id"]]
        return items

    def process_batch(self, items: list[dict], ctx: StageContext) -> list[dict]:
        import cv2

        cv2.setNumThreads(1)  # parallelism is across videos (workers); threads inside would oversubscribe
        config = self.config
        rows = [{**_row(item, config), "status": "dropped", "error": item["drop_reason"]}
                for item in items if item["drop_reason"]]
        todo = [item for item in items if not item["drop_reason"]]
        if not todo:
            return rows
        flow, segmenter = _cached_flow(config), load_segmenter(config.segmenter, config.segmenter_params)
        # decoding (a reader thread) and encoding (an encoder thread) run beside the flow estimates
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder:
            samplers = [_ClipSampler(item, config, flow, segmenter, ctx.work, encoder) for item in todo]
            wanted: dict[int, list[_ClipSampler]] = {}
            for sampler in samplers:
                for n in sampler.indices:
                    wanted.setdefault(n, []).append(sampler)
            unfinished = {id(sampler): sampler for sampler in samplers}
            try:
                for n, frame in read_frames(Path(ctx.work) / todo[0]["video"]["path"], wanted, prefetch=2):
                    for sampler in wanted[n]:
                        sampler.add(n, frame)
                        if n == sampler.indices[-1]:
                            rows.append(sampler.finish())
                            del unfinished[id(sampler)]
            except Exception as error:  # noqa: BLE001 - the clips not yet finished are failed rows with the reason
                rows += [{**_row(s.item, config, flow, segmenter), "status": "failed",
                          "error": f"{type(error).__name__}: {error}"} for s in unfinished.values()]
        return rows

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        return [{**_row(item, self.config), "status": "failed", "error": error}]

    def finish(self, work: str, progress: bool = True) -> None:
        rows = pack_staged(work, read_rows(work, "samples"), self.config.shard_bytes, progress)
        write_json_atomic(Path(work) / SPLITS_FILE, {
            "rule": "by video; category-balanced test set (timelapse_d.splits)",
            "test_fraction": self.config.test_fraction, "seed": self.config.seed,
            "videos": dict(sorted(recorded_splits(work, rows).items()))})


def recorded_splits(work: str | Path, rows: list[dict]) -> dict[str, str]:
    """video_id -> split, from ``splits.json`` (written by precompute, or by a rebuild) and the samples ``rows``."""
    path = Path(work) / SPLITS_FILE
    recorded = json.loads(path.read_text())["videos"] if path.exists() else {}
    recorded.update({row["video_id"]: row["split"] for row in rows if row.get("split")})
    return recorded
