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
from typing import Iterator

import numpy as np

from .camera import Camera
from .categories import BUILDERS, CATEGORIES
from .elements import ShotGeometry
from .layers import Layer, make_layer
from .motion import Motion
from .palettes import SKIES

CAMERA_MOTIONS: tuple[str, ...] = ("none", "pan", "zoom")

_SOLVE_TOL = 1e-6  # px, residual of the flow fixed-point solve
_SOLVE_MAX_ITERS = 80


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
    sky_palette: int  # index into SKIES


def _unit(config: SyntheticConfig) -> float:
    """1.0 at 256x192: spatial scales and speeds are multiplied by it."""
    return min(config.width / 256.0, config.height / 192.0)


def _plan(config: SyntheticConfig, seed: int) -> list[_ShotPlan]:
    rng = np.random.default_rng(seed)
    unit = _unit(config)
    plans, start, prev_cat, prev_sky = [], 0, None, None
    for _ in range(int(rng.integers(config.min_shots, config.max_shots + 1))):
        n = int(rng.integers(config.min_shot_frames, config.max_shot_frames + 1))
        cats = [c for c in config.categories if c != prev_cat] or list(config.categories)
        category = cats[int(rng.integers(len(cats)))]
        skies = [k for k in range(len(SKIES)) if k != prev_sky]
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


@dataclass
class _Scene:
    camera: Camera
    layers: list[Layer]  # back to front; layers[0] has no mask
    semantic_of_layer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        assert self.layers and self.layers[0].field is None, "the back layer must cover everything"
        self.semantic_of_layer = np.array([layer.semantic for layer in self.layers], np.uint8)


def _build_scene(config: SyntheticConfig, plan: _ShotPlan) -> _Scene:
    shot = plan.gt
    n = shot.end - shot.start
    camera = Camera(config.width, config.height, n, shot.pan_px_per_frame, shot.zoom_per_frame)
    rect = camera.world_rect()
    rng = np.random.default_rng(plan.scene_seed)
    geom = ShotGeometry(config.width, config.height, _unit(config), rect, n)
    specs = BUILDERS[shot.category](rng, geom, SKIES[plan.sky_palette])
    return _Scene(camera, [make_layer(rng, spec, rect, n) for spec in specs])


@dataclass
class _Rendered:
    rgb: np.ndarray  # (H, W, 3) uint8
    label: np.ndarray  # (H*W,) int8 layer index
    ux: np.ndarray  # (H*W,) float64 texture coords of each pixel in its layer
    uy: np.ndarray
    wx: np.ndarray  # (H*W,) float64 world coords of each pixel
    wy: np.ndarray


def _render(scene: _Scene, px: np.ndarray, py: np.ndarray, t: int, shape: tuple[int, int]) -> _Rendered:
    """Frame t at pixels px, py ((H*W,) float64 each, shape = (H, W)), front to back: each layer is
    evaluated only on pixels no layer in front of it covers."""
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


def _solve(motion: Motion, ux: np.ndarray, uy: np.ndarray, t: int, x0: np.ndarray,
           y0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World w with w + D_t(w) = u, by fixed-point iteration w <- u - D_t(w) from (x0, y0); all (n,) float64."""
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
