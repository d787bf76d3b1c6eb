"""Training losses, eq. 8-12: L = L_frame + alpha * L_flow + beta * L_tv.

Normalisation (the paper writes norms and sums and is silent on it): every term is a MEAN, so the
weights alpha = 0.5 and beta = 5 do not change meaning with the batch or image size.

- L_frame (eq. 8) = mean over B*3*H*W elements of |I_hat_{t+1} - I_{t+1}|, images in [-1, 1].
- L_flow (eq. 9) = mean over B*2*H*W elements of |F_hat_t - F_t|, in NORMALISED units (the
  generator's, see ``warp``): the data flow, in pixels, goes through ``pixels_to_normalised``
  once, in ``fgla_loss``.
- L_tv (eq. 10-11) = (1 / (B*H*W)) * sum over pixels p and their right and above neighbours q
  (pairs leaving the frame are dropped, each adjacent pair counted once) of
  exp(-||I_hat(p) - I_hat(q)||_1 / sigma) * ||F_hat(p) - F_hat(q)||_1, where ||.||_1 sums the
  3 colour or 2 flow channels; sigma = 0.1 on images in [-1, 1]; F_hat normalised.
  The edge weight is computed from I_hat_{t+1} DETACHED: it is an edge map, and its gradient would
  reward the generator for creating image edges where the flow changes.

Each term can be switched off (the ablations "only L_flow", "only L_frame", "w/o L_tv");
``fgla_loss`` still reports every term, for logging, and sums only the enabled ones.
"""
from __future__ import annotations

import dataclasses

import torch

from .warp import pixels_to_normalised


@dataclasses.dataclass
class LossConfig:
    """Weights and switches of eq. 12. Defaults are the paper's (§4.2)."""

    alpha: float = 0.5  # weight of L_flow
    beta: float = 5.0  # weight of L_tv
    sigma: float = 0.1  # edge sensitivity of the L_tv weight (eq. 11)
    use_frame: bool = True
    use_flow: bool = True
    use_tv: bool = True

    def __post_init__(self):
        for name in ("alpha", "beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"LossConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.sigma <= 0:
            raise ValueError(f"LossConfig.sigma must be > 0, got {self.sigma}")
        if not (self.use_frame or self.use_flow or self.use_tv):
            raise ValueError("LossConfig enables no term: set at least one of use_frame, use_flow, use_tv")


def frame_loss(frame_hat: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Eq. 8: mean absolute error of (B, 3, H, W) frames."""
    return (frame_hat - frame).abs().mean()


def flow_loss(flow_hat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Eq. 9: mean absolute error of (B, 2, H, W) flows, both in the same units."""
    return (flow_hat - flow).abs().mean()


def tv_loss(flow_hat: torch.Tensor, frame_hat: torch.Tensor, sigma: float = 0.1) -> torch.Tensor:
    """Eq. 10-11: edge-aware total variation of flow_hat (B, 2, H, W), edges from frame_hat (B, 3, H, W)."""
    B, _, H, W = flow_hat.shape
    image = frame_hat.detach()
    total = flow_hat.new_zeros(())
    for dy, dx in ((0, 1), (1, 0)):  # right neighbour; above neighbour (the pair (row y, row y - 1))
        d_image = (image[..., dy:, dx:] - image[..., : H - dy, : W - dx]).abs().sum(dim=1)  # (B, H-dy, W-dx)
        d_flow = (flow_hat[..., dy:, dx:] - flow_hat[..., : H - dy, : W - dx]).abs().sum(dim=1)  # (B, H-dy, W-dx)
        total = total + (torch.exp(-d_image / sigma) * d_flow).sum()
    return total / (B * H * W)


def fgla_loss(frame_hat: torch.Tensor, frame_next: torch.Tensor, flow_hat: torch.Tensor,
              flow_target_px: torch.Tensor, config: LossConfig | None = None) -> dict[str, torch.Tensor]:
    """Eq. 12. flow_hat normalised (the model's), flow_target_px in pixels (the data's).

    Returns {"total", "frame", "flow", "tv"}; "total" sums the enabled terms with their weights.
    """
    config = config or LossConfig()
    terms = {
        "frame": frame_loss(frame_hat, frame_next),
        "flow": flow_loss(flow_hat, pixels_to_normalised(flow_target_px)),
        "tv": tv_loss(flow_hat, frame_hat, config.sigma),
    }
    enabled = {"frame": (config.use_frame, 1.0), "flow": (config.use_flow, config.alpha), "tv": (config.use_tv, config.beta)}
    terms["total"] = sum(weight * terms[name] for name, (on, weight) in enabled.items() if on)
    return terms
