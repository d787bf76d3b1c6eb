"""The automatic verdicts as labels (``annotator = label_source = "auto"``): used for the
``auto-label`` stage and for the pre-annotations of Label Studio tasks.

Camera motion from :func:`camera_verdict`, usable when the camera is still and the scene does
move, categories from the source's tags that are among the paper's 13.

    >>> auto_label({"camera_motion_score": 0.1, "motion_strength": 0.5}, ["cloud", "sunset"])
    {'camera_motion': 'none', 'usable': True, 'categories': ['cloud']}
    >>> still = {"camera_motion_score": 0.0, "motion_strength": 0.02}   # a still camera, a scene that barely moves
    >>> auto_label(still, [])["usable"], auto_label(still, [], CameraMotionThresholds(min_strength=0.0))["usable"]
    (False, True)
"""
from __future__ import annotations

from pathlib import Path

from timelapse_d.camera_motion import CameraMotionThresholds, barely_moves, camera_verdict
from timelapse_d.labelling.project import CATEGORIES
from timelapse_d.manifest import read_rows

AUTO = "auto"


def auto_label(clip: dict, tags: list[str] | None,
               thresholds: CameraMotionThresholds = CameraMotionThresholds()) -> dict:
    camera = camera_verdict(clip, thresholds)
    wanted = set(tags or ())
    return {"camera_motion": camera, "usable": camera == "none" and not barely_moves(clip, thresholds),
            "categories": [category for category in CATEGORIES if category in wanted]}


def clip_tags(work: str | Path) -> dict[str, list[str]]:
    """video_id -> the tags of its source."""
    tags = {row["source_id"]: row["tags"] or [] for row in read_rows(work, "sources")}
    return {row["video_id"]: tags.get(row["source_id"], []) for row in read_rows(work, "videos")}
