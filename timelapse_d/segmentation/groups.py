"""The one table from ADE20K-150 classes to the paper's six groups, and the lookup that applies it.

ADE20K SceneParsing-150 label maps are uint8: 0 = unlabeled, 1..150 = the classes of
``objectInfo150.csv`` (1-based ``Idx``). A network trained on ADE20K-150 predicts logits over
the same 150 classes, 0-based (logit channel c = ADE index c + 1). Every class not listed in
``GROUP_CLASSES`` and the unlabeled 0 go to ``others``. Why each class is where it is: docs/segmentation.md.

    >>> import numpy as np
    >>> from timelapse_d.segmentation.groups import GROUPS, ade_to_groups
    >>> label_map = np.array([[0, 3, 5], [10, 22, 114]], np.uint8)   # unlabeled sky tree / grass water waterfall
    >>> [GROUPS[g] for g in ade_to_groups(label_map).ravel()]
    ['others', 'sky', 'tree', 'grass', 'water', 'waterfall']
"""
from __future__ import annotations

import numpy as np

# The paper's six groups; the index is the group id (the same as timelapse_d.synthetic.SEMANTICS).
GROUPS = ("sky", "tree", "grass", "water", "waterfall", "others")
OTHERS = GROUPS.index("others")
NUM_ADE_CLASSES = 150

# group -> ((ADE-150 index, first name of that row of objectInfo150.csv), ...). Everything else: others.
GROUP_CLASSES: dict[str, tuple[tuple[int, str], ...]] = {
    "sky": ((3, "sky"),),
    "tree": ((5, "tree"), (18, "plant"), (73, "palm")),
    "grass": ((10, "grass"), (30, "field"), (67, "flower")),
    "water": ((22, "water"), (27, "sea"), (61, "river"), (110, "swimming"), (129, "lake")),
    "waterfall": ((114, "waterfall"),),
}


def _build_lookup() -> np.ndarray:
    lookup = np.full(NUM_ADE_CLASSES + 1, OTHERS, np.uint8)  # index 0 = unlabeled -> others
    seen: dict[int, str] = {}
    for group, classes in GROUP_CLASSES.items():
        for index, name in classes:
            assert 1 <= index <= NUM_ADE_CLASSES, (index, name)
            assert index not in seen, f"ADE class {index} ({name}) in both {seen.get(index)} and {group}"
            seen[index] = group
            lookup[index] = GROUPS.index(group)
    return lookup


# (151,) uint8: ADE label value (0 = unlabeled, 1..150) -> group id.
ADE_LABEL_TO_GROUP = _build_lookup()
# (150,) uint8: 0-based logit channel of an ADE-150 network -> group id.
ADE_LOGIT_TO_GROUP = ADE_LABEL_TO_GROUP[1:].copy()


def ade_to_groups(label_map: np.ndarray) -> np.ndarray:
    """ADE20K-150 label map (H, W) integers in 0..150 (0 = unlabeled) -> (H, W) uint8 group ids 0..5."""
    label_map = np.asarray(label_map)
    if not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError(f"label_map must hold integers, got dtype {label_map.dtype}")
    if label_map.size and (label_map.min() < 0 or label_map.max() > NUM_ADE_CLASSES):
        raise ValueError(f"label_map values must be in 0..{NUM_ADE_CLASSES}, got {label_map.min()}..{label_map.max()}")
    return ADE_LABEL_TO_GROUP[label_map]


def ade_logits_to_groups(class_ids: np.ndarray) -> np.ndarray:
    """0-based ADE-150 class predictions (argmax over 150 logits), (H, W) in 0..149 -> (H, W) uint8 group ids."""
    return ADE_LOGIT_TO_GROUP[np.asarray(class_ids)]
