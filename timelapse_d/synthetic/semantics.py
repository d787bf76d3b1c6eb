"""The semantic classes of the ground-truth maps (the paper's six groups): a class id is its index."""
from __future__ import annotations

SEMANTICS: tuple[str, ...] = ("sky", "tree", "grass", "water", "waterfall", "others")
SKY, TREE, GRASS, WATER, WATERFALL, OTHERS = range(len(SEMANTICS))
