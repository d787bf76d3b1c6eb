"""``auto-label``: the automatic camera-motion verdicts as labels, for unattended runs (the demo).

    [[stages]]
    stage = "auto-label"
    min_motion_strength = 0.15   # px per frame (90th percentile); below it a still-camera clip "barely moves"

One ``labels`` row per ok clip with ``annotator = label_source = "auto"``: camera motion from
``camera_verdict``, usable when the camera is still and the scene does move, categories from the
source's tags that are among the paper's 13. It shares the table with people's annotations and
their consensus (``timelapse-d label pull``) and never touches those rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from timelapse_d.camera_motion import CameraMotionThresholds
from timelapse_d.labelling.auto import AUTO, auto_label, clip_tags
from timelapse_d.stages.base import Stage, StageContext


@dataclass(frozen=True)
class AutoLabelConfig:
    """The camera-motion thresholds are those of ``timelapse_d.camera_motion``, but for the "barely moves"
    one: 0 keeps every still-camera clip (the model benchmark does, to keep every synthetic category)."""

    min_motion_strength: float = CameraMotionThresholds.min_strength  # px / frame below which a clip barely moves

    def __post_init__(self):
        if not self.min_motion_strength >= 0:
            raise ValueError(f"min_motion_strength must be >= 0, got {self.min_motion_strength}")


class AutoLabelStage(Stage):
    name = "auto-label"
    input_table = "clips"
    output_table = "labels"
    input_key = "clip_id"
    owner = ("annotator", AUTO)
    Config = AutoLabelConfig

    @property
    def thresholds(self) -> CameraMotionThresholds:
        return CameraMotionThresholds(min_strength=self.config.min_motion_strength)

    def plan(self, work: str) -> list[dict]:
        tags = clip_tags(work)
        return [{**clip, "tags": tags.get(clip["video_id"], [])} for clip in super().plan(work)]

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        return [{"clip_id": item["clip_id"], "annotator": AUTO, "status": "ok", "error": "",
                 **auto_label(item, item["tags"], self.thresholds), "label_source": AUTO, "needs_review": False,
                 "labelled_at": datetime.now(timezone.utc)}]

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        return [{"clip_id": item["clip_id"], "annotator": AUTO, "status": "failed", "error": error,
                 "label_source": AUTO}]
