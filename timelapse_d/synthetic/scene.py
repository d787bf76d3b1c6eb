"""Scene planning and rendering of synthetic time-lapse shots with exact ground truth.

A shot is a stack of layers, back to front. Layer L has an RGB texture T_L and a mask field F_L
(inside where F_L > 0) precomputed on a canvas in its own texture coordinates, and a motion
phi_{L,t}(w) = w + D_{L,t}(w) from world to texture coordinates. The camera C_t maps frame pixels
to world coordinates (a similarity: identity, translation for a pan, scale about the centre for a
zoom). Frame t shows, at pixel p, T_L(phi_{L,t}(C_t(p))) for the front-most L whose mask is set
there. The backward flow of the pair (t, t+1) is solved analytically on frame t+1's grid:
phi_{L,t}(C_t(q)) = phi_{L,t+1}(C_{t+1}(p)) by fixed-point iteration, flow = q - p.

    >>> cfg = SyntheticConfig(width=64, height=48, min_shots=1, max_shots=1,
    ...                       min_shot_frames=3, max_shot_frames=3)
    >>> frames = list(render_frames(cfg, seed=1))
    >>> [f.flow is None for f in frames], frames[1].flow.shape
    ([True, False, False], (48, 64, 2))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import cv2
import numpy as np

from .noise import fractal_curve, fractal_noise, smoothstep

SEMANTICS: tuple[str, ...] = ("sky", "tree", "grass", "water", "waterfall", "others")
SKY, TREE, GRASS, WATER, WATERFALL, OTHERS = range(len(SEMANTICS))
CATEGORIES: tuple[str, ...] = ("cloud", "water", "waterfall", "hayfield", "tree")
CAMERA_MOTIONS: tuple[str, ...] = ("none", "pan", "zoom")

_CANVAS_MARGIN = 4  # texels of canvas beyond the furthest sample (bicubic needs 2)
_MAX_CANVAS = 32000  # OpenCV's remap takes images below SHRT_MAX on each side
_SOLVE_TOL = 1e-6  # px, residual of the flow fixed-point solve
_SOLVE_MAX_ITERS = 80
_TEXTURE_SIGMA = 0.6  # texels, Gaussian pre-filter of every texture canvas


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticConfig:
    width: int = 256  # even
    height: int = 192  # even
    fps: float = 12.0
    min_shots: int = 2
    max_shots: int = 3
    min_shot_frames: int = 24
    max_shot_frames: int = 40
    camera_motion_prob: float = 0.3
    categories: tuple[str, ...] = CATEGORIES

    def __post_init__(self) -> None:
        def integer(name: str, low: int) -> int:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"SyntheticConfig.{name} must be an integer >= {low}, got {value!r}")
            object.__setattr__(self, name, int(value))
            return int(value)

        for name in ("width", "height"):
            if integer(name, 32) % 2:
                raise ValueError(f"SyntheticConfig.{name} must be even (H.264), got {getattr(self, name)!r}")
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
                or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"SyntheticConfig.fps must be a finite number > 0, got {fps!r}")
        object.__setattr__(self, "fps", float(fps))
        integer("min_shots", 1)
        if integer("max_shots", 1) < self.min_shots:
            raise ValueError(f"SyntheticConfig.max_shots must be >= min_shots={self.min_shots}, got {self.max_shots!r}")
        integer("min_shot_frames", 2)
        if integer("max_shot_frames", 2) < self.min_shot_frames:
            raise ValueError(f"SyntheticConfig.max_shot_frames must be >= min_shot_frames={self.min_shot_frames}, "
                             f"got {self.max_shot_frames!r}")
        prob = self.camera_motion_prob
        if isinstance(prob, bool) or not isinstance(prob, (int, float, np.integer, np.floating)) \
                or not 0.0 <= prob <= 1.0:
            raise ValueError(f"SyntheticConfig.camera_motion_prob must be a number in [0, 1], got {prob!r}")
        object.__setattr__(self, "camera_motion_prob", float(prob))
        cats = self.categories
        if isinstance(cats, str) or not isinstance(cats, (tuple, list)) or not cats:
            raise ValueError(f"SyntheticConfig.categories must be a non-empty tuple of names from {CATEGORIES}, "
                             f"got {cats!r}")
        unknown = [c for c in cats if c not in CATEGORIES]
        if unknown or len(set(cats)) != len(cats):
            raise ValueError(f"SyntheticConfig.categories must hold distinct names from {CATEGORIES}, got {cats!r}")
        object.__setattr__(self, "categories", tuple(cats))


@dataclass(frozen=True)
class ShotGT:
    start: int  # first frame index (inclusive)
    end: int  # last frame index, exclusive
    category: str
    camera: str  # "none" | "pan" | "zoom"
    pan_px_per_frame: tuple[float, float]  # (dx, dy) image-content motion, (0, 0) unless pan
    zoom_per_frame: float  # image scale factor per frame (> 1 zooms in), 1.0 unless zoom


@dataclass(frozen=True, eq=False)
class FrameGT:
    index: int
    rgb: np.ndarray  # (H, W, 3) uint8
    semantics: np.ndarray  # (H, W) uint8 class ids into SEMANTICS
    flow: np.ndarray | None  # (H, W, 2) float32: I_t(p) = I_{t-1}(p + flow(p)); None for frame 0, NaN after a cut
    occlusion: np.ndarray | None  # (H, W) bool, same pairing as flow


@dataclass(frozen=True)
class _ShotPlan:
    gt: ShotGT
    scene_seed: int
    sky_palette: int


# ---------------------------------------------------------------------------------------------
# camera
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Camera:
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
        (cx, cy), s, (ox, oy) = self.centre, self.scale(t), self.offset(t)
        return cx + s * (px - cx) + ox, cy + s * (py - cy) + oy

    def to_frame(self, wx: np.ndarray, wy: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        (cx, cy), s, (ox, oy) = self.centre, self.scale(t), self.offset(t)
        return cx + (wx - ox - cx) / s, cy + (wy - oy - cy) / s

    def world_rect(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1): the world area any pixel centre of any frame of the shot maps to."""
        px = np.array([0.0, self.width - 1.0, 0.0, self.width - 1.0])
        py = np.array([0.0, 0.0, self.height - 1.0, self.height - 1.0])
        xs, ys = zip(*(self.to_world(px, py, t) for t in range(self.n_frames)))
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())


# ---------------------------------------------------------------------------------------------
# layer motions: D_{L,t}(w), world -> texture displacement; gradients kept well below 1
# ---------------------------------------------------------------------------------------------
Rect = tuple[float, float, float, float]


class _Static:
    static = True

    def displacement(self, x, y, t):
        return np.zeros_like(x), np.zeros_like(y)

    def bounds(self, rect: Rect, n: int) -> Rect:
        return 0.0, 0.0, 0.0, 0.0


@dataclass(frozen=True)
class _Drift:
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
class _Ripple:
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
class _Fall:
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
class _Sway:
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


# ---------------------------------------------------------------------------------------------
# layers and canvases
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Canvas:
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


Painter = Callable[[np.random.Generator, _Canvas], tuple[np.ndarray, "np.ndarray | None"]]


@dataclass
class _LayerSpec:
    name: str
    semantic: int
    motion: object
    paint: Painter  # -> texture (h, w, 3) float32 0..255, field (h, w) float32 (inside > 0) or None


@dataclass
class _Layer:
    name: str
    semantic: int
    motion: object
    canvas: _Canvas
    texture: np.ndarray  # (h, w, 3) float32
    field: np.ndarray | None  # (h, w) float32; None: everywhere inside

    def _maps(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mx, my = x - self.canvas.x0, y - self.canvas.y0
        if mx.size and (mx.min() < 0 or my.min() < 0 or mx.max() > self.canvas.w - 1 or my.max() > self.canvas.h - 1):
            raise AssertionError(f"layer {self.name}: sample outside its canvas ({mx.min():.1f}..{mx.max():.1f}, "
                                 f"{my.min():.1f}..{my.max():.1f}) of {self.canvas.w}x{self.canvas.h}")
        return mx, my

    def field_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.field is None:
            return np.ones(x.shape, np.float32)
        return _sample(self.field, *self._maps(x, y), cv2.INTER_LINEAR)

    def texture_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def _make_layer(rng: np.random.Generator, spec: _LayerSpec, rect: Rect, n_frames: int) -> _Layer:
    dx0, dx1, dy0, dy1 = spec.motion.bounds(rect, n_frames)
    x0 = math.floor(rect[0] + dx0) - _CANVAS_MARGIN
    y0 = math.floor(rect[2] + dy0) - _CANVAS_MARGIN
    w = math.ceil(rect[1] + dx1) + _CANVAS_MARGIN - x0 + 1
    h = math.ceil(rect[3] + dy1) + _CANVAS_MARGIN - y0 + 1
    if w > _MAX_CANVAS or h > _MAX_CANVAS:
        raise ValueError(f"layer {spec.name}: a {w}x{h} texture canvas is too large; use shorter shots "
                         f"(max_shot_frames) or smaller frames")
    canvas = _Canvas(float(x0), float(y0), w, h)
    texture, fld = spec.paint(rng, canvas)
    texture = np.ascontiguousarray(np.broadcast_to(texture, (h, w, 3)), np.float32)
    # pre-filter: no detail finer than about two texels, so bilinear re-sampling costs little
    texture = cv2.GaussianBlur(texture, (0, 0), _TEXTURE_SIGMA, borderType=cv2.BORDER_REPLICATE)
    if fld is not None:
        fld = np.ascontiguousarray(np.broadcast_to(fld, (h, w)), np.float32)
    return _Layer(spec.name, spec.semantic, spec.motion, canvas, texture, fld)


# ---------------------------------------------------------------------------------------------
# palettes and texture helpers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SkyPalette:
    name: str
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    cloud_lit: tuple[float, float, float]
    cloud_shadow: tuple[float, float, float]
    coverage: tuple[float, float]


_SKIES: tuple[_SkyPalette, ...] = (
    _SkyPalette("clear", (52, 104, 184), (170, 200, 228), (250, 250, 250), (148, 158, 182), (0.25, 0.5)),
    _SkyPalette("deep", (28, 74, 160), (126, 174, 222), (246, 247, 250), (126, 138, 168), (0.3, 0.6)),
    _SkyPalette("golden", (84, 112, 160), (236, 188, 128), (255, 226, 182), (132, 106, 116), (0.3, 0.6)),
    _SkyPalette("dusk", (46, 48, 98), (226, 136, 104), (246, 168, 136), (84, 64, 96), (0.35, 0.6)),
    _SkyPalette("overcast", (126, 134, 148), (186, 190, 196), (224, 224, 228), (108, 114, 128), (0.6, 0.85)),
)
_GROUNDS = {  # others: ground, rock, distant hills
    "meadow": (86, 112, 54), "dry": (150, 134, 84), "rock": (112, 106, 98), "earth": (112, 86, 62),
    "dark": (54, 66, 46), "slate": (88, 96, 110),
}
_GRASSES = ((200, 168, 88), (160, 160, 78), (96, 134, 52), (176, 146, 96), (120, 150, 60))
_FOLIAGE = ((44, 82, 34), (64, 100, 40), (92, 112, 50), (150, 108, 42), (36, 64, 40))
_WATERS = ((36, 70, 92), (30, 80, 84), (48, 66, 78), (40, 86, 110))


def _col(rng: np.random.Generator, base, jitter: float = 10.0) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-jitter, jitter, 3).astype(np.float32), 0, 255)


def _mix(a, b, t) -> np.ndarray:
    """a + (b - a) * t with colours a, b of shape (3,) or (..., 3) and weights t (...)."""
    return np.asarray(a, np.float32) + (np.asarray(b, np.float32) - np.asarray(a, np.float32)) * np.asarray(t, np.float32)[..., None]


def _curve(rng: np.random.Generator, lo: float, hi: float, cell: float, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """A fractal 1-D function of x on [lo, hi] (about unit std), linear between integer samples."""
    xs = np.arange(math.floor(lo) - 2, math.ceil(hi) + 3, dtype=np.float64)
    vals = fractal_curve(rng, xs.size, cell, **kwargs).astype(np.float64)
    return lambda x: np.interp(x, xs, vals).astype(np.float32)


def _noise(rng: np.random.Generator, canvas: _Canvas, cell, **kwargs) -> np.ndarray:
    return fractal_noise(rng, canvas.shape, cell, **kwargs)


@dataclass(frozen=True)
class _Geom:
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


# ---------------------------------------------------------------------------------------------
# shared layer makers
# ---------------------------------------------------------------------------------------------
def _sky_layer(rng: np.random.Generator, g: _Geom, pal: _SkyPalette, horizon: float, speed: tuple[float, float],
               bottom: float | None = None) -> _LayerSpec:
    """Drifting sky: gradient from horizon colour to zenith colour, fractal clouds."""
    u, H = g.unit, g.height
    sign = 1.0 if rng.random() < 0.5 else -1.0
    speed_h = float(rng.uniform(*speed)) * u
    extra = float(rng.uniform(0.3, 0.8)) * speed_h / max(horizon - g.rect[2], 8.0)  # faster higher up
    slope = min(extra, 0.3 / max(g.t_mid, 1.0))  # shear of the texture over the shot stays <= 0.3
    motion = _Drift(sign * speed_h, sign * slope, horizon, g.t_mid)
    coverage = float(rng.uniform(*pal.coverage))
    cell = (float(rng.uniform(28, 48)) * u, float(rng.uniform(70, 120)) * u)
    zenith, hor = _col(rng, pal.zenith, 8), _col(rng, pal.horizon, 8)
    lit, shadow = _col(rng, pal.cloud_lit, 5), _col(rng, pal.cloud_shadow, 8)

    def paint(rng: np.random.Generator, cv: _Canvas):
        grad = np.clip((horizon - cv.Y) / max(horizon + 0.25 * H, 1.0), 0.0, 1.0) ** 0.6  # (h, 1)
        sky = _mix(hor, zenith, np.broadcast_to(grad, cv.shape))
        d = _noise(rng, cv, cell, persistence=0.55)
        # clouds thin out towards the horizon (perspective) a little
        thr = 1.6 * (0.5 - coverage) + 0.4 * (1.0 - grad)
        alpha = smoothstep(0.0, 0.9, d - thr)
        # lit from above: brighter where the (smoothed) density grows downwards, darker when thick
        soft = cv2.GaussianBlur(d, (0, 0), 3.0 * u)
        k = max(2, int(round(6 * u)))
        below = np.concatenate([soft[k:], np.repeat(soft[-1:], k, axis=0)])
        light = np.clip(0.7 + 0.9 * (below - soft) - 0.3 * np.clip(soft - thr - 0.8, 0, None), 0.0, 1.0)
        detail = _noise(rng, cv, 7.0 * u)
        cloud = _mix(shadow, lit, light) * (1.0 + 0.04 * detail[..., None])
        tex = _mix(sky, cloud, alpha) + 1.2 * detail[..., None]
        return tex, (None if bottom is None else np.broadcast_to(bottom - cv.Y, cv.shape))

    return _LayerSpec("sky", SKY, motion, paint)


def _hills_layer(rng: np.random.Generator, g: _Geom, pal: _SkyPalette, ridge: Callable, colour, haze: float,
                 bottom: Callable | None = None, name: str = "hills") -> _LayerSpec:
    """Static hills/ground (others): field y - ridge(x), hazed towards the sky's horizon colour."""
    u = g.unit
    base = _mix(_col(rng, colour, 12), _col(rng, pal.horizon, 5), np.float32(haze))
    tint = rng.uniform(-6, 6, 3).astype(np.float32)

    def paint(rng: np.random.Generator, cv: _Canvas):
        n1, n2, n3 = _noise(rng, cv, 36 * u), _noise(rng, cv, (14 * u, 6 * u)), _noise(rng, cv, 4 * u)
        top = ridge(cv.X)  # (1, w)
        shade = 1.0 - 0.08 * np.clip((cv.Y - top) / (24 * u), 0, 1)  # lit crest, slightly darker below
        tex = base * (shade * (1.0 + 0.10 * n1 + 0.07 * n2 + 0.06 * n3))[..., None] + n1[..., None] * tint
        fld = cv.Y - top
        if bottom is not None:
            fld = np.minimum(fld, bottom(cv.X) - cv.Y)
        return tex, fld

    return _LayerSpec(name, OTHERS, _Static(), paint)


def _ground_layer(rng: np.random.Generator, g: _Geom, top: Callable, colour, horizon: float,
                  haze_colour, name: str = "ground") -> _LayerSpec:
    """Static foreground ground (others): patchy fields with furrows, fine texture everywhere."""
    u, H = g.unit, g.height
    base, tint = _col(rng, colour, 14), rng.uniform(-14, 14, 3).astype(np.float32)
    haze = np.asarray(haze_colour, np.float32)

    def paint(rng: np.random.Generator, cv: _Canvas):
        n1, rows = _noise(rng, cv, (30 * u, 90 * u)), _noise(rng, cv, (3 * u, 40 * u))
        far, near = _noise(rng, cv, (2.5, 6 * u)), _noise(rng, cv, 12 * u, persistence=0.6)
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0)  # 0 far, 1 near
        detail = far + (near - far) * depth  # finer texture towards the horizon (perspective)
        tex = base * (1.0 + 0.16 * n1 + 0.07 * rows * (1.0 - depth) + 0.11 * detail)[..., None] + n1[..., None] * tint
        tex = _mix(tex, haze, np.broadcast_to(0.3 * (1.0 - depth) ** 2, cv.shape))
        return tex, cv.Y - top(cv.X)

    return _LayerSpec(name, OTHERS, _Static(), paint)


def _rocks_layer(rng: np.random.Generator, g: _Geom, colour) -> _LayerSpec:
    """Foreground rocks rising from one bottom corner (others)."""
    u, W, H = g.unit, g.width, g.height
    side = -0.05 * W if rng.random() < 0.5 else 1.05 * W
    reach, height = float(rng.uniform(0.2, 0.45)) * W, float(rng.uniform(0.12, 0.28)) * H
    edge = _curve(rng, *g.x_range(), 10 * u)
    base = _col(rng, colour, 14)

    def profile(x):
        d = np.clip(np.abs(x - side) / reach, 0.0, 1.0)
        return np.sqrt(1.0 - d * d)

    def paint(rng: np.random.Generator, cv: _Canvas):
        n1, n2, n3 = _noise(rng, cv, 16 * u), _noise(rng, cv, 5 * u), _noise(rng, cv, (14 * u, 5 * u))
        tex = base * (1.0 + 0.16 * n1 + 0.10 * n2 + 0.08 * n3)[..., None]
        top = H + 2.0 - height * profile(cv.X) + 3.0 * u * edge(cv.X)
        return tex, cv.Y - top

    return _LayerSpec("rocks", OTHERS, _Static(), paint)


def _ripple(rng: np.random.Generator, g: _Geom, top: float, drift: float, amp: tuple[float, float],
            env_top: float = 0.35) -> _Ripple:
    u = g.unit
    waves, grad = [], 0.0
    for _ in range(3):
        wavelength = float(rng.uniform(14, 44)) * u
        angle = float(rng.uniform(-0.5, 0.5))  # wave vector mostly vertical: horizontal crests
        k = 2 * math.pi / wavelength
        ax = float(rng.uniform(*amp)) * u
        ay = 0.4 * ax
        waves.append([ax, ay, k * math.sin(angle), k * math.cos(angle), float(rng.uniform(0.25, 0.8)),
                      float(rng.uniform(0, 2 * math.pi))])
        grad += (ax + ay) * k
    scale = min(1.0, 0.3 / grad)  # displacement gradient <= 0.3: the map stays invertible
    waves = tuple((w[0] * scale, w[1] * scale, *w[2:]) for w in waves)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return _Ripple(sign * drift * u, g.t_mid, waves, top, float(g.height), env_top, 1.0)


def _sway(rng: np.random.Generator, g: _Geom, base_y: float, height: float, amp: tuple[float, float],
          gust: tuple[float, float]) -> _Sway:
    u = g.unit
    return _Sway(amp=float(rng.uniform(*amp)) * u, omega=float(rng.uniform(0.35, 0.9)),
                 kappa=(1 if rng.random() < 0.5 else -1) * 2 * math.pi / (float(rng.uniform(*gust)) * u),
                 phase=float(rng.uniform(0, 2 * math.pi)), flutter=float(rng.uniform(0.15, 0.35)) * u,
                 f_kx=2 * math.pi / (float(rng.uniform(9, 16)) * u), f_ky=2 * math.pi / (float(rng.uniform(9, 16)) * u),
                 f_omega=float(rng.uniform(0.6, 1.2)), f_phase=float(rng.uniform(0, 2 * math.pi)),
                 base_y=float(base_y), height=float(max(height, 8.0)), power=1.5)


# ---------------------------------------------------------------------------------------------
# categories: each returns its layers back to front
# ---------------------------------------------------------------------------------------------
def _build_cloud(rng: np.random.Generator, g: _Geom, pal: _SkyPalette) -> list[_LayerSpec]:
    """Big sky with drifting clouds over static hills and ground."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.58, 0.8)) * H
    lo, hi = g.x_range()
    far = _curve(rng, lo, hi, float(rng.uniform(0.3, 0.8)) * W)
    far_amp = float(rng.uniform(0.05, 0.2)) * H
    layers = [_sky_layer(rng, g, pal, horizon, (1.5, 4.5)),
              _hills_layer(rng, g, pal, lambda x: horizon - far_amp * np.clip(0.55 + 0.35 * far(x), 0.05, 1.3),
                           _GROUNDS["slate" if rng.random() < 0.5 else "rock"], haze=float(rng.uniform(0.3, 0.55)))]
    if rng.random() < 0.5:
        near = _curve(rng, lo, hi, float(rng.uniform(0.2, 0.5)) * W)
        near_amp = float(rng.uniform(0.03, 0.1)) * H
        layers.append(_hills_layer(rng, g, pal, lambda x: horizon - near_amp * np.clip(0.5 + 0.4 * near(x), 0.0, 1.3),
                                   _GROUNDS["dark"], haze=float(rng.uniform(0.1, 0.25)), name="near_hills"))
    edge = _curve(rng, lo, hi, 24 * u)
    colour = _GROUNDS[("meadow", "dry", "earth")[int(rng.integers(3))]]
    layers.append(_ground_layer(rng, g, lambda x: horizon + 1.5 * u * edge(x), colour, horizon, pal.horizon))
    return layers


def _build_water(rng: np.random.Generator, g: _Geom, pal: _SkyPalette) -> list[_LayerSpec]:
    """Sky, a rippling lake or sea, the far shore and, sometimes, foreground rocks."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.32, 0.55)) * H
    lo, hi = g.x_range()
    layers = [_sky_layer(rng, g, pal, horizon, (0.8, 3.0))]

    motion = _ripple(rng, g, horizon, float(rng.uniform(0.2, 1.0)), (0.4, 1.2))
    deep = _col(rng, _WATERS[int(rng.integers(len(_WATERS)))], 8)
    reflect = _mix(_col(rng, pal.horizon, 6), _col(rng, pal.zenith, 6), np.float32(0.35)) * 0.92

    def paint_water(rng: np.random.Generator, cv: _Canvas):
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0) ** 0.5  # (h, 1)
        base = _mix(reflect, deep, np.broadcast_to(depth, cv.shape))
        glint = _noise(rng, cv, (3 * u, 28 * u), persistence=0.6)
        waves = _noise(rng, cv, (9 * u, 44 * u))
        fine = _noise(rng, cv, (4 * u, 10 * u))
        tex = base * (1.0 + 0.10 * waves + 0.07 * glint + 0.05 * fine)[..., None]
        tex += (30.0 * np.clip(glint - 1.2, 0.0, None))[..., None]
        return tex, np.broadcast_to(cv.Y - (horizon - 3.0), cv.shape)

    layers.append(_LayerSpec("water", WATER, motion, paint_water))
    ridge = _curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
    shore = _curve(rng, lo, hi, 12 * u)
    amp = float(rng.uniform(0.03, 0.18)) * H
    colour = _GROUNDS[("rock", "earth", "slate", "dark")[int(rng.integers(4))]]
    layers.append(_hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3), colour,
                               haze=float(rng.uniform(0.2, 0.45)),
                               bottom=lambda x: horizon + (2.0 + 1.5 * np.abs(shore(x))) * u, name="shore"))
    if rng.random() < 0.5:
        layers.append(_rocks_layer(rng, g, _GROUNDS[("rock", "dark", "earth")[int(rng.integers(3))]]))
    return layers


def _build_waterfall(rng: np.random.Generator, g: _Geom, pal: _SkyPalette) -> list[_LayerSpec]:
    """A waterfall seen through an opening in a rock cliff, falling into a pool; sky above the cliff.

    Order: waterfall (full mask, at the back), sky (mask: above a line lower than the whole cliff
    top), cliff, pool, rocks. The waterfall's texture flows down but its visible outline is the
    static opening in the cliff, so nothing moves that should not.
    """
    u, W, H = g.unit, g.width, g.height
    lo, hi = g.x_range()
    top = float(rng.uniform(0.08, 0.2)) * H
    ridge_c = _curve(rng, lo, hi, float(rng.uniform(0.25, 0.6)) * W)
    ridge_amp = float(rng.uniform(0.04, 0.12)) * H

    def ridge(x):
        return top + ridge_amp * np.clip(0.5 + 0.4 * ridge_c(x), 0.0, 1.3)

    sky_bottom = float(ridge(np.arange(lo, hi)).max()) + 2.0
    lip = sky_bottom + float(rng.uniform(4, 0.08 * H + 5)) * u
    pool_top = float(rng.uniform(0.72, 0.86)) * H
    xc = float(rng.uniform(0.35, 0.65)) * W
    half = float(rng.uniform(0.06, 0.14)) * W
    ylo, yhi = g.rect[2] - 40, g.rect[3] + 40
    wiggle_c, width_c = _curve(rng, ylo, yhi, 14 * u), _curve(rng, ylo, yhi, 9 * u)

    def half_width(y):
        spread = 1.0 + 0.35 * np.clip((y - lip) / max(pool_top - lip, 1.0), 0.0, 1.0)  # widens lower down
        return half * spread + 2.0 * u * width_c(y)

    def centre(y):
        return xc + 3.0 * u * wiggle_c(y)

    fall = _Fall(speed=float(rng.uniform(4.0, 9.0)) * u, t_mid=g.t_mid, wobble=0.4 * u,
                 k=2 * math.pi / (float(rng.uniform(30, 60)) * u), omega=float(rng.uniform(0.3, 0.8)),
                 phase=float(rng.uniform(0, 2 * math.pi)))
    foam_dark, foam_light = _col(rng, (120, 140, 146), 8), _col(rng, (246, 248, 250), 3)

    def paint_fall(rng: np.random.Generator, cv: _Canvas):
        streaks = _noise(rng, cv, (40 * u, 3.0 * u), persistence=0.6)
        clumps = _noise(rng, cv, (12 * u, 6 * u))
        fine = _noise(rng, cv, 3.0 * u)
        bright = smoothstep(-1.6, 1.4, 0.75 * streaks + 0.45 * clumps + 0.2 * fine)
        return _mix(foam_dark, foam_light, bright), None

    layers = [_LayerSpec("waterfall", WATERFALL, fall, paint_fall),
              _sky_layer(rng, g, pal, sky_bottom, (0.8, 3.0), bottom=sky_bottom)]

    rock = _col(rng, _GROUNDS[("rock", "slate", "earth")[int(rng.integers(3))]], 12)
    moss = _col(rng, (70, 92, 48), 10)

    def paint_cliff(rng: np.random.Generator, cv: _Canvas):
        strata = _noise(rng, cv, (34 * u, 12 * u))
        blocks, fine = _noise(rng, cv, 10 * u), _noise(rng, cv, 3.5 * u)
        crack = smoothstep(0.3, 0.0, np.abs(_noise(rng, cv, (22 * u, 8 * u))))
        mossy = smoothstep(0.5, 1.3, _noise(rng, cv, 26 * u))
        wet = np.exp(-((cv.X - xc) / (2.2 * half)) ** 2) * (cv.Y > lip)
        tex = rock * ((1.0 + 0.15 * strata + 0.10 * blocks + 0.08 * fine) * (1.0 - 0.35 * crack) * (1.0 - 0.3 * wet))[..., None]
        tex = _mix(tex, moss, 0.55 * mossy)
        opening = np.maximum(np.abs(cv.X - centre(cv.Y)) - half_width(cv.Y), lip - cv.Y)  # > 0 outside the opening
        return tex, np.minimum(cv.Y - ridge(cv.X), opening)

    layers.append(_LayerSpec("cliff", OTHERS, _Static(), paint_cliff))

    pool = _ripple(rng, g, pool_top, 0.0, (0.6, 1.4), env_top=0.7)
    deep = _col(rng, _WATERS[int(rng.integers(len(_WATERS)))], 8)

    def paint_pool(rng: np.random.Generator, cv: _Canvas):
        depth = np.clip((cv.Y - pool_top) / max(H - pool_top, 1.0), 0.0, 1.0)
        base = _mix(deep * 1.25, deep, np.broadcast_to(depth, cv.shape))
        waves, fine = _noise(rng, cv, (6 * u, 30 * u)), _noise(rng, cv, (3 * u, 9 * u))
        foam_n = _noise(rng, cv, 8 * u)
        near_fall = np.exp(-((cv.X - xc) / (1.8 * half)) ** 2) * np.exp(-np.clip(cv.Y - pool_top, 0, None) / (0.12 * H))
        foam = np.clip(near_fall * (0.8 + 0.5 * foam_n), 0.0, 1.0)
        tex = base * (1.0 + 0.10 * waves + 0.06 * fine)[..., None]
        return _mix(tex, foam_light * 0.95, foam), np.broadcast_to(cv.Y - pool_top, cv.shape)

    layers.append(_LayerSpec("pool", WATER, pool, paint_pool))
    if rng.random() < 0.6:
        layers.append(_rocks_layer(rng, g, _GROUNDS[("rock", "dark", "earth")[int(rng.integers(3))]]))
    return layers


def _grass_painter(g: _Geom, top: Callable, horizon: float, colour, haze_colour) -> Painter:
    u, H = g.unit, g.height
    haze = np.asarray(haze_colour, np.float32)

    def paint(rng: np.random.Generator, cv: _Canvas):
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0)  # (h, 1): 0 far, 1 near
        far, near = _noise(rng, cv, (4 * u, 2.5)), _noise(rng, cv, (18 * u, 4 * u), persistence=0.6)
        blades = far + (near - far) * depth
        bands, patches = _noise(rng, cv, (10 * u, 70 * u)), _noise(rng, cv, 40 * u)
        light = 1.0 + 0.17 * blades + 0.09 * bands + 0.08 * patches - 0.12 * depth
        tex = colour * light[..., None]
        tex = tex + (blades * 8.0)[..., None] * np.array([1.0, 0.6, -0.4], np.float32)  # yellow tips, green shadows
        tex = _mix(tex, haze, np.broadcast_to(0.25 * (1.0 - depth) ** 3, cv.shape))
        return tex, cv.Y - top(cv.X)

    return paint


def _build_hayfield(rng: np.random.Generator, g: _Geom, pal: _SkyPalette) -> list[_LayerSpec]:
    """Sky over a large swaying grass/hay field, sometimes with distant hills at the horizon."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.28, 0.5)) * H
    lo, hi = g.x_range()
    layers = [_sky_layer(rng, g, pal, horizon, (0.8, 3.0))]
    if rng.random() < 0.6:
        ridge = _curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
        amp = float(rng.uniform(0.03, 0.12)) * H
        layers.append(_hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3),
                                   _GROUNDS[("dark", "slate")[int(rng.integers(2))]], haze=float(rng.uniform(0.3, 0.6))))
    base_y = g.rect[3] + 8.0
    motion = _sway(rng, g, base_y, base_y - horizon, (1.5, 3.5), (60, 160))
    tufts, rolls = _curve(rng, lo - 8, hi + 8, 3 * u), _curve(rng, lo - 8, hi + 8, 20 * u)
    colour = _col(rng, _GRASSES[int(rng.integers(len(_GRASSES)))], 10)

    def top(x):
        return horizon + 2.0 * u * tufts(x) + 2.0 * u * rolls(x)

    layers.append(_LayerSpec("field", GRASS, motion, _grass_painter(g, top, horizon, colour, pal.horizon)))
    return layers


def _build_tree(rng: np.random.Generator, g: _Geom, pal: _SkyPalette) -> list[_LayerSpec]:
    """Sky, distant hills, swaying trees with fractal crowns, a meadow and foreground ground."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.48, 0.62)) * H
    ground_y = float(rng.uniform(0.72, 0.85)) * H
    lo, hi = g.x_range()
    ridge = _curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
    amp = float(rng.uniform(0.05, 0.15)) * H
    layers = [_sky_layer(rng, g, pal, horizon, (0.8, 3.0)),
              _hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3),
                           _GROUNDS[("dark", "slate", "rock")[int(rng.integers(3))]], haze=float(rng.uniform(0.3, 0.55)))]

    n_trees = int(rng.integers(1, 5))
    trees = []
    for i in range(n_trees):
        x = W * (i + float(rng.uniform(0.2, 0.8))) / n_trees
        h = float(rng.uniform(0.45, 0.78)) * ground_y
        r = float(rng.uniform(0.24, 0.34)) * h
        cy = ground_y - h + r
        blobs = [(x, cy, 0.8 * r)] + [(x + float(rng.uniform(-0.55, 0.55)) * r, cy + float(rng.uniform(-0.4, 0.7)) * r,
                                       float(rng.uniform(0.45, 0.7)) * r) for _ in range(int(rng.integers(4, 9)))]
        trees.append(dict(x=x, h=h, r=r, cy=cy, blobs=blobs, trunk=max(2.5 * u, float(rng.uniform(0.04, 0.07)) * h),
                          lean=float(rng.uniform(-0.12, 0.12))))
    tallest = max(t["h"] for t in trees)
    motion = _sway(rng, g, ground_y, tallest, (1.5, 4.0), (150, 400))
    leaf, bark = _col(rng, _FOLIAGE[int(rng.integers(len(_FOLIAGE)))], 8), _col(rng, (82, 64, 50), 8)

    def paint_trees(rng: np.random.Generator, cv: _Canvas):
        X, Y = np.broadcast_to(cv.X, cv.shape), np.broadcast_to(cv.Y, cv.shape)
        rag, leafy = _noise(rng, cv, 9 * u), _noise(rng, cv, 3.5 * u)
        clusters, leaves = _noise(rng, cv, 12 * u), _noise(rng, cv, 4 * u)
        crown = np.full(cv.shape, -1e4, np.float32)
        trunk = np.full(cv.shape, -1e4, np.float32)
        light = np.zeros(cv.shape, np.float32)
        for t in trees:
            c = np.max([br - np.hypot(X - bx, Y - by) for bx, by, br in t["blobs"]], axis=0)
            c = c + np.minimum(t["r"] * (0.2 * rag + 0.06 * leafy), 0.25 * t["r"])  # ragged, no floating islands
            xt = t["x"] + t["lean"] * (ground_y - Y)
            k = np.minimum(np.minimum(0.5 * t["trunk"] - np.abs(X - xt), ground_y + 8 * u - Y), Y - t["cy"])
            light = np.where(c > crown, np.clip((t["cy"] - Y) / t["r"], -1, 1), light)  # lit from above
            crown, trunk = np.maximum(crown, c), np.maximum(trunk, k)
        shade = 1.0 + 0.20 * clusters + 0.12 * leaves + 0.15 * light
        shade *= 1.0 - 0.35 * smoothstep(0.7, 1.6, -leaves)  # dark gaps between leaf clusters
        tex = leaf * shade[..., None]
        bark_tex = bark * (1.0 + 0.12 * leaves + 0.1 * _noise(rng, cv, (12 * u, 2.5)))[..., None]
        tex = np.where((trunk > crown)[..., None], bark_tex, tex)
        return tex, np.maximum(crown, trunk)

    layers.append(_LayerSpec("trees", TREE, motion, paint_trees))
    tufts = _curve(rng, lo - 8, hi + 8, 3 * u)
    meadow_top = ground_y - float(rng.uniform(2, 6)) * u
    meadow = _sway(rng, g, g.rect[3] + 8.0, g.rect[3] + 8.0 - meadow_top, (0.8, 2.0), (60, 160))
    colour = _col(rng, _GRASSES[2 + int(rng.integers(3))], 10)
    layers.append(_LayerSpec("meadow", GRASS, meadow, _grass_painter(
        g, lambda x: meadow_top + 2.0 * u * tufts(x), horizon, colour, pal.horizon)))
    edge = _curve(rng, lo, hi, float(rng.uniform(40, 90)) * u)
    strip = float(rng.uniform(0.2, 0.4)) * (H - ground_y)  # leaves at least a third of the meadow visible
    layers.append(_ground_layer(rng, g, lambda x: H - strip * np.clip(1.0 + 0.6 * edge(x), 0.25, 1.6),
                                _GROUNDS[("earth", "dry", "rock")[int(rng.integers(3))]], horizon, pal.horizon,
                                name="path"))
    return layers


_BUILDERS: dict[str, Callable[[np.random.Generator, _Geom, _SkyPalette], list[_LayerSpec]]] = {
    "cloud": _build_cloud, "water": _build_water, "waterfall": _build_waterfall,
    "hayfield": _build_hayfield, "tree": _build_tree,
}
assert tuple(_BUILDERS) == CATEGORIES


# ---------------------------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------------------------
def _unit(config: SyntheticConfig) -> float:
    return min(config.width / 256.0, config.height / 192.0)


def _plan(config: SyntheticConfig, seed: int) -> list[_ShotPlan]:
    rng = np.random.default_rng(seed)
    unit = _unit(config)
    plans, start, prev_cat, prev_sky = [], 0, None, None
    for _ in range(int(rng.integers(config.min_shots, config.max_shots + 1))):
        n = int(rng.integers(config.min_shot_frames, config.max_shot_frames + 1))
        cats = [c for c in config.categories if c != prev_cat] or list(config.categories)
        category = cats[int(rng.integers(len(cats)))]
        skies = [k for k in range(len(_SKIES)) if k != prev_sky]
        sky = skies[int(rng.integers(len(skies)))]
        u_move, u_kind, u_dir, u_sx, u_sy, u_zoom = rng.random(6)
        sign_x, sign_y, zoom_in = (rng.random(3) < 0.5)
        scene_seed = int(rng.integers(0, 2**63 - 1))
        camera, pan, zoom = "none", (0.0, 0.0), 1.0
        if u_move < config.camera_motion_prob:
            steps = max(n - 1, 1)
            if u_kind < 0.6:
                camera = "pan"
                dx = min((0.6 + 2.4 * u_sx) * unit, 0.35 * config.width / steps) * (1 if sign_x else -1)
                dy = min((0.3 + 0.7 * u_sy) * unit, 0.2 * config.height / steps) * (1 if sign_y else -1)
                dx, dy = (dx, 0.0) if u_dir < 0.55 else (0.0, dy) if u_dir < 0.75 else (dx, dy)
                pan = (round(dx, 3), round(dy, 3))
            else:
                camera = "zoom"
                z = min(1.005 + 0.015 * u_zoom, 1.6 ** (1.0 / steps))  # at most 1.6x over the shot
                zoom = round(z if zoom_in else 1.0 / z, 6)
        gt = ShotGT(start, start + n, category, camera, (float(pan[0]), float(pan[1])), float(zoom))
        plans.append(_ShotPlan(gt, scene_seed, sky))
        start, prev_cat, prev_sky = start + n, category, sky
    return plans


def plan_shots(config: SyntheticConfig, seed: int) -> list[ShotGT]:
    """The shots of the video of (config, seed), without rendering anything."""
    return [p.gt for p in _plan(config, seed)]


# ---------------------------------------------------------------------------------------------
# rendering and ground truth
# ---------------------------------------------------------------------------------------------
@dataclass
class _Scene:
    camera: _Camera
    layers: list[_Layer]  # back to front; layers[0] has no mask
    semantic_of_layer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        assert self.layers and self.layers[0].field is None, "the back layer must cover everything"
        self.semantic_of_layer = np.array([layer.semantic for layer in self.layers], np.uint8)


def _build_scene(config: SyntheticConfig, plan: _ShotPlan) -> _Scene:
    shot = plan.gt
    n = shot.end - shot.start
    camera = _Camera(config.width, config.height, n, shot.pan_px_per_frame, shot.zoom_per_frame)
    rect = camera.world_rect()
    rng = np.random.default_rng(plan.scene_seed)
    geom = _Geom(config.width, config.height, _unit(config), rect, n)
    specs = _BUILDERS[shot.category](rng, geom, _SKIES[plan.sky_palette])
    return _Scene(camera, [_make_layer(rng, spec, rect, n) for spec in specs])


@dataclass
class _Rendered:
    rgb: np.ndarray  # (H, W, 3) uint8
    label: np.ndarray  # (H*W,) int8 layer index
    ux: np.ndarray  # (H*W,) float64 texture coords of each pixel in its layer
    uy: np.ndarray
    wx: np.ndarray  # (H*W,) float64 world coords of each pixel
    wy: np.ndarray


def _render(scene: _Scene, px: np.ndarray, py: np.ndarray, t: int, shape: tuple[int, int]) -> _Rendered:
    """Front-to-back: each layer is evaluated only on pixels no layer in front of it covers."""
    wx, wy = scene.camera.to_world(px, py, t)
    n = px.size
    label = np.full(n, -1, np.int8)
    ux, uy = np.empty(n), np.empty(n)
    rgb = np.empty((n, 3), np.float32)
    remaining = np.arange(n)
    for li in range(len(scene.layers) - 1, -1, -1):
        layer = scene.layers[li]
        x, y = wx[remaining], wy[remaining]
        dx, dy = layer.motion.displacement(x, y, t)
        lx, ly = x + dx, y + dy
        inside = layer.field_at(lx, ly) > 0
        sel = remaining[inside]
        label[sel], ux[sel], uy[sel] = li, lx[inside], ly[inside]
        rgb[sel] = layer.texture_at(lx[inside], ly[inside])
        remaining = remaining[~inside]
        if remaining.size == 0:
            break
    assert remaining.size == 0
    frame = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(*shape, 3)
    return _Rendered(frame, label, ux, uy, wx, wy)


def _solve(motion, ux: np.ndarray, uy: np.ndarray, t: int, x0: np.ndarray, y0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World w with w + D_t(w) = u, by fixed-point iteration w <- u - D_t(w) from (x0, y0)."""
    if motion.static:
        return ux.copy(), uy.copy()
    wx, wy = x0.copy(), y0.copy()
    active = np.arange(ux.size)
    for _ in range(_SOLVE_MAX_ITERS):
        ax, ay = wx[active], wy[active]
        dx, dy = motion.displacement(ax, ay, t)
        rx, ry = ax + dx - ux[active], ay + dy - uy[active]
        wx[active], wy[active] = ax - rx, ay - ry
        active = active[(np.abs(rx) > _SOLVE_TOL) | (np.abs(ry) > _SOLVE_TOL)]
        if active.size == 0:
            return wx, wy
    raise RuntimeError(f"flow solve did not converge for {active.size} pixels ({type(motion).__name__})")


def _flow(scene: _Scene, prev: _Rendered, cur: _Rendered, t: int, px: np.ndarray, py: np.ndarray,
          shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow and occlusion of the pair (t, t+1) on frame t+1's grid (cur is frame t+1)."""
    H, W = shape
    qx, qy = np.empty(px.size), np.empty(px.size)
    for li, layer in enumerate(scene.layers):
        sel = np.nonzero(cur.label == li)[0]
        if sel.size == 0:
            continue
        wx, wy = _solve(layer.motion, cur.ux[sel], cur.uy[sel], t, cur.wx[sel], cur.wy[sel])
        qx[sel], qy[sel] = scene.camera.to_frame(wx, wy, t)
    outside = (qx < 0) | (qx > W - 1) | (qy < 0) | (qy > H - 1)
    # the four pixels bilinear warping mixes at q must all show the same layer in frame t
    x0 = np.clip(np.floor(qx), 0, W - 2).astype(np.intp)
    y0 = np.clip(np.floor(qy), 0, H - 2).astype(np.intp)
    prev_label = prev.label.reshape(H, W)
    occluded = outside.copy()
    for oy in (0, 1):
        for ox in (0, 1):
            occluded |= prev_label[y0 + oy, x0 + ox] != cur.label
    flow = np.stack([qx - px, qy - py], axis=-1).astype(np.float32).reshape(H, W, 2)
    return flow, occluded.reshape(H, W)


def render_frames(config: SyntheticConfig, seed: int) -> Iterator[FrameGT]:
    """Stream the frames of the video of (config, seed) with their ground truth.

    Memory is one shot's layer canvases plus two frames. Deterministic: the same (config, seed)
    gives bit-identical frames and ground truth.
    """
    H, W = config.height, config.width
    py, px = np.mgrid[0:H, 0:W].astype(np.float64)
    px, py = px.ravel(), py.ravel()
    for plan in _plan(config, seed):
        scene = _build_scene(config, plan)
        prev = None
        for t in range(plan.gt.end - plan.gt.start):
            cur = _render(scene, px, py, t, (H, W))
            index = plan.gt.start + t
            if prev is not None:
                flow, occlusion = _flow(scene, prev, cur, t - 1, px, py, (H, W))
            elif index == 0:
                flow = occlusion = None
            else:  # first frame after a cut: the pair has no flow
                flow, occlusion = np.full((H, W, 2), np.nan, np.float32), np.ones((H, W), bool)
            yield FrameGT(index, cur.rgb, scene.semantic_of_layer[cur.label].reshape(H, W), flow, occlusion)
            prev = cur
