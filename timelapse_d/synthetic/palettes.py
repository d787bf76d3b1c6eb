"""Colours: sky palettes, ground, grass, foliage and water colours, and colour jitter and mixing."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SkyPalette:
    name: str
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    cloud_lit: tuple[float, float, float]
    cloud_shadow: tuple[float, float, float]
    coverage: tuple[float, float]


SKIES: tuple[SkyPalette, ...] = (
    SkyPalette("clear", (52, 104, 184), (170, 200, 228), (250, 250, 250), (148, 158, 182), (0.25, 0.5)),
    SkyPalette("deep", (28, 74, 160), (126, 174, 222), (246, 247, 250), (126, 138, 168), (0.3, 0.6)),
    SkyPalette("golden", (84, 112, 160), (236, 188, 128), (255, 226, 182), (132, 106, 116), (0.3, 0.6)),
    SkyPalette("dusk", (46, 48, 98), (226, 136, 104), (246, 168, 136), (84, 64, 96), (0.35, 0.6)),
    SkyPalette("overcast", (126, 134, 148), (186, 190, 196), (224, 224, 228), (108, 114, 128), (0.6, 0.85)),
)
GROUNDS = {  # others: ground, rock, distant hills
    "meadow": (86, 112, 54), "dry": (150, 134, 84), "rock": (112, 106, 98), "earth": (112, 86, 62),
    "dark": (54, 66, 46), "slate": (88, 96, 110),
}
GRASSES = ((200, 168, 88), (160, 160, 78), (96, 134, 52), (176, 146, 96), (120, 150, 60))
FOLIAGE = ((44, 82, 34), (64, 100, 40), (92, 112, 50), (150, 108, 42), (36, 64, 40))
WATERS = ((36, 70, 92), (30, 80, 84), (48, 66, 78), (40, 86, 110))


def jittered_colour(rng: np.random.Generator, base, jitter: float = 10.0) -> np.ndarray:
    """RGB base plus a uniform draw in [-jitter, jitter] per channel -> (3,) float32 in 0..255."""
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-jitter, jitter, 3).astype(np.float32), 0, 255)


def mix(a, b, t) -> np.ndarray:
    """a + (b - a) * t with colours a, b of shape (3,) or (..., 3) and weights t (...)."""
    return np.asarray(a, np.float32) + (np.asarray(b, np.float32) - np.asarray(a, np.float32)) * np.asarray(t, np.float32)[..., None]
