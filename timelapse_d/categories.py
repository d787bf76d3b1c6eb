"""What a clip shows: a score for each of the paper's 13 categories, from the clip's own content.

Per sampled frame pair of the clip (``camera_motion.ANALYSIS_WIDTH`` wide), ``pair_content`` takes
the six-group map of the first frame (the configured segmenter; ``oracle`` for synthetic video),
the flow left after removing the camera's motion, and the first frame in colour. It measures:

- for each group, its share of the frame and how much it moves there (75th percentile of the
  residual flow, px per frame): a moving group is what a category is about (drifting sky: cloud;
  swaying trees: tree; waving grass: hayfield; rippling water: water; a falling waterfall);
- colour statistics for what the six groups do not separate: a dark sky (night) with small bright
  points (star), a bright compact disc (moon at night, sun by day) or green light (aurora); flame
  colours below the sky in a dim frame (fire); a bright, grey, low-contrast frame (fog).

``clip_category_scores`` takes the median of each measure over the clip's pairs and gives every
category a score in [0, 1]: a moving group's share of the frame, weighted (``GROUP_WEIGHTS``: sky is
in nearly every landscape and trees are thin, so the sky counts less and trees more; calibrated on
the synthetic source's seeds 5 and 6), and the colour scores (at most ``COLOUR_WEIGHT``: clues,
not measurements; the night-sky ones and the sun only where the sky moves, so a title card's white
letters on black are not stars). The source's tags add ``TAG_PRIOR``: a prior, not the answer. Smoke and traffic get no score from content (nothing
here tells them apart): only their tags can name them. Without a segmenter there are no group
maps: only the colour categories and the tags speak.

    >>> content = {"share": {"sky": 0.4, "water": 0.5}, "motion": {"sky": 0.6, "water": 0.5},
    ...            "colour": dict.fromkeys(COLOUR_KEYS, 0.0)}
    >>> scores = clip_category_scores([content], tags=["water", "timelapse"])
    >>> top_categories(scores)
    ['water']
"""
from __future__ import annotations

import numpy as np

CATEGORIES = ("cloud", "star", "water", "waterfall", "hayfield", "traffic", "smoke", "tree", "sun", "moon",
              "aurora", "fire", "fog")  # the paper's 13 categories
GROUP_CATEGORY = {"sky": "cloud", "tree": "tree", "grass": "hayfield", "water": "water", "waterfall": "waterfall"}
GROUP_WEIGHTS = {"sky": 0.3, "tree": 6.0, "grass": 0.8, "water": 0.8, "waterfall": 2.0}  # calibrated (above)
FULL_MOTION_PX = 0.2  # residual motion (75th percentile, px / frame) from which a group fully moves
COLOUR_WEIGHT = 0.5  # colour categories are clues, not measurements: at most half a score
TAG_PRIOR = 0.05  # added to the score of each category the source's tags name
MIN_SCORE = 0.05  # a category below this is not in a clip's list
COLOUR_KEYS = ("night", "points", "disc", "green", "fire", "fog")  # colour_measures' keys
NIGHT_LUMA = 50  # a sky (or the top third of the frame) darker than this on average is night


def pair_content(groups: np.ndarray | None, residual: np.ndarray, colour: np.ndarray, sky: np.ndarray | None) -> dict:
    """The measures of one frame pair: ``groups`` (gh, gw) uint8 group ids at the flow grid's points
    and ``residual`` (gh, gw) the flow left there after the camera's motion (px / frame), or None
    without a segmenter; ``colour`` (h, w, 3) uint8 RGB of the first frame and ``sky`` (h, w) bool."""
    from timelapse_d.segmentation import GROUPS

    share, motion = {}, {}
    if groups is not None:
        for index, name in enumerate(GROUPS):
            inside = groups == index
            share[name] = float(inside.mean())
            motion[name] = float(np.percentile(residual[inside], 75)) if inside.sum() >= 3 else 0.0
    else:  # no map: the top third of the grid stands for the sky, for whether it moves
        motion["sky"] = float(np.percentile(residual[: max(1, residual.shape[0] // 3)], 75))
    return {"share": share, "motion": motion, "colour": colour_measures(colour, sky)}


def colour_measures(colour: np.ndarray, sky: np.ndarray | None) -> dict:
    """Night, small bright points, a bright compact disc, green light in the sky (``sky`` (h, w) bool;
    None or empty: the top third of the frame stands for it); flame colours below it in a dim frame
    (fire); a bright, grey, flat frame (fog). Deliberately strict: a golden sky or autumn leaves
    must not read as sun or fire."""
    import cv2

    rgb = colour.astype(np.float32)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # (h, w)
    if sky is None or not sky.any():
        sky = np.zeros(luma.shape, bool)
        sky[: max(1, luma.shape[0] // 3)] = True
    points = (luma - cv2.GaussianBlur(luma, (0, 0), 2.0)) > 40  # small bright points
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mean = luma.mean()
    dim, flat = mean < 100, luma.std() < 25 and mean > 110  # fire and fog are looked for only then
    return {"night": float(luma[sky].mean() < NIGHT_LUMA),
            "points": float(points[sky].mean()),
            "disc": float(_compact_disc((luma >= 250) & sky) and np.median(luma[sky]) <= 180),
            "green": float(((green > red + 30) & (green > blue) & (luma > 60))[sky].mean()),
            "fire": _flame_share(red, green, blue, sky) if dim else 0.0,
            "fog": float(flat and _mean_saturation(red, green, blue) < 0.15)}


def _flame_share(red: np.ndarray, green: np.ndarray, blue: np.ndarray, sky: np.ndarray) -> float:
    """The share of the frame's pixels that lie outside the sky in flame colours (bright red to orange, little blue)."""
    return float(((red >= 220) & (green >= 60) & (green <= 190) & (blue <= 90) & ~sky).mean())


def _mean_saturation(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> float:
    """HSV's saturation, (max - min) / max of the channels, averaged over the frame."""
    high, low = np.maximum(np.maximum(red, green), blue), np.minimum(np.minimum(red, green), blue)
    return float(((high - low) / np.maximum(high, 1)).mean())  # (max over the last axis is 20x slower)


def _compact_disc(bright: np.ndarray) -> bool:
    """Whether the largest bright region is a disc (sun, moon): 0.05-3 % of the frame, about as wide
    as high, filling most of its bounding box; a white horizon band or a cloud's rim is not. (The
    caller also asks for a sky darker than the disc: a bright cloud in a bright sky is no sun.)"""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=8)
    if count < 2:
        return False
    x, y, width, height, area = stats[1:][np.argmax(stats[1:, cv2.CC_STAT_AREA])]
    return (0.0005 <= area / bright.size <= 0.03 and 0.5 <= width / height <= 2.0
            and area / (width * height) >= 0.6)


def clip_category_scores(contents: list[dict], tags: list[str] | None = None) -> dict[str, float]:
    """{category: score in [0, 1]} for the 13 categories, from the pairs' ``pair_content``."""
    scores = dict.fromkeys(CATEGORIES, 0.0)
    for group, category in GROUP_CATEGORY.items():
        energy = [content["share"].get(group, 0.0) * min(1.0, content["motion"].get(group, 0.0) / FULL_MOTION_PX)
                  for content in contents]
        scores[category] = min(1.0, GROUP_WEIGHTS[group] * float(np.median(energy))) if energy else 0.0
    colour = {key: float(np.median([content["colour"][key] for content in contents]))
              for key in COLOUR_KEYS} if contents else {}
    if colour:
        sky_moves = float(np.median([min(1.0, content["motion"].get("sky", 0.0) / FULL_MOTION_PX)
                                     for content in contents]))  # stars, sun and moon cross the sky
        night, disc = colour["night"], colour["disc"] * COLOUR_WEIGHT * sky_moves
        scores["star"] = night * min(1.0, colour["points"] / 0.002) * COLOUR_WEIGHT * sky_moves
        scores["moon"] = night * disc
        scores["aurora"] = night * min(1.0, colour["green"] / 0.05) * COLOUR_WEIGHT * sky_moves
        scores["sun"] = (1 - night) * disc
        scores["fire"] = min(1.0, colour["fire"] / 0.02) * COLOUR_WEIGHT
        scores["fog"] = colour["fog"] * COLOUR_WEIGHT
        if night:
            scores["cloud"] *= 0.5  # at night moving sky is more likely stars or aurora than clouds
    for tag in set(tags or ()) & set(CATEGORIES):
        scores[tag] = min(1.0, scores[tag] + TAG_PRIOR)
    return {category: round(score, 4) for category, score in scores.items()}


def top_categories(scores: dict[str, float]) -> list[str]:
    """The categories a clip is about, best first: at least MIN_SCORE and half the best score."""
    best = max(scores.values(), default=0.0)
    ranked = sorted((category for category, score in scores.items() if score >= max(MIN_SCORE, best / 2)),
                    key=lambda category: (-scores[category], CATEGORIES.index(category)))
    return ranked
