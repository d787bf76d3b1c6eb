"""The automatic verdicts as labels (``annotator = label_source = "auto"``): used for the
``auto-label`` stage and for the pre-annotations of Label Studio tasks.

Camera motion from :func:`camera_verdict`, usable when the camera is still and the scene does
move, categories from what the clip shows (``timelapse_d.categories``, scored by ``split``), or
from the source's tags among the paper's 13 for a clip not scored for them.

    >>> auto_label({"camera_motion_score": 0.1, "motion_strength": 0.5, "categories": ["water"]}, ["cloud"])
    {'camera_motion': 'none', 'usable': True, 'categories': ['water']}
    >>> auto_label({"camera_motion_score": 0.1, "motion_strength": 0.5}, ["cloud", "sunset"])
    {'camera_motion': 'none', 'usable': True, 'categories': ['cloud']}
    >>> still = {"camera_motion_score": 0.0, "motion_strength": 0.02}   # a still camera, a scene that barely moves
    >>> auto_label(still, [])["usable"], auto_label(still, [], CameraMotionThresholds(min_strength=0.0))["usable"]
    (False, True)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from timelapse_d.camera_motion import CameraMotionThresholds, barely_moves, camera_verdict
from timelapse_d.categories import CATEGORIES
from timelapse_d.manifest import read_rows

AUTO = "auto"


def auto_label(clip: dict, tags: list[str] | None,
               thresholds: CameraMotionThresholds = CameraMotionThresholds()) -> dict:
    """Camera motion and usable from the clip's scores; categories from what the clip shows (its
    ``categories``, best first), or, for a clip that was not scored for them, its source's tags."""
    camera = camera_verdict(clip, thresholds)
    if clip.get("categories") is not None:
        categories = list(clip["categories"])
    else:
        categories = [category for category in CATEGORIES if category in set(tags or ())]
    return {"camera_motion": camera, "usable": camera == "none" and not barely_moves(clip, thresholds),
            "categories": categories}


def verdict_confidence(clip: dict, thresholds: CameraMotionThresholds = CameraMotionThresholds()) -> float | None:
    """How sure the automatic verdict is, 0.5 (on a threshold) to 1 (far from every threshold it
    depends on); None for a clip without scores. The camera verdict's margin is the score's distance
    from ``min_score`` as a share of the room on its side; for a still camera, the usable verdict's
    is the motion strength's distance from ``min_strength`` in decades (10x away: sure); for a clip
    scored for categories, the first category's lead over the second, as a share of its score. Each
    margin is mapped to 0.5-1 and the confidence is their geometric mean: a margin, not a
    calibrated probability.

    >>> clip = {"camera_motion_score": 0.0, "pan_px_per_frame": 0.0, "zoom_per_frame": 1.0, "motion_strength": 1.5}
    >>> verdict_confidence(clip)  # a still camera, a scene that moves 10x the threshold
    1.0
    >>> round(verdict_confidence({**clip, "camera_motion_score": 0.9, "pan_px_per_frame": 2.0}), 3)  # a pan
    0.941
    >>> verdict_confidence({**clip, "camera_motion_score": 0.15, "motion_strength": 0.15})  # on both thresholds
    0.5
    >>> round(verdict_confidence({**clip, "category_scores": '{"water": 0.6, "cloud": 0.3}'}), 3)  # leads by half
    0.909
    """
    score, strength = clip.get("camera_motion_score"), clip.get("motion_strength")
    if score is None or strength is None:
        return None
    limit = thresholds.min_score
    margins = [(limit - score) / limit if score < limit else (score - limit) / (1 - limit)]
    if camera_verdict(clip, thresholds) == "none" and thresholds.min_strength > 0:
        margins.append(abs(math.log10(max(strength, 1e-6) / thresholds.min_strength)))  # in decades
    if clip.get("category_scores"):
        best, second = (sorted(json.loads(clip["category_scores"]).values(), reverse=True) + [0.0, 0.0])[:2]
        margins.append((best - second) / best if best > 0 else 0.0)
    return float(np.prod([0.5 + 0.5 * min(1.0, margin) for margin in margins]) ** (1 / len(margins)))


def clip_tags(work: str | Path) -> dict[str, list[str]]:
    """video_id -> the tags of its source."""
    tags = {row["source_id"]: row["tags"] or [] for row in read_rows(work, "sources")}
    return {row["video_id"]: tags.get(row["source_id"], []) for row in read_rows(work, "videos")}
