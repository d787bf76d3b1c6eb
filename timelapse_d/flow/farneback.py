"""OpenCV Farneback polynomial-expansion optical flow.

    >>> from timelapse_d.flow.farneback import FarnebackConfig, FarnebackFlow
    >>> FarnebackFlow(FarnebackConfig(levels=3)).params()["levels"]
    3
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import FlowEstimator, to_grey


@dataclass(frozen=True)
class FarnebackConfig:
    """``cv2.calcOpticalFlowFarneback`` parameters; ``gaussian`` sets OPTFLOW_FARNEBACK_GAUSSIAN."""

    pyr_scale: float = 0.5
    levels: int = 5
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.1
    gaussian: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.pyr_scale, (int, float)) and 0.0 < self.pyr_scale < 1.0):
            raise ValueError(f"FarnebackConfig.pyr_scale must be in (0, 1), got {self.pyr_scale!r}")
        for name, low in (("levels", 1), ("winsize", 3), ("iterations", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"FarnebackConfig.{name} must be an int >= {low}, got {value!r}")
        if self.poly_n not in (5, 7):
            raise ValueError(f"FarnebackConfig.poly_n must be 5 or 7, got {self.poly_n!r}")
        if not (isinstance(self.poly_sigma, (int, float)) and self.poly_sigma > 0):
            raise ValueError(f"FarnebackConfig.poly_sigma must be > 0, got {self.poly_sigma!r}")
        if not isinstance(self.gaussian, bool):
            raise ValueError(f"FarnebackConfig.gaussian must be a bool, got {self.gaussian!r}")


class FarnebackFlow(FlowEstimator):
    name = "farneback"
    config_class = FarnebackConfig

    def flow_from(self, reference: np.ndarray, target: np.ndarray) -> np.ndarray:
        import cv2

        c = self.config
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if c.gaussian else 0
        # calcOpticalFlowFarneback(prev, next) returns u with prev(p) ~= next(p + u(p)): the hook's contract.
        return cv2.calcOpticalFlowFarneback(to_grey(reference), to_grey(target), None, c.pyr_scale, c.levels,
                                            c.winsize, c.iterations, c.poly_n, c.poly_sigma, flags)  # (H, W, 2)
