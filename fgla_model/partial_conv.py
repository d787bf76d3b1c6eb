"""Partial convolution (Liu et al., ECCV 2018, eq. 1-2; FGLA eq. 1-2).

For each output position, with X the input window and M its binary mask window::

    x' = W^T (X * M) * sum(1) / sum(M) + b    if sum(M) > 0, else 0      (eq. 1)
    m' = 1                                   if sum(M) > 0, else 0      (eq. 2)

Choices where the papers are silent:

- The mask is single-channel, ``(B, 1, H, W)``, broadcast over the input channels (the FGLA
  encoder's mask is one semantic, the same for every channel). Then sum(1) = C_in * kh * kw and
  sum(M) = C_in * (valid positions in the window), so the ratio is kh * kw / (valid positions).
- Zero padding counts as a hole: a border window holds fewer valid positions and is re-scaled.
- Nothing is cached between calls: the valid-position count is one ``conv2d`` of the mask with a
  ones kernel, computed every call in float32 (autocast disabled). The count is an integer, so
  ``clamp(min=1)`` is the epsilon: exact, and safe in float16 / bfloat16 (a 1e-8 epsilon would
  underflow in float16). The ratio is cast to the input's dtype only for the final product.

Example: a constant input is reproduced exactly at the border, where the window is partly padding.

    >>> import torch
    >>> conv = PartialConv2d(1, 1, kernel_size=3, padding=1, bias=False)
    >>> _ = torch.nn.init.ones_(conv.weight)
    >>> out, mask = conv(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4))
    >>> out[0, 0, 0].tolist(), mask.sum().item()
    ([9.0, 9.0, 9.0, 9.0], 16.0)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PartialConv2d(nn.Conv2d):
    """A ``Conv2d`` (groups 1, zero padding) whose ``forward(x, mask)`` returns ``(out, new_mask)``.

    x: (B, C_in, H, W); mask: (B, 1, H, W) binary, same dtype as x or any float / bool.
    out: (B, C_out, H', W'), zero where new_mask is 0; new_mask: (B, 1, H', W') in x's dtype.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
            raise ValueError(f"mask must be (B, 1, H, W) matching x {tuple(x.shape)}, got {tuple(mask.shape)}")
        kh, kw = self.kernel_size
        with torch.autocast(device_type=x.device.type, enabled=False):
            ones = torch.ones(1, 1, kh, kw, device=x.device, dtype=torch.float32)
            count = F.conv2d(mask.float(), ones, None, self.stride, self.padding, self.dilation)  # (B, 1, H', W')
            new_mask = (count > 0).float()
            ratio = (kh * kw) / count.clamp(min=1.0) * new_mask  # sum(1) / sum(M), 0 where sum(M) = 0
        raw = F.conv2d(x * mask.to(x.dtype), self.weight, None, self.stride, self.padding, self.dilation)
        out = raw * ratio.to(raw.dtype)  # (B, C_out, H', W')
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype) * new_mask.to(out.dtype)
        return out, new_mask.to(x.dtype)
