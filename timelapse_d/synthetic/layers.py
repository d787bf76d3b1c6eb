"""Layers: an RGB texture and a mask field on a canvas in the layer's texture coordinates.

A layer shows its texture where its field is > 0. Canvases are sized from the shot's world area
and the motion's bounds so that every sample of the shot falls inside (checked on each sample).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .camera import Rect
from .motion import Motion

_CANVAS_MARGIN = 4  # texels of canvas beyond the furthest sample (bicubic needs 2)
_MAX_CANVAS = 32000  # OpenCV's remap takes images below SHRT_MAX on each side
_TEXTURE_SIGMA = 0.6  # texels, Gaussian pre-filter of every texture canvas


@dataclass(frozen=True)
class Canvas:
    """A grid of texture coordinates: pixel (i, j) of the canvas is texture point (x0 + j, y0 + i)."""

    x0: float
    y0: float
    w: int
    h: int

    @property
    def X(self) -> np.ndarray:  # (1, w) float32
        return (self.x0 + np.arange(self.w, dtype=np.float32))[None, :]

    @property
    def Y(self) -> np.ndarray:  # (h, 1) float32
        return (self.y0 + np.arange(self.h, dtype=np.float32))[:, None]

    @property
    def shape(self) -> tuple[int, int]:
        return self.h, self.w


Painter = Callable[[np.random.Generator, Canvas], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass
class LayerSpec:
    """What a category builder draws: a layer before its canvas is painted."""

    name: str
    semantic: int  # class id into SEMANTICS
    motion: Motion
    paint: Painter  # -> texture (h, w, 3) float32 0..255, field (h, w) float32 (inside > 0) or None


@dataclass
class Layer:
    """A painted layer, sampled at texture points."""

    name: str
    semantic: int  # class id into SEMANTICS
    motion: Motion
    canvas: Canvas
    texture: np.ndarray  # (h, w, 3) float32
    field: np.ndarray | None  # (h, w) float32; None: everywhere inside

    def _maps(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mx, my = x - self.canvas.x0, y - self.canvas.y0
        if mx.size and (mx.min() < 0 or my.min() < 0 or mx.max() > self.canvas.w - 1 or my.max() > self.canvas.h - 1):
            raise AssertionError(f"layer {self.name}: sample outside its canvas ({mx.min():.1f}..{mx.max():.1f}, "
                                 f"{my.min():.1f}..{my.max():.1f}) of {self.canvas.w}x{self.canvas.h}")
        return mx, my

    def field_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Texture points x, y (n,) -> mask field (n,) float32, inside where > 0."""
        if self.field is None:
            return np.ones(x.shape, np.float32)
        return _sample(self.field, *self._maps(x, y), cv2.INTER_LINEAR)

    def texture_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Texture points x, y (n,) -> RGB (n, 3) float32."""
        return _sample(self.texture, *self._maps(x, y), cv2.INTER_CUBIC)


def _sample(image: np.ndarray, mx: np.ndarray, my: np.ndarray, interpolation: int) -> np.ndarray:
    """image sampled at n points -> (n,) or (n, C) float32 (points reshaped into a 2-D map)."""
    n = mx.size
    cols = 1024
    rows = max(1, -(-n // cols))
    map_x = np.zeros(rows * cols, np.float32)
    map_y = np.zeros(rows * cols, np.float32)
    map_x[:n], map_y[:n] = mx, my
    out = cv2.remap(image, map_x.reshape(rows, cols), map_y.reshape(rows, cols), interpolation,
                    borderMode=cv2.BORDER_REPLICATE)  # (rows, cols[, C])
    return out.reshape(rows * cols, *image.shape[2:])[:n]


def make_layer(rng: np.random.Generator, spec: LayerSpec, rect: Rect, n_frames: int) -> Layer:
    """Paint spec on a canvas holding every texture point the world area rect maps to over n_frames frames."""
    dx0, dx1, dy0, dy1 = spec.motion.bounds(rect, n_frames)
    x0 = math.floor(rect[0] + dx0) - _CANVAS_MARGIN
    y0 = math.floor(rect[2] + dy0) - _CANVAS_MARGIN
    w = math.ceil(rect[1] + dx1) + _CANVAS_MARGIN - x0 + 1
    h = math.ceil(rect[3] + dy1) + _CANVAS_MARGIN - y0 + 1
    if w > _MAX_CANVAS or h > _MAX_CANVAS:
        raise ValueError(f"layer {spec.name}: a {w}x{h} texture canvas is too large; use shorter shots "
                         f"(max_shot_frames) or smaller frames")
    canvas = Canvas(float(x0), float(y0), w, h)
    texture, fld = spec.paint(rng, canvas)
    texture = np.ascontiguousarray(np.broadcast_to(texture, (h, w, 3)), np.float32)
    # pre-filter: no detail finer than about two texels, so bilinear re-sampling costs little
    texture = cv2.GaussianBlur(texture, (0, 0), _TEXTURE_SIGMA, borderType=cv2.BORDER_REPLICATE)
    if fld is not None:
        fld = np.ascontiguousarray(np.broadcast_to(fld, (h, w)), np.float32)
    return Layer(spec.name, spec.semantic, spec.motion, canvas, texture, fld)
