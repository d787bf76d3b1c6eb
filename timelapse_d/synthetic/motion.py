"""Layer motions: phi_{L,t}(w) = w + D_{L,t}(w) maps world to texture coordinates.

Each motion has ``displacement(x, y, t)``: D_{L,t} at world points x, y (float arrays of one
shape, e.g. (n,)) -> (dx, dy) of that shape; and ``bounds(rect, n)``: (dx0, dx1, dy0, dy1), the
range of D over the world area rect and frames 0..n-1, which sizes the layer's canvas.
Displacement gradients are kept well below 1, so phi stays invertible and the flow solve converges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import Rect


class Static:
    """Ground, hills, rocks: no displacement."""

    static = True

    def displacement(self, x, y, t):
        return np.zeros_like(x), np.zeros_like(y)

    def bounds(self, rect: Rect, n: int) -> Rect:
        return 0.0, 0.0, 0.0, 0.0


@dataclass(frozen=True)
class Drift:
    """Horizontal drift (sky): content moves at velocity(y) px/frame, faster higher up."""

    speed: float  # signed px/frame at y_ref, + moves content right
    slope: float  # extra px/frame per px above y_ref, same sign as speed
    y_ref: float
    t_mid: float
    static = False

    def velocity(self, y):
        v = self.speed + self.slope * (self.y_ref - y)
        floor = 0.25 * self.speed
        return np.maximum(v, floor) if self.speed >= 0 else np.minimum(v, floor)

    def displacement(self, x, y, t):
        return -self.velocity(y) * (t - self.t_mid), np.zeros_like(y)

    def bounds(self, rect: Rect, n: int) -> Rect:
        ds = [-float(self.velocity(np.float64(y))) * tau for y in rect[2:] for tau in (-self.t_mid, n - 1 - self.t_mid)]
        return min(ds), max(ds), 0.0, 0.0


@dataclass(frozen=True)
class Ripple:
    """Water: slow horizontal drift plus travelling sinusoidal ripples, stronger near the camera."""

    drift: float  # signed px/frame
    t_mid: float
    waves: tuple[tuple[float, float, float, float, float, float], ...]  # (ax, ay, kx, ky, omega, phase)
    y_top: float
    y_bottom: float
    env_top: float
    env_bottom: float
    static = False

    def envelope(self, y):
        a = np.clip((y - self.y_top) / (self.y_bottom - self.y_top), 0.0, 1.0)
        return self.env_top + (self.env_bottom - self.env_top) * a

    def displacement(self, x, y, t):
        sx, sy = np.zeros_like(x), np.zeros_like(y)
        for ax, ay, kx, ky, omega, phase in self.waves:
            arg = kx * x + ky * y - omega * t + phase
            sx += ax * np.sin(arg)
            sy += ay * np.cos(arg)
        env = self.envelope(y)
        return env * sx - self.drift * (t - self.t_mid), env * sy

    def bounds(self, rect: Rect, n: int) -> Rect:
        env = max(self.env_top, self.env_bottom)
        bx = env * sum(abs(w[0]) for w in self.waves) + abs(self.drift) * max(self.t_mid, n - 1 - self.t_mid)
        by = env * sum(abs(w[1]) for w in self.waves)
        return -bx, bx, -by, by


@dataclass(frozen=True)
class Fall:
    """Waterfall: fast downward flow with a slight sideways wobble."""

    speed: float  # px/frame, downwards
    t_mid: float
    wobble: float
    k: float
    omega: float
    phase: float
    static = False

    def displacement(self, x, y, t):
        return self.wobble * np.sin(self.k * y + self.omega * t + self.phase), np.full_like(y, -self.speed * (t - self.t_mid))

    def bounds(self, rect: Rect, n: int) -> Rect:
        by = self.speed * max(self.t_mid, n - 1 - self.t_mid)
        return -self.wobble, self.wobble, -by, by


@dataclass(frozen=True)
class Sway:
    """Trees and grass: horizontal sway growing with height above base_y, a gust travelling in x,
    plus a small leaf flutter."""

    amp: float
    omega: float
    kappa: float
    phase: float
    flutter: float
    f_kx: float
    f_ky: float
    f_omega: float
    f_phase: float
    base_y: float
    height: float
    power: float  # >= 1 keeps the envelope's gradient bounded at the base
    static = False

    def displacement(self, x, y, t):
        env = np.clip((self.base_y - y) / self.height, 0.0, 1.0) ** self.power
        f_arg = self.f_omega * t + self.f_kx * x + self.f_ky * y + self.f_phase
        dx = env * (self.amp * np.sin(self.omega * t + self.kappa * x + self.phase) + self.flutter * np.sin(f_arg))
        return dx, env * (0.5 * self.flutter) * np.cos(f_arg)

    def bounds(self, rect: Rect, n: int) -> Rect:
        bx, by = self.amp + self.flutter, 0.5 * self.flutter
        return -bx, bx, -by, by


Motion = Static | Drift | Ripple | Fall | Sway
