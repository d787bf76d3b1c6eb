"""The scene categories: each builder returns the layer specs of one shot, back to front."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .elements import (
    ShotGeometry,
    canvas_noise,
    grass_painter,
    ground_layer,
    hills_layer,
    random_curve,
    random_ripple,
    random_sway,
    rocks_layer,
    sky_layer,
)
from .layers import Canvas, LayerSpec
from .motion import Fall, Static
from .noise import smoothstep
from .palettes import FOLIAGE, GRASSES, GROUNDS, WATERS, SkyPalette, jittered_colour, mix
from .semantics import GRASS, OTHERS, TREE, WATER, WATERFALL


def _build_cloud(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette) -> list[LayerSpec]:
    """Big sky with drifting clouds over static hills and ground."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.58, 0.8)) * H
    lo, hi = g.x_range()
    far = random_curve(rng, lo, hi, float(rng.uniform(0.3, 0.8)) * W)
    far_amp = float(rng.uniform(0.05, 0.2)) * H
    layers = [sky_layer(rng, g, pal, horizon, (0.6, 1.6)),
              hills_layer(rng, g, pal, lambda x: horizon - far_amp * np.clip(0.55 + 0.35 * far(x), 0.05, 1.3),
                          GROUNDS["slate" if rng.random() < 0.5 else "rock"], haze=float(rng.uniform(0.3, 0.55)))]
    if rng.random() < 0.5:
        near = random_curve(rng, lo, hi, float(rng.uniform(0.2, 0.5)) * W)
        near_amp = float(rng.uniform(0.03, 0.1)) * H
        layers.append(hills_layer(rng, g, pal, lambda x: horizon - near_amp * np.clip(0.5 + 0.4 * near(x), 0.0, 1.3),
                                  GROUNDS["dark"], haze=float(rng.uniform(0.1, 0.25)), name="near_hills"))
    edge = random_curve(rng, lo, hi, 24 * u)
    colour = GROUNDS[("meadow", "dry", "earth")[int(rng.integers(3))]]
    layers.append(ground_layer(rng, g, lambda x: horizon + 1.5 * u * edge(x), colour, horizon, pal.horizon))
    return layers


def _build_water(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette) -> list[LayerSpec]:
    """Sky, a rippling lake or sea, the far shore and, sometimes, foreground rocks."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.32, 0.55)) * H
    lo, hi = g.x_range()
    layers = [sky_layer(rng, g, pal, horizon, (0.3, 1.0))]

    motion = random_ripple(rng, g, horizon, float(rng.uniform(0.2, 1.0)), (0.4, 1.2))
    deep = jittered_colour(rng, WATERS[int(rng.integers(len(WATERS)))], 8)
    reflect = mix(jittered_colour(rng, pal.horizon, 6), jittered_colour(rng, pal.zenith, 6), np.float32(0.35)) * 0.92

    def paint_water(rng: np.random.Generator, cv: Canvas):
        depth = np.clip((cv.Y - horizon) / max(H - horizon, 1.0), 0.0, 1.0) ** 0.5  # (h, 1)
        base = mix(reflect, deep, np.broadcast_to(depth, cv.shape))
        glint = canvas_noise(rng, cv, (3 * u, 28 * u), persistence=0.6)
        waves = canvas_noise(rng, cv, (9 * u, 44 * u))
        fine = canvas_noise(rng, cv, (4 * u, 10 * u))
        tex = base * (1.0 + 0.10 * waves + 0.07 * glint + 0.05 * fine)[..., None]
        tex += (30.0 * np.clip(glint - 1.2, 0.0, None))[..., None]
        return tex, np.broadcast_to(cv.Y - (horizon - 3.0), cv.shape)

    layers.append(LayerSpec("water", WATER, motion, paint_water))
    ridge = random_curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
    shore = random_curve(rng, lo, hi, 12 * u)
    amp = float(rng.uniform(0.03, 0.18)) * H
    colour = GROUNDS[("rock", "earth", "slate", "dark")[int(rng.integers(4))]]
    layers.append(hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3), colour,
                              haze=float(rng.uniform(0.2, 0.45)),
                              bottom=lambda x: horizon + (2.0 + 1.5 * np.abs(shore(x))) * u, name="shore"))
    if rng.random() < 0.5:
        layers.append(rocks_layer(rng, g, GROUNDS[("rock", "dark", "earth")[int(rng.integers(3))]]))
    return layers


def _build_waterfall(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette) -> list[LayerSpec]:
    """A waterfall seen through an opening in a rock cliff, falling into a pool; sky above the cliff.

    Order: waterfall (full mask, at the back), sky (mask: above a line lower than the whole cliff
    top), cliff, pool, rocks. The waterfall's texture flows down but its visible outline is the
    static opening in the cliff, so nothing moves that should not.
    """
    u, W, H = g.unit, g.width, g.height
    lo, hi = g.x_range()
    top = float(rng.uniform(0.08, 0.2)) * H
    ridge_c = random_curve(rng, lo, hi, float(rng.uniform(0.25, 0.6)) * W)
    ridge_amp = float(rng.uniform(0.04, 0.12)) * H

    def ridge(x):
        return top + ridge_amp * np.clip(0.5 + 0.4 * ridge_c(x), 0.0, 1.3)

    sky_bottom = float(ridge(np.arange(lo, hi)).max()) + 2.0
    lip = sky_bottom + float(rng.uniform(4, 0.08 * H + 5)) * u
    pool_top = float(rng.uniform(0.72, 0.86)) * H
    xc = float(rng.uniform(0.35, 0.65)) * W
    half = float(rng.uniform(0.06, 0.14)) * W
    ylo, yhi = g.rect[2] - 40, g.rect[3] + 40
    wiggle_c, width_c = random_curve(rng, ylo, yhi, 14 * u), random_curve(rng, ylo, yhi, 9 * u)

    def half_width(y):
        spread = 1.0 + 0.35 * np.clip((y - lip) / max(pool_top - lip, 1.0), 0.0, 1.0)  # widens lower down
        return half * spread + 2.0 * u * width_c(y)

    def centre(y):
        return xc + 3.0 * u * wiggle_c(y)

    fall = Fall(speed=float(rng.uniform(1.0, 2.5)) * u, t_mid=g.t_mid, wobble=0.4 * u,
                k=2 * math.pi / (float(rng.uniform(30, 60)) * u), omega=float(rng.uniform(0.3, 0.8)),
                phase=float(rng.uniform(0, 2 * math.pi)))
    foam_dark, foam_light = jittered_colour(rng, (120, 140, 146), 8), jittered_colour(rng, (246, 248, 250), 3)

    def paint_fall(rng: np.random.Generator, cv: Canvas):
        streaks = canvas_noise(rng, cv, (40 * u, 3.0 * u), persistence=0.6)
        clumps = canvas_noise(rng, cv, (12 * u, 6 * u))
        fine = canvas_noise(rng, cv, 3.0 * u)
        bright = smoothstep(-1.6, 1.4, 0.75 * streaks + 0.45 * clumps + 0.2 * fine)
        return mix(foam_dark, foam_light, bright), None

    layers = [LayerSpec("waterfall", WATERFALL, fall, paint_fall),
              sky_layer(rng, g, pal, sky_bottom, (0.3, 1.0), bottom=sky_bottom)]

    rock = jittered_colour(rng, GROUNDS[("rock", "slate", "earth")[int(rng.integers(3))]], 12)
    moss = jittered_colour(rng, (70, 92, 48), 10)

    def paint_cliff(rng: np.random.Generator, cv: Canvas):
        strata = canvas_noise(rng, cv, (34 * u, 12 * u))
        blocks, fine = canvas_noise(rng, cv, 10 * u), canvas_noise(rng, cv, 3.5 * u)
        crack = smoothstep(0.3, 0.0, np.abs(canvas_noise(rng, cv, (22 * u, 8 * u))))
        mossy = smoothstep(0.5, 1.3, canvas_noise(rng, cv, 26 * u))
        wet = np.exp(-((cv.X - xc) / (2.2 * half)) ** 2) * (cv.Y > lip)
        tex = rock * ((1.0 + 0.15 * strata + 0.10 * blocks + 0.08 * fine) * (1.0 - 0.35 * crack) * (1.0 - 0.3 * wet))[..., None]
        tex = mix(tex, moss, 0.55 * mossy)
        opening = np.maximum(np.abs(cv.X - centre(cv.Y)) - half_width(cv.Y), lip - cv.Y)  # > 0 outside the opening
        return tex, np.minimum(cv.Y - ridge(cv.X), opening)

    layers.append(LayerSpec("cliff", OTHERS, Static(), paint_cliff))

    pool = random_ripple(rng, g, pool_top, 0.0, (0.6, 1.4), env_top=0.7)
    deep = jittered_colour(rng, WATERS[int(rng.integers(len(WATERS)))], 8)

    def paint_pool(rng: np.random.Generator, cv: Canvas):
        depth = np.clip((cv.Y - pool_top) / max(H - pool_top, 1.0), 0.0, 1.0)
        base = mix(deep * 1.25, deep, np.broadcast_to(depth, cv.shape))
        waves, fine = canvas_noise(rng, cv, (6 * u, 30 * u)), canvas_noise(rng, cv, (3 * u, 9 * u))
        foam_n = canvas_noise(rng, cv, 8 * u)
        near_fall = np.exp(-((cv.X - xc) / (1.8 * half)) ** 2) * np.exp(-np.clip(cv.Y - pool_top, 0, None) / (0.12 * H))
        foam = np.clip(near_fall * (0.8 + 0.5 * foam_n), 0.0, 1.0)
        tex = base * (1.0 + 0.10 * waves + 0.06 * fine)[..., None]
        return mix(tex, foam_light * 0.95, foam), np.broadcast_to(cv.Y - pool_top, cv.shape)

    layers.append(LayerSpec("pool", WATER, pool, paint_pool))
    if rng.random() < 0.6:
        layers.append(rocks_layer(rng, g, GROUNDS[("rock", "dark", "earth")[int(rng.integers(3))]]))
    return layers


def _build_hayfield(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette) -> list[LayerSpec]:
    """Sky over a large swaying grass/hay field, sometimes with distant hills at the horizon."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.28, 0.5)) * H
    lo, hi = g.x_range()
    layers = [sky_layer(rng, g, pal, horizon, (0.3, 1.0))]
    if rng.random() < 0.6:
        ridge = random_curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
        amp = float(rng.uniform(0.03, 0.12)) * H
        layers.append(hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3),
                                  GROUNDS[("dark", "slate")[int(rng.integers(2))]], haze=float(rng.uniform(0.3, 0.6))))
    base_y = g.rect[3] + 8.0
    motion = random_sway(rng, g, base_y, base_y - horizon, (5.0, 10.0), (400, 900))
    tufts, rolls = random_curve(rng, lo - 8, hi + 8, 3 * u), random_curve(rng, lo - 8, hi + 8, 20 * u)
    colour = jittered_colour(rng, GRASSES[int(rng.integers(len(GRASSES)))], 10)

    def top(x):
        return horizon + 2.0 * u * tufts(x) + 2.0 * u * rolls(x)

    layers.append(LayerSpec("field", GRASS, motion, grass_painter(g, top, horizon, colour, pal.horizon)))
    return layers


def _build_tree(rng: np.random.Generator, g: ShotGeometry, pal: SkyPalette) -> list[LayerSpec]:
    """Sky, distant hills, swaying trees with fractal crowns, a meadow and foreground ground."""
    u, W, H = g.unit, g.width, g.height
    horizon = float(rng.uniform(0.48, 0.62)) * H
    ground_y = float(rng.uniform(0.72, 0.85)) * H
    lo, hi = g.x_range()
    ridge = random_curve(rng, lo, hi, float(rng.uniform(0.2, 0.6)) * W)
    amp = float(rng.uniform(0.05, 0.15)) * H
    layers = [sky_layer(rng, g, pal, horizon, (0.3, 1.0)),
              hills_layer(rng, g, pal, lambda x: horizon - amp * np.clip(0.5 + 0.4 * ridge(x), 0.05, 1.3),
                          GROUNDS[("dark", "slate", "rock")[int(rng.integers(3))]], haze=float(rng.uniform(0.3, 0.55)))]

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
    motion = random_sway(rng, g, ground_y, tallest, (5.0, 12.0), (500, 1200))
    leaf = jittered_colour(rng, FOLIAGE[int(rng.integers(len(FOLIAGE)))], 8)
    bark = jittered_colour(rng, (82, 64, 50), 8)

    def paint_trees(rng: np.random.Generator, cv: Canvas):
        X, Y = np.broadcast_to(cv.X, cv.shape), np.broadcast_to(cv.Y, cv.shape)
        rag, leafy = canvas_noise(rng, cv, 9 * u), canvas_noise(rng, cv, 3.5 * u)
        clusters, leaves = canvas_noise(rng, cv, 12 * u), canvas_noise(rng, cv, 4 * u)
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
        bark_tex = bark * (1.0 + 0.12 * leaves + 0.1 * canvas_noise(rng, cv, (12 * u, 2.5)))[..., None]
        tex = np.where((trunk > crown)[..., None], bark_tex, tex)
        return tex, np.maximum(crown, trunk)

    layers.append(LayerSpec("trees", TREE, motion, paint_trees))
    tufts = random_curve(rng, lo - 8, hi + 8, 3 * u)
    meadow_top = ground_y - float(rng.uniform(2, 6)) * u
    meadow = random_sway(rng, g, g.rect[3] + 8.0, g.rect[3] + 8.0 - meadow_top, (3.0, 6.0), (400, 900))
    colour = jittered_colour(rng, GRASSES[2 + int(rng.integers(3))], 10)
    layers.append(LayerSpec("meadow", GRASS, meadow, grass_painter(
        g, lambda x: meadow_top + 2.0 * u * tufts(x), horizon, colour, pal.horizon)))
    edge = random_curve(rng, lo, hi, float(rng.uniform(40, 90)) * u)
    strip = float(rng.uniform(0.2, 0.4)) * (H - ground_y)  # leaves at least a third of the meadow visible
    layers.append(ground_layer(rng, g, lambda x: H - strip * np.clip(1.0 + 0.6 * edge(x), 0.25, 1.6),
                               GROUNDS[("earth", "dry", "rock")[int(rng.integers(3))]], horizon, pal.horizon,
                               name="path"))
    return layers


BUILDERS: dict[str, Callable[[np.random.Generator, ShotGeometry, SkyPalette], list[LayerSpec]]] = {
    "cloud": _build_cloud, "water": _build_water, "waterfall": _build_waterfall,
    "hayfield": _build_hayfield, "tree": _build_tree,
}
CATEGORIES: tuple[str, ...] = tuple(BUILDERS)
