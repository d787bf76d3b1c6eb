"""Readers for flow ground truth on disk, and the end-point error.

Both formats store FORWARD flow a -> b on frame a's grid (frame_a(p) ~= frame_b(p + F(p))), in
pixels, channel 0 = x, 1 = y. Compare them with ``FlowEstimator.estimate_forward(a, b)``.

    >>> import numpy as np
    >>> from timelapse_d.flow.io import end_point_error
    >>> end_point_error(np.zeros((2, 2, 2)), np.full((2, 2, 2), [3.0, 4.0]))
    5.0
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FLO_MAGIC = 202021.25  # b"PIEH" read as little-endian float32
FLO_UNKNOWN = 1e9  # Middlebury: components above this are unknown


def read_flo(path: str | Path) -> np.ndarray:
    """Middlebury ``.flo``: (H, W, 2) float32; unknown components (> 1e9) become NaN."""
    raw = Path(path).read_bytes()
    magic = np.frombuffer(raw, "<f4", 1, 0)[0]
    if magic != FLO_MAGIC:
        raise ValueError(f"{path}: not a .flo file (magic {magic!r}, expected {FLO_MAGIC})")
    width, height = (int(v) for v in np.frombuffer(raw, "<i4", 2, 4))
    if width <= 0 or height <= 0 or len(raw) != 12 + width * height * 8:
        raise ValueError(f"{path}: header says {width}x{height}, but the file has {len(raw)} bytes")
    flow = np.frombuffer(raw, "<f4", height * width * 2, 12).reshape(height, width, 2).astype(np.float32)
    flow[np.abs(flow) > FLO_UNKNOWN] = np.nan
    return flow


def read_kitti_flow(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """KITTI 16-bit PNG flow: ((H, W, 2) float32 with NaN where invalid, (H, W) bool valid).

    PNG channels R, G = (value - 2^15) / 64 for x, y; B = 1 where the pixel has ground truth.
    """
    import cv2

    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # (H, W, 3) uint16, channel order B, G, R
    if png is None or png.dtype != np.uint16 or png.ndim != 3 or png.shape[2] != 3:
        got = None if png is None else (png.shape, png.dtype)
        raise ValueError(f"{path}: not a 3-channel 16-bit KITTI flow PNG, got {got}")
    valid = png[..., 0] > 0
    flow = (png[..., [2, 1]].astype(np.float32) - 2.0**15) / 64.0  # (H, W, 2): x from R, y from G
    flow[~valid] = np.nan
    return flow, valid


def read_mask_png(path: str | Path) -> np.ndarray:
    """A black/white mask PNG (Sintel ``invalid``, ``occlusions``) -> (H, W) bool, True where white."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{path}: cannot read mask PNG")
    return mask > 127


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def end_point_error(estimate: np.ndarray, truth: np.ndarray, valid_mask: np.ndarray | None = None) -> float:
    """Mean Euclidean distance |estimate - truth| in px over pixels that are valid and finite in truth."""
    if estimate.shape != truth.shape or estimate.ndim != 3 or estimate.shape[2] != 2:
        raise ValueError(f"estimate and truth must both be (H, W, 2), got {estimate.shape} and {truth.shape}")
    keep = np.isfinite(truth).all(axis=2)
    if valid_mask is not None:
        if valid_mask.shape != truth.shape[:2]:
            raise ValueError(f"valid_mask must be {truth.shape[:2]}, got {valid_mask.shape}")
        keep &= valid_mask.astype(bool)
    if not keep.any():
        raise ValueError("end_point_error: no valid pixels to compare")
    diff = estimate[keep].astype(np.float64) - truth[keep]  # (N, 2)
    return float(np.sqrt((diff**2).sum(axis=1)).mean())
