"""Bringing source frames (any size, any aspect) to the stored size, 256x256 by default.

Two ways to handle an aspect ratio other than the target's:

- ``squash`` (default): the whole frame is resized to the target, the aspect is not kept. Nothing
  of the scene is lost, and it is what the model sees at animation time, when a photo of any
  shape is brought to 256x256 and the generated flow is stretched back to the photo's size
  (flow values are in pixels of the stored grid, so they are rescaled per axis on the way back).
- ``crop``: the largest centred region with the target's aspect is cut out, then resized, so
  shapes keep their proportions; the sides (or top and bottom) are lost.

Frames are resized with area averaging when shrinking and bicubic when enlarging; group maps
(segmentation) with nearest neighbour through the same crop, so they stay aligned with the frames.

    >>> import numpy as np
    >>> crop_box(1280, 720, (256, 256), "crop")
    (280, 0, 720, 720)
    >>> fit_frame(np.zeros((720, 1280, 3), np.uint8), (256, 256), "squash").shape
    (256, 256, 3)
"""
from __future__ import annotations

import numpy as np

ASPECTS = ("squash", "crop")


def check_aspect(aspect: str) -> None:
    if aspect not in ASPECTS:
        raise ValueError(f"aspect must be one of {ASPECTS}, got {aspect!r}")


def crop_box(width: int, height: int, size: tuple[int, int], aspect: str) -> tuple[int, int, int, int]:
    """The region (x, y, w, h) of a width x height frame that is resized to ``size = (w, h)``."""
    check_aspect(aspect)
    if aspect == "squash":
        return 0, 0, width, height
    target = size[0] / size[1]
    if width / height > target:  # too wide: cut the sides
        w = round(height * target)
        return (width - w) // 2, 0, w, height
    h = round(width / target)
    return 0, (height - h) // 2, width, h


def _crop(image: np.ndarray, size: tuple[int, int], aspect: str) -> np.ndarray:
    x, y, w, h = crop_box(image.shape[1], image.shape[0], size, aspect)
    return image[y:y + h, x:x + w]


def fit_frame(frame: np.ndarray, size: tuple[int, int], aspect: str = "squash") -> np.ndarray:
    """(H, W, 3) uint8 -> (size[1], size[0], 3) uint8."""
    import cv2

    region = _crop(frame, size, aspect)
    shrinking = region.shape[1] >= size[0] and region.shape[0] >= size[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(region, size, interpolation=interpolation)


def fit_groups(groups: np.ndarray, size: tuple[int, int], aspect: str = "squash") -> np.ndarray:
    """(H, W) uint8 group ids -> (size[1], size[0]) uint8, nearest neighbour through the same crop."""
    import cv2

    return cv2.resize(_crop(groups, size, aspect), size, interpolation=cv2.INTER_NEAREST)
