"""``import-labels``: the labels a curated dataset comes with, one row per clip of its sources.

    [[stages]]
    stage = "import-labels"
    source_kinds = ["sky-timelapse"]
    camera_motion = "none"
    usable = true
    categories = ["cloud"]

A dataset that was curated already (Sky Time-lapse: still-camera sky footage, selected by its
authors) needs no labelling pass: each clip of a source of those kinds gets a row with
``annotator = label_source = "import"``, which outranks the automatic verdict and yields to a
human consensus (``timelapse_d.labelling.effective``). Clips of other sources are left to the
other labelling routes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from timelapse_d.camera_motion import CAMERA_LABELS
from timelapse_d.categories import CATEGORIES
from timelapse_d.manifest import read_rows
from timelapse_d.stages.base import Stage, StageContext

IMPORT = "import"


@dataclass(frozen=True)
class ImportLabelsConfig:
    source_kinds: tuple[str, ...] = ("sky-timelapse",)  # the curated sources whose clips get these labels
    camera_motion: str = "none"  # one of none / pan / tilt / zoom / shake
    usable: bool = True  # whether the dataset's clips are fit to train on
    categories: tuple[str, ...] = ("cloud",)  # among the paper's 13; Sky Time-lapse shows skies

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_kinds", tuple(self.source_kinds))
        object.__setattr__(self, "categories", tuple(self.categories))
        if not self.source_kinds:
            raise ValueError("source_kinds must name at least one source kind, e.g. [\"sky-timelapse\"]")
        if self.camera_motion not in CAMERA_LABELS:
            raise ValueError(f"camera_motion must be one of {CAMERA_LABELS}, got {self.camera_motion!r}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"categories must be among the paper's 13 {CATEGORIES}, got {unknown}")


class ImportLabelsStage(Stage):
    name = "import-labels"
    input_table = "clips"
    output_table = "labels"
    input_key = "clip_id"
    owner = ("annotator", IMPORT)
    Config = ImportLabelsConfig

    def plan(self, work: str) -> list[dict]:
        """The ok clips whose video comes from a source of ``source_kinds``."""
        kinds = {row["source_id"]: row["source_kind"] for row in read_rows(work, "sources")}
        chosen = {row["video_id"] for row in read_rows(work, "videos")
                  if kinds.get(row["source_id"]) in self.config.source_kinds}
        return [clip for clip in super().plan(work) if clip["video_id"] in chosen]

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        config = self.config
        return [{"clip_id": item["clip_id"], "annotator": IMPORT, "status": "ok", "error": "",
                 "camera_motion": config.camera_motion, "usable": config.usable,
                 "categories": [category for category in CATEGORIES if category in config.categories],
                 "label_source": IMPORT, "needs_review": False, "labelled_at": datetime.now(timezone.utc)}]

    def failed_rows(self, item: dict, error: str) -> list[dict]:
        return [{"clip_id": item["clip_id"], "annotator": IMPORT, "status": "failed", "error": error,
                 "label_source": IMPORT}]
