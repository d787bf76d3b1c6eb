"""Per-clip categories from content (timelapse_d.categories): group motion, colour clues, the tag prior."""
import cv2
import numpy as np

from timelapse_d.categories import CATEGORIES, clip_category_scores, colour_measures, pair_content, top_categories
from timelapse_d.segmentation import GROUPS

SKY, WATER, OTHERS = GROUPS.index("sky"), GROUPS.index("water"), GROUPS.index("others")


def textured() -> np.ndarray:
    """A daylight frame with contrast and colour (not fog)."""
    return np.random.default_rng(1).integers(30, 220, (144, 256, 3), dtype=np.uint8)


def grid_scene(sky_rows: int, lower: int, rows: int = 18, cols: int = 32) -> np.ndarray:
    groups = np.full((rows, cols), lower, np.uint8)
    groups[:sky_rows] = SKY
    return groups


def test_the_moving_group_names_the_category_and_the_sky_counts_less():
    groups = grid_scene(8, WATER)  # 44 % sky, 56 % water, both moving
    residual = np.where(groups == SKY, 0.8, 0.5)
    colour = textured()
    scores = clip_category_scores([pair_content(groups, residual, colour, None)])
    assert top_categories(scores) == ["water"] and scores["cloud"] < scores["water"]
    still_water = np.where(groups == SKY, 0.8, 0.0)  # the water stands still: the drifting sky is what it shows
    assert top_categories(clip_category_scores([pair_content(groups, still_water, colour, None)]))[0] == "cloud"


def test_tags_are_a_prior_not_the_answer():
    colour = textured()
    groups = grid_scene(6, OTHERS)
    residual = np.where(groups == SKY, 0.8, 0.0)
    content = pair_content(groups, residual, colour, None)
    assert top_categories(clip_category_scores([content], tags=["fire", "timelapse"]))[0] == "cloud"
    nothing = pair_content(None, np.zeros((18, 32)), colour, None)  # no masks: only clues and tags speak
    assert top_categories(clip_category_scores([nothing], tags=["fire"])) == ["fire"]
    assert top_categories(clip_category_scores([nothing])) == []
    assert set(clip_category_scores([nothing])) == set(CATEGORIES)


def night_sky(points: bool) -> np.ndarray:
    frame = np.full((144, 256, 3), 12, np.uint8)
    if points:
        rng = np.random.default_rng(0)
        for y, x in zip(rng.integers(0, 48, 40), rng.integers(0, 256, 40)):
            frame[y, x] = 255
    return frame


def test_stars_need_a_night_sky_with_points_that_moves():
    moving = np.full((18, 32), 0.5)
    stars = clip_category_scores([pair_content(None, moving, night_sky(True), None)])
    assert top_categories(stars) == ["star"]
    card = night_sky(False)
    cv2.putText(card, "THE END", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    assert top_categories(clip_category_scores([pair_content(None, np.zeros((18, 32)), card, None)])) == []


def test_a_sun_is_a_compact_disc_in_a_darker_sky_and_bright_clouds_are_not():
    sky = np.zeros((144, 256), bool)
    sky[:72] = True
    sunset = np.full((144, 256, 3), (200, 120, 70), np.uint8)
    cv2.circle(sunset, (128, 40), 8, (255, 255, 255), -1)
    assert colour_measures(sunset, sky)["disc"] == 1.0
    bright = np.full((144, 256, 3), (200, 215, 235), np.uint8)  # a bright day sky with a white cloud core
    cv2.circle(bright, (128, 40), 8, (255, 255, 255), -1)
    assert colour_measures(bright, sky)["disc"] == 0.0
    band = np.full((144, 256, 3), (200, 120, 70), np.uint8)
    band[60:72] = 255  # a white horizon band is no disc
    assert colour_measures(band, sky)["disc"] == 0.0


def test_a_flat_grey_frame_reads_as_fog():
    assert top_categories(clip_category_scores([pair_content(None, np.zeros((18, 32)),
                                                             np.full((144, 256, 3), 170, np.uint8), None)])) == ["fog"]
