"""Landscape elements the category builders share: shot geometry, curve and noise helpers, the sky,
hills, ground and rocks layers, the grass painter, and randomly drawn ripple and sway motions."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .camera import Rect
from .layers import Canvas, LayerSpec, Painter
from .motion import Drift, Ripple, Static, Sway
from .noise import fractal_curve, fractal_noise, smoothstep
from .palettes import SkyPalette, jittered_colour, mix
from .semantics import OTHERS, SKY


@dataclass(frozen=True)
class ShotGeometry:
    """What a builder knows of its shot: frame size, scale, the world area seen and the length."""

    width: int
    height: int
    unit: float  # 1.0 at 256x192; spatial scales and speeds are multiplied by it
    rect: Rect  # world area seen over the shot
    n_frames: int

    @property
    def t_mid(self) -> float:
        return (self.n_frames - 1) / 2.0

    def x_range(self, margin: float = 32.0) -> tuple[float, float]:
        return self.rect[0] - margin * self.unit - 8, self.rect[1] + margin * self.unit + 8


def random_curve(rng: np.random.Generator, lo: float, hi: float, cell: float,
                 **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """A fractal 1-D function of x on [lo, hi] (about unit std), linear between integer samples."""
    xs = np.arange(math.floor(lo) - 2, math.ceil(hi) + 3, dtype=np.float64)
    vals = fractal_curve(rng, xs.size, cell, **kwargs).astype(np.float64)
    return lambda x: np.interp(x, xs, vals).astype(np.float32)


def canvas_noise(rng: np.random.Generator, canvas: Canvas, cell, **kwargs) -> np.ndarray:
    """Fractal noise covering the canvas: (h, w) float32, about unit std (see noise.fractal_noise)."""
    return fractal_noise(rng, canvas.shape, cell, **kwargs)


def sky_layer(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette, horizon: float, speed: tuple[float, float],
              bottom: float | None = None) -> LayerSpec:
    """Drifting sky: gradient from horizon colour to zenith colour, fractal clouds."""
    u, H = g.unit, g.height
    sign = 1.0 if rng.random() < 0.5 else -1.0
    speed_h = float(rng.uniform(*speed)) * u
    extra = float(rng.uniform(0.3, 0.8)) * speed_h / max(horizon - g.rect[2], 8.0)  # faster higher up
    slope = min(extra, 0.3 / max(g.t_mid, 1.0))  # shear of the texture over the shot stays <= 0.3
    motion = Drift(sign * speed_h, sign * slope, horizon, g.t_mid)
    coverage = float(rng.uniform(*pal.coverage))
    cell = (float(rng.uniform(28, 48)) * u, float(rng.uniform(70, 120)) * u)
    zenith, hor = jittered_colour(rng, pal.zenith, 8), jittered_colour(rng, pal.horizon, 8)
    lit, shadow = jittered_colour(rng, pal.cloud_lit, 5), jittered_colour(rng, pal.cloud_shadow, 8)

    def paint(rng: np.random.Generator, cv: Canvas):
        grad = np.clip((horizon - cv.Y) / max(horizon + 0.25 * H, 1.0), 0.0, 1.0) ** 0.6  # (h, 1)
        sky = mix(hor, zenith, np.broadcast_to(grad, cv.shape))
        d = canvas_noise(rng, cv, cell, persistence=0.55)
        # clouds thin out towards the horizon (perspective) a little
        thr = 1.6 * (0.5 - coverage) + 0.4 * (1.0 - grad)
        alpha = smoothstep(0.0, 0.9, d - thr)
        # lit from above: brighter where the (smoothed) density grows downwards, darker when thick
        soft = cv2.GaussianBlur(d, (0, 0), 3.0 * u)
        k = max(2, int(round(6 * u)))
        below = np.concatenate([soft[k:], np.repeat(soft[-1:], k, axis=0)])
        light = np.clip(0.7 + 0.9 * (below - soft) - 0.3 * np.clip(soft - thr - 0.8, 0, None), 0.0, 1.0)
        detail = canvas_noise(rng, cv, 7.0 * u)
        cloud = mix(shadow, lit, light) * (1.0 + 0.04 * detail[..., None])
        tex = mix(sky, cloud, alpha) + 1.2 * detail[..., None]
        return tex, (None if bottom is None else np.broadcast_to(bottom - cv.Y, cv.shape))

    return LayerSpec("sky", SKY, motion, paint)


def hills_layer(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette, ridge: Callable, colour, haze: float,
                bottom: Callable | None = None, name: str = "hills") -> LayerSpec:
    """Static hills/ground (others): field y - ridge(x), hazed towards the sky's horizon colour."""
    u = g.unit
    base = mix(jittered_colour(rng, colour, 12), jittered_colour(rng, pal.horizon, 5), np.float32(haze))
    tint = rng.uniform(-6, 6, 3).astype(np.float32)

    def paint(rng: np.random.Generator, cv: Canvas):
        n1, n2, n3 = (canvas_noise(rng, cv, 36 * u), canvas_noise(rng, cv, (14 * u, 6 * u)),
                      canvas_noise(rng, cv, 4 * u))
        top = ridge(cv.X)  # (1, w)
        shade = 1.0 - 0.08 * np.clip((cv.Y - top) / (24 * u), 0, 1)  # lit crest, slightly darker below
        tex = base * (shade * (1.0 + 0.10 * n1 + 0.07 * n2 + 0.06 * n3))[..., None] + n1[..., None] * tint
        fld = cv.Y - top
        if bottom is not None:
            fld = np.minimum(fld, bottom(cv.X) - cv.Y)
        return tex, fld

    return LayerSpec(name, OTHERS, Static(), paint)


def ground_layer(rng: np.random.Generator, g: ShotGeometry, top: Callable, colour, horizon: float,
                 haze_colour, name: str = "ground") -> LayerSpec:
    """Static foreground ground (others): patchy fields with furrows, fine texture everywhere."""
    u, H = g.unit, g.height
    base, tint = jittered_colour(rng, colour, 14), rng.uniform(-14, 14, 3).astype(np.float32)
    haze = np.asarray(haze_colour, np.float32)

    def paint(rng: np.random.Generator, cv: Canvas):
        n1, rows = canvas_noise(rng, cv, (30 * u, 90 * u)), canvas_noise(rng, cv, (3 * u, 40 * u))
        far, near = canvas_noise(rng, cv, (2.5, 6 * u)), canvas_noise(rng, cv, 12 * u, persistence=0.6)
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0)  # 0 far, 1 near
        detail = far + (near - far) * depth  # finer texture towards the horizon (perspective)
        tex = base * (1.0 + 0.16 * n1 + 0.07 * rows * (1.0 - depth) + 0.11 * detail)[..., None] + n1[..., None] * tint
        tex = mix(tex, haze, np.broadcast_to(0.3 * (1.0 - depth) ** 2, cv.shape))
        return tex, cv.Y - top(cv.X)

    return LayerSpec(name, OTHERS, Static(), paint)


def rocks_layer(rng: np.random.Generator, g: ShotGeometry, colour) -> LayerSpec:
    """Foreground rocks rising from one bottom corner (others)."""
    u, W, H = g.unit, g.width, g.height
    side = -0.05 * W if rng.random() < 0.5 else 1.05 * W
    reach, height = float(rng.uniform(0.2, 0.45)) * W, float(rng.uniform(0.12, 0.28)) * H
    edge = random_curve(rng, *g.x_range(), 10 * u)
    base = jittered_colour(rng, colour, 14)

    def profile(x):
        d = np.clip(np.abs(x - side) / reach, 0.0, 1.0)
        return np.sqrt(1.0 - d * d)

    def paint(rng: np.random.Generator, cv: Canvas):
        n1, n2, n3 = (canvas_noise(rng, cv, 16 * u), canvas_noise(rng, cv, 5 * u),
                      canvas_noise(rng, cv, (14 * u, 5 * u)))
        tex = base * (1.0 + 0.16 * n1 + 0.10 * n2 + 0.08 * n3)[..., None]
        top = H + 2.0 - height * profile(cv.X) + 3.0 * u * edge(cv.X)
        return tex, cv.Y - top

    return LayerSpec("rocks", OTHERS, Static(), paint)


def random_ripple(rng: np.random.Generator, g: ShotGeometry, top: float, drift: float, amp: tuple[float, float],
                  env_top: float = 0.35) -> Ripple:
    """Water whose surface starts at y = top: a drift (px/frame) and three travelling waves, amplitudes
    drawn from amp (px), scaled down where needed so that the map stays invertible."""
    u = g.unit
    waves, grad = [], 0.0
    for _ in range(3):
        wavelength = float(rng.uniform(14, 44)) * u
        angle = float(rng.uniform(-0.5, 0.5))  # wave vector mostly vertical: horizontal crests
        k = 2 * math.pi / wavelength
        ax = float(rng.uniform(*amp)) * u
        ay = 0.4 * ax
        waves.append([ax, ay, k * math.sin(angle), k * math.cos(angle), float(rng.uniform(0.1, 0.3)),
                      float(rng.uniform(0, 2 * math.pi))])
        grad += (ax + ay) * k
    scale = min(1.0, 0.3 / grad)  # displacement gradient <= 0.3: the map stays invertible
    waves = tuple((w[0] * scale, w[1] * scale, *w[2:]) for w in waves)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return Ripple(sign * drift * u, g.t_mid, waves, top, float(g.height), env_top, 1.0)


def random_sway(rng: np.random.Generator, g: ShotGeometry, base_y: float, height: float, amp: tuple[float, float],
                gust: tuple[float, float]) -> Sway:
    """Sway growing from 0 at base_y to an amplitude drawn from amp (px) at height above it, with a gust
    of wavelength drawn from gust (px) travelling in x."""
    u = g.unit
    return Sway(amp=float(rng.uniform(*amp)) * u, omega=float(rng.uniform(0.08, 0.25)),
                kappa=(1 if rng.random() < 0.5 else -1) * 2 * math.pi / (float(rng.uniform(*gust)) * u),
                phase=float(rng.uniform(0, 2 * math.pi)), flutter=float(rng.uniform(0.05, 0.15)) * u,
                f_kx=2 * math.pi / (float(rng.uniform(9, 16)) * u), f_ky=2 * math.pi / (float(rng.uniform(9, 16)) * u),
                f_omega=float(rng.uniform(0.6, 1.2)), f_phase=float(rng.uniform(0, 2 * math.pi)),
                base_y=float(base_y), height=float(max(height, 8.0)), power=1.5)


def grass_painter(g: ShotGeometry, top: Callable, horizon: float, colour, haze_colour) -> Painter:
    """Grass or hay below the ragged edge y = top(x): blade streaks, finer towards the horizon."""
    u, H = g.unit, g.height
    haze = np.asarray(haze_colour, np.float32)

    def paint(rng: np.random.Generator, cv: Canvas):
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0)  # (h, 1): 0 far, 1 near
        far = canvas_noise(rng, cv, (4 * u, 2.5))
        near = canvas_noise(rng, cv, (18 * u, 4 * u), persistence=0.6)
        blades = far + (near - far) * depth
        bands, patches = canvas_noise(rng, cv, (10 * u, 70 * u)), canvas_noise(rng, cv, 40 * u)
        light = 1.0 + 0.17 * blades + 0.09 * bands + 0.08 * patches - 0.12 * depth
        tex = colour * light[..., None]
        tex = tex + (blades * 8.0)[..., None] * np.array([1.0, 0.6, -0.4], np.float32)  # yellow tips, green shadows
        tex = mix(tex, haze, np.broadcast_to(0.25 * (1.0 - depth) ** 3, cv.shape))
        return tex, cv.Y - top(cv.X)

    return paint
