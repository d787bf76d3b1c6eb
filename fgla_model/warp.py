"""Backward warping, the one pixel <-> normalised flow conversion, flow resizing and accumulation.

Units, stated once:

- DATA flow (``timelapse_d.flow``): PIXELS of its own H x W grid, backward, channel 0 = x (right),
  channel 1 = y (down); I_{t+1}(p) = I_t(p + F(p)).
- MODEL flow (the generator's tanh / c output, what ``warp`` and the accumulators take, what
  ``FGLA`` returns and what the flow losses compare): the same backward field in NORMALISED
  ``grid_sample`` units, align_corners=False: n_x = 2 * px_x / W, n_y = 2 * px_y / H. The image
  spans [-1, 1] edge to edge, so a normalised flow is resolution-independent: resizing it needs no
  value rescaling, and the generator's 1/c bound is c-th of half the frame at every size.
  ``pixels_to_normalised`` / ``normalised_to_pixels`` are the only conversions.

Why align_corners=False: pixel i's centre is (2i + 1) / W - 1; for power-of-two sizes (the
model's 256 and 128) that value and torch's unnormalisation ((g + 1) * W - 1) / 2 are exact in
float32, so a zero flow returns the input bit for bit. For other sizes no float32 grid maps
exactly onto every integer position; the zero-flow error is then ~1e-4 at most (measured at
640x360), far below one 8-bit level. Padding: "border" (samples leaving the frame take the edge
pixel, as ``timelapse_d.flow.backward_warp`` with cv2.BORDER_REPLICATE). Interpolation: bilinear.

Accumulation over steps (Algorithm 1, line 10), I_hat_{t+1} = warp(I_0, A_t):

- ``"compose"`` (default, exact): A_t(p) = F_t(p) + A_{t-1}(p + F_t(p)), i.e.
  A_t = F_t + warp(A_{t-1}, F_t). Derivation: I_{t+1}(p) = I_t(p + F_t(p)) and
  I_t(q) = I_0(q + A_{t-1}(q)); put q = p + F_t(p).
- ``"sum"`` (the paper's line 10): A_t = F_t + A_{t-1}; equal to "compose" for uniform
  translations, an approximation otherwise.

    >>> import torch
    >>> flow_px = torch.zeros(1, 2, 4, 8); flow_px[:, 0] = 2.0      # 2 px right on an 8-px-wide grid
    >>> pixels_to_normalised(flow_px)[0, :, 0, 0].tolist()
    [0.5, 0.0]
    >>> image = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 4, 8)
    >>> warp(image, pixels_to_normalised(flow_px))[0, 0, 0].tolist()  # out(x) = image(x + 2), border
    [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 7.0, 7.0]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ALIGN_CORNERS = False
PADDING_MODE = "border"
ACCUMULATION_MODES = ("compose", "sum")


def _check_flow(flow: torch.Tensor) -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W), got {tuple(flow.shape)}")


def _axis_scale(flow: torch.Tensor) -> torch.Tensor:
    """(1, 2, 1, 1): pixels per normalised unit along x and y, W / 2 and H / 2 (align_corners=False)."""
    H, W = flow.shape[-2:]
    return torch.tensor([W / 2.0, H / 2.0], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)


def pixels_to_normalised(flow_px: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) flow in pixels of its own grid -> normalised grid_sample units."""
    _check_flow(flow_px)
    return flow_px / _axis_scale(flow_px)


def normalised_to_pixels(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) flow in normalised units -> pixels of its own grid."""
    _check_flow(flow)
    return flow * _axis_scale(flow)


def identity_grid(B: int, H: int, W: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, W, 2) normalised pixel-centre coordinates (x, y), align_corners=False."""
    xs = (2 * torch.arange(W, device=device, dtype=dtype) + 1) / W - 1  # (W,)
    ys = (2 * torch.arange(H, device=device, dtype=dtype) + 1) / H - 1  # (H,)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, 2)
    return grid.unsqueeze(0).expand(B, H, W, 2)  # (B, H, W, 2)


def warp(image: torch.Tensor, flow: torch.Tensor, padding: str = PADDING_MODE) -> torch.Tensor:
    """Backward warp: out(p) = image(p + flow(p)). image (B, C, H, W), flow (B, 2, H, W) normalised.

    Sampling runs in at least float32 (a float16 position is 1/8 px off at 256 px); the result has
    the image's dtype. ``padding``: grid_sample's, for samples leaving the frame ("border": the edge
    pixel; animation uses "reflection").
    """
    _check_flow(flow)
    if image.dim() != 4 or image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f"image (B, C, H, W) must match flow {tuple(flow.shape)}, got {tuple(image.shape)}")
    B, _, H, W = flow.shape
    dtype = torch.promote_types(torch.promote_types(image.dtype, flow.dtype), torch.float32)  # positions never in half
    grid = identity_grid(B, H, W, flow.device, dtype) + flow.permute(0, 2, 3, 1).to(dtype)  # (B, H, W, 2)
    out = F.grid_sample(image.to(dtype), grid, mode="bilinear", padding_mode=padding, align_corners=ALIGN_CORNERS)
    return out.to(image.dtype)


def resize_flow(flow_px: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a PIXEL flow (B, 2, H, W) to (B, 2, *size), bilinearly, and rescale its values per axis.

    x values scale by W' / W, y values by H' / H (the grids may differ in aspect). A normalised flow
    needs no rescaling: resize it with ``F.interpolate`` alone.
    """
    _check_flow(flow_px)
    H, W = flow_px.shape[-2:]
    h, w = size
    resized = F.interpolate(flow_px, size=(h, w), mode="bilinear", align_corners=False)  # (B, 2, h, w)
    scale = torch.tensor([w / W, h / H], device=flow_px.device, dtype=flow_px.dtype).view(1, 2, 1, 1)
    return resized * scale


def accumulate_flow(accumulated: torch.Tensor | None, flow: torch.Tensor, mode: str = "compose") -> torch.Tensor:
    """A_t from A_{t-1} (None at t = 0) and the new step's F_t, both (B, 2, H, W) normalised.

    ``"compose"``: A_t = F_t + warp(A_{t-1}, F_t), exact; ``"sum"``: A_t = F_t + A_{t-1}, the paper's.
    """
    if mode not in ACCUMULATION_MODES:
        raise ValueError(f"accumulation mode must be one of {ACCUMULATION_MODES}, got {mode!r}")
    if accumulated is None:
        return flow
    if mode == "sum":
        return flow + accumulated
    return flow + warp(accumulated, flow)
