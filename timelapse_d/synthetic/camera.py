"""The camera of a shot: a similarity C_t from frame pixels to world coordinates.

Identity for a still shot, a translation for a pan, a scale about the frame centre for a zoom.
World coordinates are those of the frame at the shot's reference time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Rect = tuple[float, float, float, float]  # (x0, x1, y0, y1), an axis-aligned world area


@dataclass(frozen=True)
class Camera:
    """C_t(p) = c + s_t (p - c) + o_t: frame pixel -> world; world = frame at the reference time."""

    width: int
    height: int
    n_frames: int
    pan: tuple[float, float]
    zoom: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def scale(self, t: int) -> float:
        # world units per frame pixel, <= 1 so textures are never minified: zoom in starts at 1,
        # zoom out ends at 1
        if self.zoom >= 1.0:
            return self.zoom ** (-t)
        return self.zoom ** (self.n_frames - 1 - t)

    def offset(self, t: int) -> tuple[float, float]:
        tau = t - (self.n_frames - 1) / 2.0  # the middle frame is the reference view of a pan
        return -tau * self.pan[0], -tau * self.pan[1]

    def to_world(self, px: np.ndarray, py: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame pixel coordinates px, py (arrays of one shape) at frame t -> world coordinates, same shape."""
        (cx, cy), s, (ox, oy) = self.centre, self.scale(t), self.offset(t)
        return cx + s * (px - cx) + ox, cy + s * (py - cy) + oy

    def to_frame(self, wx: np.ndarray, wy: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The inverse of to_world: world coordinates (arrays of one shape) -> frame t's pixel coordinates."""
        (cx, cy), s, (ox, oy) = self.centre, self.scale(t), self.offset(t)
        return cx + (wx - ox - cx) / s, cy + (wy - oy - cy) / s

    def world_rect(self) -> Rect:
        """(x0, x1, y0, y1): the world area any pixel centre of any frame of the shot maps to."""
        px = np.array([0.0, self.width - 1.0, 0.0, self.width - 1.0])
        py = np.array([0.0, 0.0, self.height - 1.0, self.height - 1.0])
        xs, ys = zip(*(self.to_world(px, py, t) for t in range(self.n_frames)))
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
