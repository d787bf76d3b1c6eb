"""Camera motion of a clip: scores measured from dense flow, and the automatic verdict on them.

Per sampled frame pair (grey, resized to ``ANALYSIS_WIDTH`` pixels wide so that thresholds do
not depend on the resolution): DIS optical flow, then a similarity transform (pan + zoom +
rotation) fitted to it with RANSAC. ``camera_motion_score`` is the share of the image that the
fitted motion explains, scaled down when that motion is small and when part of the image stands
still: a moving camera leaves nothing still, while drifting clouds over a still camera can be
"explained" by one motion too, but leave the ground still (0 for a still camera);
``pan_px_per_frame`` is the fitted motion at the image centre, ``zoom_per_frame`` its scale;
``motion_strength`` is the 90th percentile of the flow left after removing it: the scene's own
motion where it moves (a waterfall fills a tenth of the frame, so a median would call it still).
A clip's scores are the medians over its pairs. The camera moves when the score and the pan or zoom are
large enough; a clip barely moves when its motion strength is tiny.

    >>> clip = {"camera_motion_score": 0.9, "pan_px_per_frame": 2.0, "zoom_per_frame": 1.0,
    ...         "motion_strength": 0.8}
    >>> camera_verdict(clip)
    'pan'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

ANALYSIS_WIDTH = 256  # pixels: frames are resized to this width before flow is measured
GRID_STEP = 8  # pixels between the flow samples the similarity is fitted to
INLIER_PX = 0.5  # a sample fits the similarity when within this many pixels
FULL_MOTION_PX = 1.0  # global motion (px/frame) from which the score is not scaled down
STILL_PX = 0.1  # a sample stands still below this flow (px/frame)
STILL_SHARE = 0.1  # a still share of the image from which the score is 0
MIN_STATIC_POINTS = 8  # grid points of static ground from which the camera is judged on it alone (calibrated)
SCORE_COLUMNS = ("camera_motion_score", "pan_px_per_frame", "zoom_per_frame", "motion_strength")
CAMERA_LABELS = ("none", "pan", "tilt", "zoom", "shake")  # the labelling choices; the verdict gives none/pan/zoom


@dataclass(frozen=True)
class CameraMotionThresholds:
    min_score: float = 0.15  # camera_motion_score from which the global motion counts as the camera's (calibrated)
    min_pan_px: float = 0.3  # px per frame at ANALYSIS_WIDTH (calibrated)
    min_zoom: float = 0.004  # |zoom_per_frame - 1|
    min_strength: float = 0.15  # px per frame of residual motion (90th percentile) below which a clip barely moves


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


class PairMotion(NamedTuple):
    scores: dict[str, float]  # the four SCORE_COLUMNS
    residual: np.ndarray  # (gh, gw) px per frame of flow left after removing the camera's motion, on the grid
    grid: tuple[np.ndarray, np.ndarray]  # (rows, cols) of the grid points, each (gh, gw), to sample maps with


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the analysis frames of a video ``width`` x ``height``: ANALYSIS_WIDTH wide, aspect kept."""
    return ANALYSIS_WIDTH, max(2, round(height * ANALYSIS_WIDTH / width))


def pair_motion(first: np.ndarray, second: np.ndarray, static: np.ndarray | None = None) -> PairMotion:
    """The scores of one pair of analysis frames (h, w) uint8, and the scene's own motion.

    ``static``: an (h, w) bool map of what cannot move by itself (the "others" group: ground, rock,
    buildings), or None. Where enough of it is seen (``MIN_STATIC_POINTS`` grid points once its
    edges are eroded away), the camera is judged on it alone: the score is its median flow (px per
    frame, capped at 1), and pan and zoom are fitted to it. Water that fills the frame and drifts as
    one would otherwise read as a pan."""
    import cv2

    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(first, second, None)  # (h, w, 2)
    h, w = first.shape
    rows, cols = np.mgrid[GRID_STEP // 2:h:GRID_STEP, GRID_STEP // 2:w:GRID_STEP]
    points = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float32)  # (n, 2)
    moved = points + flow[rows.ravel(), cols.ravel()]  # (n, 2)
    ground = _static_points(static, rows, cols)
    if ground is not None and ground.sum() >= MIN_STATIC_POINTS:
        matrix, _ = _fit_similarity(points[ground], moved[ground])
        score = min(1.0, float(np.median(np.linalg.norm(moved[ground] - points[ground], axis=1))) / FULL_MOTION_PX)
    else:
        matrix, inliers = _fit_similarity(points, moved)
        global_motion = float(np.linalg.norm(points @ matrix[:, :2].T + matrix[:, 2] - points, axis=1).mean())
        still_share = float((np.linalg.norm(moved - points, axis=1) < STILL_PX).mean())
        score = (float(inliers.mean()) * min(1.0, global_motion / FULL_MOTION_PX)
                 * max(0.0, 1.0 - still_share / STILL_SHARE))
    residual = np.linalg.norm(moved - (points @ matrix[:, :2].T + matrix[:, 2]), axis=1)  # (n,)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    scores = {"camera_motion_score": score,
              "pan_px_per_frame": float(np.linalg.norm(matrix[:, :2] @ centre + matrix[:, 2] - centre)),
              "zoom_per_frame": float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))),
              "motion_strength": float(np.percentile(residual, 90))}
    return PairMotion(scores, residual.reshape(rows.shape), (rows, cols))


def _fit_similarity(points: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, 3) similarity matrix fitted with RANSAC, and the inlier flags (n, 1); identity when degenerate."""
    import cv2

    matrix, inliers = cv2.estimateAffinePartial2D(points, moved, method=cv2.RANSAC, ransacReprojThreshold=INLIER_PX,
                                                  maxIters=500, confidence=0.99, refineIters=10)
    if matrix is None:  # degenerate (e.g. a flat frame): no global motion found
        return np.array([[1, 0, 0], [0, 1, 0]], np.float64), np.zeros((len(points), 1), np.uint8)
    return matrix, inliers


def _static_points(static: np.ndarray | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """Which grid points (n,) lie on static ground at least a grid step from its edges (None: no map)."""
    import cv2

    if static is None:
        return None
    kernel = np.ones((GRID_STEP + 1, GRID_STEP + 1), np.uint8)
    return cv2.erode(static.astype(np.uint8), kernel)[rows.ravel(), cols.ravel()].astype(bool)


def clip_motion(motions: list[PairMotion]) -> dict[str, float | None]:
    """A clip's scores: the median of each score over its sampled pairs (None without pairs)."""
    if not motions:
        return dict.fromkeys(SCORE_COLUMNS)
    return {column: float(np.median([m.scores[column] for m in motions])) for column in SCORE_COLUMNS}