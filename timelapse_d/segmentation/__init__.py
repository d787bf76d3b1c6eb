"""Semantic segmentation into the paper's six groups: segmenters behind a registry, one ADE20K-150
-> group table. Conventions, the table and measurements: docs/segmentation.md.

``segment(frame_rgb)`` maps an (H, W, 3) uint8 RGB frame to an (H, W) uint8 map of group ids,
the index into ``GROUPS`` (the same ids as ``timelapse_d.synthetic.SEMANTICS``).

    >>> from timelapse_d.segmentation import GROUPS, SEGMENTERS
    >>> SEGMENTERS.names()
    ['oracle', 'segformer']
    >>> GROUPS
    ('sky', 'tree', 'grass', 'water', 'waterfall', 'others')
    >>> SEGMENTERS.get("oracle")().params()
    {'segmenter': 'oracle', 'groups': ['sky', 'tree', 'grass', 'water', 'waterfall', 'others'], 'resize_to': None}
"""
from timelapse_d.registry import Registry

from .base import Segmenter
from .groups import ADE_LABEL_TO_GROUP, GROUP_CLASSES, GROUPS, ade_to_groups

SEGMENTERS = Registry("segmenter", {
    "oracle": "timelapse_d.segmentation.oracle:OracleSegmenter",
    "segformer": "timelapse_d.segmentation.segformer:SegformerSegmenter",
})

_LOADED: dict[str, Segmenter] = {}  # per process: a network is loaded once, not per video


def segmenter_config(name: str, params: dict) -> tuple[type, object]:
    """The segmenter class named ``name`` and its config from ``params``; ValueError naming a bad one."""
    from timelapse_d.config import config_from_params

    cls = SEGMENTERS.get(name)
    return cls, config_from_params(cls.config_class, params, f"segmenter {name!r}")


def load_segmenter(name: str, params: dict) -> Segmenter:
    """The segmenter ``name`` with ``params``, made once per process (stages call it in each worker)."""
    import json

    key = json.dumps([name, params], sort_keys=True)
    if key not in _LOADED:
        cls, config = segmenter_config(name, params)
        _LOADED[key] = cls(config)
    return _LOADED[key]


__all__ = ["ADE_LABEL_TO_GROUP", "GROUP_CLASSES", "GROUPS", "SEGMENTERS", "Segmenter", "ade_to_groups",
           "load_segmenter", "segmenter_config"]
