"""Camera motion of a clip: scores measured from dense flow, and the automatic verdict on them.

Per sampled frame pair (grey, resized to ``ANALYSIS_WIDTH`` pixels wide so that thresholds do
not depend on the resolution): DIS optical flow, then a similarity transform (pan + zoom +
rotation) fitted to it with RANSAC. ``camera_motion_score`` is the share of the image that the
fitted motion explains, scaled down when that motion is small and when part of the image stands
still: a moving camera leaves nothing still, while drifting clouds over a still camera can be
"explained" by one motion too, but leave the ground still (0 for a still camera);
``pan_px_per_frame`` is the fitted motion at the image centre, ``zoom_per_frame`` its scale;
``motion_strength`` is the median flow left after removing it (the scene's own motion). A clip's
scores are the medians over its pairs. The camera moves when the score and the pan or zoom are
large enough; a clip barely moves when its motion strength is tiny.

    >>> clip = {"camera_motion_score": 0.9, "pan_px_per_frame": 2.0, "zoom_per_frame": 1.0,
    ...         "motion_strength": 0.8}
    >>> camera_verdict(clip)
    'pan'
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANALYSIS_WIDTH = 256  # pixels: frames are resized to this width before flow is measured
GRID_STEP = 8  # pixels between the flow samples the similarity is fitted to
INLIER_PX = 0.5  # a sample fits the similarity when within this many pixels
FULL_MOTION_PX = 1.0  # global motion (px/frame) from which the score is not scaled down
STILL_PX = 0.1  # a sample stands still below this flow (px/frame)
STILL_SHARE = 0.1  # a still share of the image from which the score is 0
SCORE_COLUMNS = ("camera_motion_score", "pan_px_per_frame", "zoom_per_frame", "motion_strength")
CAMERA_LABELS = ("none", "pan", "tilt", "zoom", "shake")  # the labelling choices; the verdict gives none/pan/zoom


@dataclass(frozen=True)
class CameraMotionThresholds:
    min_score: float = 0.15  # camera_motion_score from which the global motion counts as the camera's (calibrated)
    min_pan_px: float = 0.3  # px per frame at ANALYSIS_WIDTH (calibrated)
    min_zoom: float = 0.004  # |zoom_per_frame - 1|
    min_strength: float = 0.05  # px per frame of residual motion below which a clip barely moves


def camera_verdict(clip: dict, thresholds: CameraMotionThresholds = CameraMotionThresholds()) -> str:
    """``"pan"``, ``"zoom"`` or ``"none"`` for a clips row with scores; ``"none"`` when it has none."""
    if clip.get("camera_motion_score") is None or clip["camera_motion_score"] < thresholds.min_score:
        return "none"
    zoom = abs(clip["zoom_per_frame"] - 1.0)
    if zoom >= thresholds.min_zoom:
        return "zoom"
    return "pan" if clip["pan_px_per_frame"] >= thresholds.min_pan_px else "none"


def barely_moves(clip: dict, thresholds: CameraMotionThresholds = CameraMotionThresholds()) -> bool:
    """Whether the scene itself hardly moves (a clip not worth animating from)."""
    return clip.get("motion_strength") is not None and clip["motion_strength"] < thresholds.min_strength


def analysis_frame(frame_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR frame -> (h, ANALYSIS_WIDTH) uint8 grey, aspect kept."""
    import cv2

    height, width = frame_bgr.shape[:2]
    size = (ANALYSIS_WIDTH, max(2, round(height * ANALYSIS_WIDTH / width)))
    return cv2.resize(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA)


def pair_motion(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """The four scores of one pair of analysis frames (h, w) uint8."""
    import cv2

    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(first, second, None)  # (h, w, 2)
    h, w = first.shape
    ys, xs = np.mgrid[GRID_STEP // 2:h:GRID_STEP, GRID_STEP // 2:w:GRID_STEP]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)  # (n, 2)
    moved = points + flow[ys.ravel(), xs.ravel()]  # (n, 2)
    matrix, inliers = cv2.estimateAffinePartial2D(points, moved, method=cv2.RANSAC,
                                                  ransacReprojThreshold=INLIER_PX, maxIters=500, confidence=0.99,
                                                  refineIters=10)
    if matrix is None:  # degenerate (e.g. a flat frame): no global motion found
        matrix, inliers = np.array([[1, 0, 0], [0, 1, 0]], np.float64), np.zeros((len(points), 1), np.uint8)
    fitted = points @ matrix[:, :2].T + matrix[:, 2]  # (n, 2)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    global_motion = float(np.linalg.norm(fitted - points, axis=1).mean())
    still_share = float((np.linalg.norm(moved - points, axis=1) < STILL_PX).mean())
    return {
        "camera_motion_score": float(inliers.mean()) * min(1.0, global_motion / FULL_MOTION_PX)
                               * max(0.0, 1.0 - still_share / STILL_SHARE),
        "pan_px_per_frame": float(np.linalg.norm(matrix[:, :2] @ centre + matrix[:, 2] - centre)),
        "zoom_per_frame": float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))),
        "motion_strength": float(np.median(np.linalg.norm(moved - fitted, axis=1))),
    }


def clip_motion(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float | None]:
    """A clip's scores: the median of each score over its sampled pairs (None without pairs)."""
    if not pairs:
        return dict.fromkeys(SCORE_COLUMNS)
    measured = [pair_motion(first, second) for first, second in pairs]
    return {column: float(np.median([m[column] for m in measured])) for column in SCORE_COLUMNS}
