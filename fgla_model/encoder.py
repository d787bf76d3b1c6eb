"""Motion encoders: flow (B, 2, h, w) in pixels of its own grid + one-hot masks (B, K, h, w) -> latents (B, K, D).

``FineGrainedEncoder`` is the paper's E (§3.1, eq. 3-4): a fully partial-convolution network run
once per semantic, z_i = E(F, M_i). All K semantics go through ONE batched pass: the K masks are
folded into the batch, (B, K, h, w) -> (B*K, 1, h, w), and the flow is repeated beside them.
``PlainEncoder`` is the "w/o LM" ablation (Table 2): flow concatenated with the K masks
(2 + K channels) into a plain CNN, one latent per frame, returned repeated for every semantic, so
the latent map built from it is that one latent everywhere. Both share the same interface.

Layers: ``depth`` 3x3 stride-2 convolutions, channels ``min(base * 2**i, max_channels)``, each
followed by InstanceNorm and LeakyReLU(0.1); then a 1x1 convolution to D channels and a global
average pool (over valid positions only, for E).

Choices where the paper is silent:

- The FIRST conv layer has no InstanceNorm (as in Animating Landscape's motion net, which the
  paper follows, "similar to [2]"). Reason: the first layer is linear in the flow, and
  InstanceNorm removes a per-instance offset and scale, so a norm there would make E exactly blind
  to the flow's magnitude (F and 2F would give the same latent). Every later conv layer has
  InstanceNorm + LeakyReLU(0.1); the 1x1 output layer has neither (a norm there would pin every
  latent's mean to zero).
- ``norm=False`` (``FGLAConfig.encoder_norm``) drops every InstanceNorm: a deviation from §4.2 chosen
  by measurement. Even from the second layer on, the norm leaves E nearly blind to the magnitude: a
  region of uniform motion gives spatially constant features, whose value the norm removes, so
  references of 0.5 and 8 px give nearly the same latent (docs/model.md, "Measured deviations").
- E's InstanceNorm is masked: mean and variance over the valid positions of the current mask only,
  invalid positions stay 0, so a semantic's latent depends only on the flow inside its mask
  (plain InstanceNorm would mix in the zeros of the holes). No affine parameters (PyTorch's default).
- A semantic absent from the frame (mask all zero) gets the latent 0 exactly ("no motion"): every
  layer outputs 0 where its mask is 0, and the pool divides by max(valid count, 1).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .partial_conv import PartialConv2d

LEAKY_SLOPE = 0.1
NORM_EPS = 1e-5


def layer_channels(base: int, depth: int, max_channels: int) -> list[int]:
    """Channels of the ``depth`` conv layers: base, 2*base, 4*base, ... capped at max_channels."""
    return [min(base * 2**i, max_channels) for i in range(depth)]


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """InstanceNorm over the positions where mask is 1; 0 elsewhere. x (N, C, H, W), mask (N, 1, H, W)."""
    xf, m = x.float(), mask.float()  # statistics in float32, also under autocast
    n = m.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)  # (N, 1, 1, 1)
    mean = (xf * m).sum(dim=(2, 3), keepdim=True) / n  # (N, C, 1, 1)
    var = (((xf - mean) * m) ** 2).sum(dim=(2, 3), keepdim=True) / n  # (N, C, 1, 1), biased like nn.InstanceNorm2d
    return ((xf - mean) * torch.rsqrt(var + eps) * m).to(x.dtype)


def check_encoder_inputs(flow_px: torch.Tensor, masks: torch.Tensor, num_semantics: int) -> None:
    """Raise ValueError naming the bad shape unless flow is (B, 2, h, w) and masks (B, K, h, w)."""
    if flow_px.dim() != 4 or flow_px.shape[1] != 2:
        raise ValueError(f"flow_px must be (B, 2, h, w), got {tuple(flow_px.shape)}")
    expected = (flow_px.shape[0], num_semantics, *flow_px.shape[2:])
    if tuple(masks.shape) != expected:
        raise ValueError(f"masks must be one-hot {expected} to match flow_px, got {tuple(masks.shape)}")


class FineGrainedEncoder(nn.Module):
    """E: per-semantic latents from a fully partial-convolution network, all semantics in one pass."""

    def __init__(self, num_semantics: int = 6, latent_dim: int = 2, base_channels: int = 64,
                 depth: int = 4, max_channels: int = 512, norm: bool = True):
        super().__init__()
        self.num_semantics, self.norm = num_semantics, norm
        channels = layer_channels(base_channels, depth, max_channels)
        self.convs = nn.ModuleList(
            PartialConv2d(c_in, c_out, kernel_size=3, stride=2, padding=1)
            for c_in, c_out in zip([2, *channels[:-1]], channels)
        )
        self.head = PartialConv2d(channels[-1], latent_dim, kernel_size=1)

    def forward(self, flow_px: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """flow_px (B, 2, h, w) pixels, masks (B, K, h, w) one-hot float -> latents (B, K, D)."""
        check_encoder_inputs(flow_px, masks, self.num_semantics)
        B, K, h, w = masks.shape
        x = flow_px.unsqueeze(1).expand(B, K, 2, h, w).reshape(B * K, 2, h, w)  # (B*K, 2, h, w)
        m = masks.reshape(B * K, 1, h, w).to(flow_px.dtype)  # (B*K, 1, h, w)
        for i, conv in enumerate(self.convs):
            x, m = conv(x, m)
            if i > 0 and self.norm:
                x = masked_instance_norm(x, m)
            x = F.leaky_relu(x, LEAKY_SLOPE)  # LeakyReLU(0) = 0: holes stay 0
        x, m = self.head(x, m)  # (B*K, D, h', w'), 0 outside the mask
        n = m.sum(dim=(2, 3)).clamp(min=1.0)  # (B*K, 1); absent semantic: sum 0 / 1 = 0
        z = x.sum(dim=(2, 3)) / n  # (B*K, D)
        return z.view(B, K, -1)  # (B, K, D)


class PlainEncoder(nn.Module):
    """The "w/o LM" ablation: a CNN on flow + masks (2 + K channels), one latent per frame."""

    def __init__(self, num_semantics: int = 6, latent_dim: int = 2, base_channels: int = 64,
                 depth: int = 4, max_channels: int = 512, norm: bool = True):
        super().__init__()
        self.num_semantics = num_semantics
        channels = layer_channels(base_channels, depth, max_channels)
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([2 + num_semantics, *channels[:-1]], channels)):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1))
            if i > 0 and norm:
                layers.append(nn.InstanceNorm2d(c_out))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        layers.append(nn.Conv2d(channels[-1], latent_dim, kernel_size=1))
        self.net = nn.Sequential(*layers)

    def forward(self, flow_px: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """flow_px (B, 2, h, w) pixels, masks (B, K, h, w) one-hot float -> latents (B, K, D), equal over K."""
        check_encoder_inputs(flow_px, masks, self.num_semantics)
        x = torch.cat([flow_px, masks.to(flow_px.dtype)], dim=1)  # (B, 2+K, h, w)
        z = self.net(x).mean(dim=(2, 3))  # (B, D)
        return z.unsqueeze(1).expand(-1, self.num_semantics, -1)  # (B, K, D)
