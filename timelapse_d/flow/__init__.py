"""Optical flow for the pre-processing stage: estimators behind a registry, ground-truth readers,
the end-point error and a compact codec. Conventions and measurements: docs/flow.md.

Convention: ``estimate(frame_t, frame_t1)`` is the BACKWARD flow F of the pair, (H, W, 2) float32,
pixels, channel 0 = x (right), 1 = y (down), on frame t+1's grid: frame_t1(p) ~= frame_t(p + F(p)),
so ``backward_warp(frame_t, F)`` reproduces frame t+1 (the synthetic ground truth's convention).

    >>> from timelapse_d.flow import FLOW_ESTIMATORS
    >>> FLOW_ESTIMATORS.names()
    ['dis', 'farneback']
    >>> FLOW_ESTIMATORS.get("dis")().params()["preset"]
    'medium'
"""
from timelapse_d.registry import Registry

from .base import FlowEstimator, backward_warp
from .codec import decode, encode, encoded_mode
from .io import end_point_error, read_flo, read_kitti_flow, read_mask_png, read_rgb

FLOW_ESTIMATORS = Registry("flow estimator", {
    "dis": "timelapse_d.flow.dis:DisFlow",
    "farneback": "timelapse_d.flow.farneback:FarnebackFlow",
})
DEFAULT_FLOW_ESTIMATOR = "dis"

__all__ = [
    "DEFAULT_FLOW_ESTIMATOR", "FLOW_ESTIMATORS", "FlowEstimator", "backward_warp", "decode", "encode", "encoded_mode",
    "end_point_error", "read_flo", "read_kitti_flow", "read_mask_png", "read_rgb",
]
