"""LPIPS v0.1 with the AlexNet backbone (Zhang et al., CVPR 2018), weights from local files.

Two files: torchvision's AlexNet (only `features.*` is used; `classifier.*` is ignored) and the
LPIPS v0.1 linear layers `alex.pth` (keys `lin0.model.1.weight` .. `lin4.model.1.weight`).

distance = sum over the 5 AlexNet ReLU outputs l of mean over pixels of
           w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2,
with f_l the features of the inputs after the LPIPS scaling layer, |.| the norm over channels at
each pixel and w_l the learned non-negative 1 x 1 weights.

Usage (with the real files; see docs/metrics.md):
    lpips = LPIPS.from_files("alexnet-owt-7be5be79.pth", "alex.pth").to(device)
    distances = lpips(frames, first_frames)   # (N, 3, H, W) in [-1, 1] each -> (N,)
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .weights import download_state_dict, load_into, read_state_dict

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LINEAR_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"


class AlexNetFeatures(nn.Module):
    """torchvision's `alexnet().features` up to its last ReLU (same keys: `features.0.weight`, ...).

    The final max-pool (index 12) is left out: LPIPS does not use it and it has no parameters.
    """

    taps = (1, 4, 7, 9, 11)  # indices of the ReLUs whose outputs LPIPS compares
    channels = (64, 192, 384, 256, 256)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W), H, W >= 32 -> five (B, C_l, H_l, W_l) ReLU outputs."""
        outputs = []
        for index, layer in enumerate(self.features):
            images = layer(images)
            if index in self.taps:
                outputs.append(images)
        return outputs


class LinearHead(nn.Module):
    """A 1 x 1 conv to one channel; slot 0 held LPIPS's training dropout, so the conv is `model.1`."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, squared_difference: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B,): weighted over channels, averaged over pixels."""
        return self.model(squared_difference).mean(dim=(1, 2, 3))


class LinearHeads(nn.Module):
    """`lin0` .. `lin4`, the layout of LPIPS's `alex.pth`."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        for index, width in enumerate(channels):
            self.add_module(f"lin{index}", LinearHead(width))


class LPIPS(nn.Module):
    """LPIPS distance between two batches of images."""

    def __init__(self):
        super().__init__()
        self.backbone = AlexNetFeatures()
        self.heads = LinearHeads(AlexNetFeatures.channels)
        # LPIPS's scaling layer: constants, not part of either weights file
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images1: torch.Tensor, images2: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) and (N, 3, H, W) in [-1, 1], H, W >= 32 -> (N,) distances."""
        if images1.shape != images2.shape or images1.dim() != 4 or images1.shape[1] != 3:
            raise ValueError(
                f"expected two (N, 3, H, W) batches of one shape, got {tuple(images1.shape)} and {tuple(images2.shape)}"
            )
        # 1. scale and run both batches through the backbone in one pass
        scaled = (torch.cat([images1, images2]) - self.shift) / self.scale  # (2N, 3, H, W)
        features = self.backbone(scaled)
        # 2. unit-normalise over channels, compare, weight and average
        distance = 0
        for head, feature in zip(self.heads.children(), features):
            unit = feature / (feature.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            unit1, unit2 = unit.chunk(2)  # (N, C_l, H_l, W_l) each
            distance = distance + head((unit1 - unit2).square())
        return distance

    @classmethod
    def from_files(cls, backbone_path: str | Path, linear_path: str | Path) -> LPIPS:
        """Load torchvision's AlexNet file and LPIPS v0.1 `alex.pth`; raises `MissingWeights` naming an absent file."""
        lpips = cls()
        load_into(lpips.backbone, read_state_dict(backbone_path), backbone_path, ignore=("classifier.",))
        load_into(lpips.heads, read_state_dict(linear_path), linear_path)
        return lpips.eval()

    @classmethod
    def from_hub(cls, backbone_url: str = ALEXNET_URL, linear_url: str = LINEAR_URL) -> LPIPS:
        """Download (or reuse from the torch.hub cache) both files; needs internet the first time."""
        lpips = cls()
        backbone = download_state_dict(backbone_url, check_hash=True)
        load_into(lpips.backbone, backbone, backbone_url, ignore=("classifier.",))
        load_into(lpips.heads, download_state_dict(linear_url), linear_url)
        return lpips.eval()
