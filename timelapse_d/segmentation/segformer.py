"""``segformer``: an ADE20K-150 SegFormer (transformers) whose 150 classes are aggregated into the groups.

Weights come from ``weights``: a local directory written by ``save_pretrained`` (``config.json``,
``model.safetensors``, ``preprocessor_config.json``) or, where there is internet, a hub name such as
``nvidia/segformer-b0-finetuned-ade-512-512`` (the default; b1..b5 variants are better and slower).
The model must have 150 labels in ADE20K-150 order; if its ``id2label`` carries real names they
are checked against the group table. Real masks need real ADE20K weights: the tests use a randomly
initialised tiny model, whose output is noise.

Per frame: the image processor resizes and normalises, the model gives (1, 150, h/4, w/4) logits,
they are upsampled bilinearly to the input (H, W), argmax picks a class, the table maps it to a group.

    >>> from timelapse_d.segmentation.segformer import SegformerConfig
    >>> SegformerConfig(weights="/models/segformer-b0-ade", device="cuda").device
    'cuda'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Segmenter, check_frame, check_group_map
from .groups import ADE_LOGIT_TO_GROUP, GROUP_CLASSES, NUM_ADE_CLASSES

DEFAULT_WEIGHTS = "nvidia/segformer-b0-finetuned-ade-512-512"


@dataclass(frozen=True)
class SegformerConfig:
    """``weights``: local directory or hub name; ``device``: "cpu", "cuda" or "cuda:N";
    ``local_files_only``: never touch the network (a hub name then needs the hub cache)."""

    weights: str = DEFAULT_WEIGHTS
    device: str = "cpu"
    local_files_only: bool = False

    def __post_init__(self):
        if not isinstance(self.weights, str) or not self.weights:
            raise ValueError(f"SegformerConfig.weights must be a directory or hub name, got {self.weights!r}")
        if not isinstance(self.device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"SegformerConfig.device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


def _check_labels(id2label: dict) -> None:
    """Where the model names its classes, the mapped ones must be the table's ADE classes."""
    names = {int(k): str(v).lower() for k, v in id2label.items()}
    if all(re.fullmatch(r"label_\d+", v) for v in names.values()):
        return  # anonymous labels (e.g. a freshly initialised model): nothing to check
    for group, classes in GROUP_CLASSES.items():
        for index, name in classes:
            got = names.get(index - 1, "")
            if not got.replace(";", " ").replace("_", " ").startswith(name):
                raise ValueError(f"model label {index - 1} is {got!r}, but the group table maps ADE class "
                                 f"{index} {name!r} to {group!r}: the weights are not ADE20K-150")


class SegformerSegmenter(Segmenter):
    name = "segformer"
    config_class = SegformerConfig

    def __init__(self, config: SegformerConfig | None = None):
        super().__init__(config)
        import torch
        from transformers import AutoImageProcessor, SegformerForSemanticSegmentation

        cfg = self.config
        local = Path(cfg.weights).is_dir()
        kwargs = {"local_files_only": cfg.local_files_only or local}
        self.processor = AutoImageProcessor.from_pretrained(cfg.weights, **kwargs)
        self.model = SegformerForSemanticSegmentation.from_pretrained(cfg.weights, **kwargs)
        if self.model.config.num_labels != NUM_ADE_CLASSES:
            raise ValueError(f"{cfg.weights}: the model has {self.model.config.num_labels} labels, "
                             f"an ADE20K-150 model has {NUM_ADE_CLASSES}")
        _check_labels(self.model.config.id2label)
        self.device = torch.device(cfg.device)
        self.model.to(self.device).eval()
        self._lookup = torch.from_numpy(ADE_LOGIT_TO_GROUP).to(self.device)  # (150,) class -> group

    def groups_from(self, frame_rgb: np.ndarray) -> np.ndarray:
        return self.segment_batch([frame_rgb])[0]

    def segment_batch(self, frames_rgb: list[np.ndarray]) -> np.ndarray:
        """N frames of one size (H, W, 3) uint8 RGB -> (N, H, W) uint8 group ids, one forward pass."""
        import torch
        import torch.nn.functional as F

        for frame in frames_rgb:
            check_frame(frame)
        if not frames_rgb or len({f.shape for f in frames_rgb}) != 1:
            raise ValueError(f"frames_rgb must be a non-empty list of frames of one size, "
                             f"got {sorted({f.shape for f in frames_rgb})}")
        h, w = frames_rgb[0].shape[:2]
        # 1. resize + normalise as the weights were trained
        pixels = self.processor(images=list(frames_rgb), return_tensors="pt")["pixel_values"]  # (N, 3, h', w')
        with torch.inference_mode():
            # 2. logits at 1/4 of the processed size, upsampled to the input size
            logits = self.model(pixel_values=pixels.to(self.device)).logits  # (N, 150, h'/4, w'/4)
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)  # (N, 150, H, W)
            # 3. ADE class -> group
            groups = self._lookup[logits.argmax(dim=1)]  # (N, H, W)
        groups = groups.to(torch.uint8).cpu().numpy()
        for g in groups:
            check_group_map(g, (h, w))
        return groups
