"""Latent mapping (eq. 5): L(x, y) = z_k where M_k(x, y) = 1, and the group-id -> one-hot masks it reads.

Masks come as (B, H, W) int64 group ids, the index into ``timelapse_d.segmentation.GROUPS``
(sky, tree, grass, water, waterfall, others). With one-hot masks, eq. 5 is one einsum: each pixel
takes the latent of its semantic, and the K semantics are never looped over in Python.

    >>> import torch
    >>> latents = torch.tensor([[[1.0, -1.0], [0.5, 0.25]]])       # (B=1, K=2, D=2)
    >>> masks = one_hot_masks(torch.tensor([[[0, 1], [1, 1]]]), 2)  # (1, 2, 2, 2)
    >>> latent_map(latents, masks)[0, 0].tolist()                   # channel 0 of L
    [[1.0, 0.5], [0.5, 0.5]]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def one_hot_masks(groups: torch.Tensor, num_semantics: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W) int64 group ids in [0, K) -> (B, K, H, W) one-hot masks of ``dtype``."""
    if groups.dim() != 3 or groups.dtype != torch.int64:
        raise ValueError(f"masks must be (B, H, W) int64 group ids, got {tuple(groups.shape)} {groups.dtype}")
    if groups.numel() and (int(groups.min()) < 0 or int(groups.max()) >= num_semantics):
        raise ValueError(f"group ids must lie in [0, {num_semantics}), got [{int(groups.min())}, {int(groups.max())}]")
    return F.one_hot(groups, num_semantics).permute(0, 3, 1, 2).to(dtype)  # (B, K, H, W)


def latent_map(latents: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Eq. 5: latents (B, K, D) and one-hot masks (B, K, H, W) -> latent map (B, D, H, W)."""
    if latents.dim() != 3 or masks.dim() != 4 or latents.shape[:2] != masks.shape[:2]:
        raise ValueError(f"latents (B, K, D) and masks (B, K, H, W) must agree, got "
                         f"{tuple(latents.shape)} and {tuple(masks.shape)}")
    return torch.einsum("bkd,bkhw->bdhw", latents, masks.to(latents.dtype))  # (B, D, H, W)
