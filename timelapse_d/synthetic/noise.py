"""Fractal value noise for procedural textures (numpy + OpenCV only, seeded by a Generator).

One octave is a lattice of uniform random values upsampled with bicubic interpolation; a fractal
sums octaves whose cell size halves and whose amplitude is multiplied by ``persistence``. Cells
may be anisotropic ``(cell_y, cell_x)``: long in y and short in x gives vertical streaks.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = fractal_noise(rng, (48, 64), cell=16.0)
    >>> n.shape, n.dtype, bool(abs(n.mean()) < 0.5)
    ((48, 64), dtype('float32'), True)
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# standard deviation of one bicubic octave of uniform(-1, 1) lattice values (measured, ~0.5)
_OCTAVE_STD = 0.5


def _pair(cell: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(cell, (tuple, list)):
        cy, cx = float(cell[0]), float(cell[1])
    else:
        cy = cx = float(cell)
    if not (cy > 0 and cx > 0):
        raise ValueError(f"noise cell sizes must be > 0, got {cell!r}")
    return cy, cx


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float | tuple[float, float]) -> np.ndarray:
    """One octave: (h, w) float32 in about [-1, 1], smooth at the scale of ``cell`` pixels."""
    h, w = int(shape[0]), int(shape[1])
    cy, cx = _pair(cell)
    gh, gw = math.ceil(h / cy) + 4, math.ceil(w / cx) + 4
    lattice = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    out_h, out_w = max(int(round(gh * cy)), h + 2), max(int(round(gw * cx)), w + 2)
    up = cv2.resize(lattice, (out_w, out_h), interpolation=cv2.INTER_CUBIC)  # (out_h, out_w)
    # skip the first cell (border effects of the resize), then a random sub-cell offset
    oy = min(int(cy) + int(rng.integers(0, int(cy) + 1)), out_h - h)
    ox = min(int(cx) + int(rng.integers(0, int(cx) + 1)), out_w - w)
    return np.ascontiguousarray(up[oy:oy + h, ox:ox + w])


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cell: float | tuple[float, float],
    *,
    octaves: int | None = None,
    persistence: float = 0.5,
    lacunarity: float = 2.0,
    min_cell: float = 2.5,
) -> np.ndarray:
    """Sum of octaves, (h, w) float32 with about zero mean and unit standard deviation.

    ``cell`` is the coarsest octave's lattice spacing in pixels; every next octave divides it by
    ``lacunarity`` (each axis clamped at ``min_cell``, so the finest detail is a few pixels wide
    and bilinear re-interpolation of the texture costs little). ``octaves`` defaults to as many as
    fit before the larger axis reaches ``min_cell``.
    """
    cy, cx = _pair(cell)
    if octaves is None:
        octaves = max(1, int(math.floor(math.log(max(cy, cx) / min_cell, lacunarity))) + 1)
    total = np.zeros((int(shape[0]), int(shape[1])), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += np.float32(amp) * value_noise(rng, shape, (max(cy, min_cell), max(cx, min_cell)))
        norm += amp * amp
        amp *= persistence
        cy, cx = cy / lacunarity, cx / lacunarity
    return total / np.float32(math.sqrt(norm) * _OCTAVE_STD)


def fractal_curve(rng: np.random.Generator, length: int, cell: float, **kwargs) -> np.ndarray:
    """A 1-D fractal noise signal of ``length`` samples (float32, about unit std), e.g. a ridge line."""
    return fractal_noise(rng, (1, int(length)), (max(cell, 1.0), cell), **kwargs)[0]


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below edge0, 1 above edge1, cubic in between (float32)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)
