"""The flow estimator base class and the one convention every estimator follows.

Convention (the model's, and the synthetic ground truth's): for the consecutive pair
(frame_t, frame_t1), ``estimate(frame_t, frame_t1)`` returns the BACKWARD flow F, (H, W, 2)
float32, in pixels of the input frames, channel 0 = x (right), channel 1 = y (down). It lives on
frame t+1's grid and points into frame t:

    frame_t1(p) ~= frame_t(p + F(p))        i.e. backward_warp(frame_t, F) ~= frame_t1

``estimate_forward(frame_a, frame_b)`` is the forward flow a -> b on frame a's grid,
``frame_a(p) ~= frame_b(p + F(p))``: the format of KITTI and Sintel ground truth. It is exactly the
backward flow of the reversed pair, ``estimate(frame_b, frame_a)``; no field is inverted or
resampled, so comparing it with forward ground truth is exact.

    >>> import numpy as np
    >>> from timelapse_d.flow import FLOW_ESTIMATORS, backward_warp
    >>> rng = np.random.default_rng(0)
    >>> import cv2
    >>> t = cv2.GaussianBlur(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (7, 7), 2)
    >>> t1 = np.roll(t, 2, axis=1)             # content moves 2 px right
    >>> flow = FLOW_ESTIMATORS.get("dis")().estimate(t, t1)
    >>> float(np.round(np.median(flow[..., 0]), 1))   # so p + F points 2 px left into frame t
    -2.0
"""
from __future__ import annotations

import dataclasses

import numpy as np

from timelapse_d.config import Configured


def check_frame_pair(frame_a: np.ndarray, frame_b: np.ndarray) -> None:
    """Validate two RGB uint8 frames of the same shape; raise ValueError naming the bad value."""
    for name, frame in (("frame_a", frame_a), ("frame_b", frame_b)):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            got = (frame.shape, frame.dtype) if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames must have the same shape, got {frame_a.shape} and {frame_b.shape}")


def to_grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luma."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at p + flow(p) (bilinear, border replicated): out(p) = image(p + flow(p)).

    With the backward flow of the pair (t, t+1), ``backward_warp(frame_t, F)`` reproduces frame t+1.
    """
    import cv2

    h, w = flow.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)  # (H, W) each
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class FlowEstimator(Configured):
    """Base class: subclasses set ``name`` and ``config_class`` and fill one hook, ``flow_from``."""


    # The hook. reference(p) ~= target(p + flow(p)); flow (H, W, 2) float32 on reference's grid.
    def flow_from(self, reference: np.ndarray, target: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def estimate(self, frame_t: np.ndarray, frame_t1: np.ndarray) -> np.ndarray:
        """Backward flow of the pair (t, t+1): frame_t1(p) ~= frame_t(p + F(p)). (H, W, 2) float32."""
        check_frame_pair(frame_t, frame_t1)
        return self._checked(self.flow_from(frame_t1, frame_t), frame_t.shape)

    def estimate_forward(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        """Forward flow a -> b on a's grid: frame_a(p) ~= frame_b(p + F(p)). Same as estimate(frame_b, frame_a)."""
        check_frame_pair(frame_a, frame_b)
        return self._checked(self.flow_from(frame_a, frame_b), frame_a.shape)

    def params(self) -> dict:
        """Provenance: the estimator's name and every parameter that shaped its output (json-ready)."""
        return {"estimator": self.name, **dataclasses.asdict(self.config)}

    @staticmethod
    def _checked(flow: np.ndarray, shape: tuple) -> np.ndarray:
        assert flow.shape == (shape[0], shape[1], 2), flow.shape
        assert np.isfinite(flow).all(), "estimators never produce NaN or inf"
        return flow.astype(np.float32, copy=False)
