"""The segmenter base class and its one convention.

``segment(frame_rgb)`` takes an (H, W, 3) uint8 RGB frame and returns an (H, W) uint8 map of
group ids, the index into ``GROUPS = ("sky", "tree", "grass", "water", "waterfall", "others")``
(the same ids as ``timelapse_d.synthetic.SEMANTICS``). ``params()`` is the provenance record for
the sample's json: the segmenter's name and every setting that shaped its output.

Segmenters that read masks shipped with a source instead of looking at pixels (``oracle``) set
``needs_source_masks = True`` and are called with ``segment_frame(video_ref, frame_index)``.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from timelapse_d.config import Configured

from .groups import GROUPS


def check_frame(frame: np.ndarray) -> None:
    """Validate an RGB uint8 frame; raise ValueError naming the bad value."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = (frame.shape, frame.dtype) if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frame_rgb must be an (H, W, 3) uint8 RGB array, got {got}")


def check_group_map(groups: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Internal invariant of every segmenter's output: (H, W) uint8 with values in 0..5."""
    assert groups.shape == tuple(shape), (groups.shape, shape)
    assert groups.dtype == np.uint8, groups.dtype
    assert groups.size == 0 or int(groups.max()) < len(GROUPS), int(groups.max())
    return groups


class Segmenter(Configured):
    """Base class: subclasses set ``name`` and ``config_class`` and fill one hook, ``groups_from``."""

    needs_source_masks: ClassVar[bool] = False

    # The hook: (H, W, 3) uint8 RGB -> (H, W) uint8 group ids.
    def groups_from(self, frame_rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def segment(self, frame_rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 group ids (index into GROUPS)."""
        check_frame(frame_rgb)
        return check_group_map(self.groups_from(frame_rgb), frame_rgb.shape[:2])

    def params(self) -> dict:
        """Provenance: the segmenter's name and every parameter that shaped its output (json-ready)."""
        return {"segmenter": self.name, "groups": list(GROUPS), **dataclasses.asdict(self.config)}
