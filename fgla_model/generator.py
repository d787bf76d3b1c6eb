"""Motion generator P (§3.2, eq. 6): a U-Net from latent map + image to flow, F_hat = tanh(.) / c.

Input (B, D + 3, H, W): the latent map L_t concatenated with the image I_t in [-1, 1]. Output
(B, 2, H, W) in NORMALISED grid_sample units (see ``warp``), in [-1/c, 1/c]; with c = 32 and
align_corners=False that is at most 4 px per step on a 256-pixel axis.

Layout, ``depth`` levels, channels ``min(base * 2**i, max_channels)``:

- down: ``depth`` 3x3 stride-2 convolutions, H -> H / 2**depth;
- up: at each level, nearest 2x upsampling, concatenation with the skip of that level (the
  encoder feature map of the same size; at full resolution the input itself), a 3x3 convolution;
- out: a 3x3 convolution to 2 channels, tanh, divided by c.

Every conv layer has InstanceNorm + LeakyReLU(0.1) (§4.2) except, as in Animating Landscape's
motion net which the paper follows, the first (a norm right on the input would remove a latent
map that is constant over the frame, e.g. the "w/o LM" ablation's) and the output layer (tanh).
``norm=False`` (``FGLAConfig.generator_norm``) drops every InstanceNorm: a deviation from §4.2
chosen by measurement, since the norm rescales the latent-driven features of each image and the
generated speed stops following the latent's (docs/model.md, "Measured deviations").
Choices where the paper is silent: 3x3 kernels, reflection padding and nearest upsampling followed
by a convolution (as in Animating Landscape: no border artefacts, no checkerboard), no affine
InstanceNorm parameters; H and W must be divisible by 2**depth with at least 2 pixels left.
Paper-scale default (``FGLAConfig``): base 64, depth 5, max 512 at 256x256.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoder import LEAKY_SLOPE, layer_channels


def conv_block(c_in: int, c_out: int, stride: int, norm: bool) -> nn.Sequential:
    """3x3 conv (reflection padding) [+ InstanceNorm] + LeakyReLU(0.1)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, padding_mode="reflect")]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """P: (B, in_channels, H, W) -> flow (B, 2, H, W) in normalised units, |flow| <= 1 / c."""

    def __init__(self, in_channels: int = 5, base_channels: int = 64, depth: int = 5,
                 max_channels: int = 512, c: float = 32.0, norm: bool = True):
        super().__init__()
        self.depth, self.c = depth, c
        channels = layer_channels(base_channels, depth, max_channels)  # channels[i]: level i + 1 (H / 2**(i+1))
        skips = [in_channels, *channels[:-1]]  # skips[i]: level i (H / 2**i)
        outs = [channels[0], *channels[:-1]]  # up block output at level i
        self.down = nn.ModuleList(
            conv_block(c_in, c_out, stride=2, norm=norm and i > 0) for i, (c_in, c_out) in enumerate(zip(skips, channels))
        )
        # self.up[i] produces level i; run from the deepest (i = depth - 1) up to full resolution (i = 0)
        below = [*outs[1:], channels[-1]]  # channels arriving from level i + 1
        self.up = nn.ModuleList(conv_block(below[i] + skips[i], outs[i], stride=1, norm=norm) for i in range(depth))
        self.out = nn.Conv2d(outs[0], 2, 3, padding=1, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_channels, H, W) -> flow (B, 2, H, W), normalised units."""
        H, W = x.shape[-2:]
        step = 2**self.depth
        if H % step or W % step or min(H, W) < 2 * step:
            raise ValueError(f"generator input size {H}x{W} must be divisible by 2**depth = {step} and at least {2 * step}")
        skips = [x]
        for down in self.down:
            skips.append(down(skips[-1]))  # level i + 1: (B, channels[i], H / 2**(i+1), W / 2**(i+1))
        h = skips.pop()  # (B, channels[-1], H / 2**depth, W / 2**depth)
        for i in reversed(range(self.depth)):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # (B, ., H / 2**i, W / 2**i)
            h = self.up[i](torch.cat([h, skips.pop()], dim=1))  # (B, outs[i], H / 2**i, W / 2**i)
        return torch.tanh(self.out(h)) / self.c  # (B, 2, H, W)
