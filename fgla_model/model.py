"""FGLA: the config, the top-level model (encode -> map -> generate -> warp) and its input helpers.

Shapes and units (K = 6 semantics, ids into ``GROUPS``: sky, tree, grass, water, waterfall, others;
D = latent_dim = 2; S = image_size = 256; s = encoder_size = 128):

- ``encode(flow_px, masks)``: encoder flow (B, 2, s, s) in PIXELS of the s grid, one-hot masks
  (B, K, s, s) -> latents (B, K, D). ``prepare_encoder_inputs`` makes both from the data's
  (B, 2, S, S) pixel flow and (B, S, S) group ids (the horizontal flip of §3.3 is the data
  loader's business, done before this).
- ``generate(image, masks, latents)``: image (B, 3, S, S) in [-1, 1], masks (B, S, S) int64
  group ids, latents (B, K, D) -> flow (B, 2, S, S) in NORMALISED units (``warp``'s docstring).
- ``forward(image, masks, encoder_flow_px, encoder_masks)`` -> ``FGLAOutput(latents, flow,
  next_frame)``; next_frame = warp(image, flow) (eq. 7).

    >>> import torch
    >>> config = FGLAConfig(image_size=32, encoder_size=16, encoder_base_channels=4, encoder_depth=2,
    ...                     generator_base_channels=4, generator_depth=2)
    >>> model = FGLA(config)
    >>> image, groups = torch.zeros(1, 3, 32, 32), torch.zeros(1, 32, 32, dtype=torch.int64)
    >>> enc_flow, enc_masks = prepare_encoder_inputs(torch.zeros(1, 2, 32, 32), groups, 16)
    >>> out = model(image, groups, enc_flow, enc_masks)
    >>> tuple(out.latents.shape), tuple(out.flow.shape), tuple(out.next_frame.shape)
    ((1, 6, 2), (1, 2, 32, 32), (1, 3, 32, 32))
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from timelapse_d.segmentation.groups import GROUPS

from .encoder import FineGrainedEncoder, PlainEncoder
from .generator import UNetGenerator
from .latent_map import latent_map, one_hot_masks
from .warp import resize_flow, warp

NUM_SEMANTICS = len(GROUPS)
ENCODERS = {"fine-grained": FineGrainedEncoder, "plain": PlainEncoder}


@dataclasses.dataclass
class FGLAConfig:
    """Model hyper-parameters; defaults are paper scale (256x256 frames, 128x128 encoder input, c = 32)."""

    encoder: str = "fine-grained"  # "fine-grained" (the paper's E) or "plain" (the "w/o LM" ablation)
    image_size: int = 256
    encoder_size: int = 128
    latent_dim: int = 2
    encoder_base_channels: int = 64
    encoder_depth: int = 4
    encoder_max_channels: int = 512
    generator_base_channels: int = 64
    generator_depth: int = 5
    generator_max_channels: int = 512
    c: float = 32.0  # the generator's flow is tanh(.) / c, normalised units (eq. 6)
    encoder_norm: bool = True  # InstanceNorm in E's conv layers but the first (§4.2)
    generator_norm: bool = True  # InstanceNorm in P's conv layers but the first and the output (§4.2)
    still_semantics: tuple[str, ...] = ()  # semantics whose generated flow is exactly 0 (the paper: none)

    def __post_init__(self):
        if isinstance(self.still_semantics, str):
            raise ValueError(f"FGLAConfig.still_semantics must be a list of semantics, e.g. [{self.still_semantics!r}], "
                             f"got the string {self.still_semantics!r}")
        self.still_semantics = tuple(self.still_semantics)  # a TOML or checkpoint list
        unknown = [name for name in self.still_semantics if name not in GROUPS]
        if unknown:
            raise ValueError(f"FGLAConfig.still_semantics: unknown semantic {unknown[0]!r}; known: {', '.join(GROUPS)}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"FGLAConfig.encoder must be one of {sorted(ENCODERS)}, got {self.encoder!r}")
        for name in ("image_size", "encoder_size", "latent_dim", "encoder_base_channels", "encoder_depth",
                     "encoder_max_channels", "generator_base_channels", "generator_depth", "generator_max_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FGLAConfig.{name} must be a positive int, got {value!r}")
        step = 2**self.generator_depth
        if self.image_size % step or self.image_size < 2 * step:
            raise ValueError(f"FGLAConfig.image_size = {self.image_size} must be a multiple of "
                             f"2**generator_depth = {step} and at least {2 * step}")
        if self.encoder_size > self.image_size:
            raise ValueError(f"FGLAConfig.encoder_size = {self.encoder_size} must not exceed image_size = {self.image_size}")
        for name in ("encoder_norm", "generator_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"FGLAConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if not self.c >= 1:
            raise ValueError(f"FGLAConfig.c must be >= 1 (the paper's c > 1 bounds a step's flow), got {self.c}")


@dataclasses.dataclass
class FGLAOutput:
    """latents (B, K, D); flow (B, 2, H, W) normalised; next_frame (B, 3, H, W) in [-1, 1]."""

    latents: torch.Tensor
    flow: torch.Tensor
    next_frame: torch.Tensor


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (every tensor in ``module.parameters()``)."""
    return sum(p.numel() for p in module.parameters())


def prepare_encoder_inputs(flow_px: torch.Tensor, groups: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Data flow (B, 2, H, W) pixels and group ids (B, H, W) int64 -> encoder inputs at size x size.

    The flow is resized bilinearly with its values rescaled to pixels of the new grid; the masks are
    resized nearest ("nearest-exact": pixel centres) and made one-hot. Returns (flow (B, 2, s, s),
    masks (B, K, s, s) float in flow's dtype).
    """
    if groups.dim() != 3 or groups.dtype != torch.int64:
        raise ValueError(f"groups must be (B, H, W) int64, got {tuple(groups.shape)} {groups.dtype}")
    flow = resize_flow(flow_px, (size, size))  # (B, 2, s, s)
    small = F.interpolate(groups[:, None].float(), size=(size, size), mode="nearest-exact")  # (B, 1, s, s)
    masks = one_hot_masks(small[:, 0].long(), NUM_SEMANTICS, flow.dtype)  # (B, K, s, s)
    return flow, masks


class FGLA(nn.Module):
    """The fine-grained motion encoder E, the latent mapping and the U-Net motion generator P."""

    def __init__(self, config: FGLAConfig):
        super().__init__()
        self.config = config
        self.encoder = ENCODERS[config.encoder](
            num_semantics=NUM_SEMANTICS, latent_dim=config.latent_dim, base_channels=config.encoder_base_channels,
            depth=config.encoder_depth, max_channels=config.encoder_max_channels, norm=config.encoder_norm)
        self.generator = UNetGenerator(
            in_channels=config.latent_dim + 3, base_channels=config.generator_base_channels,
            depth=config.generator_depth, max_channels=config.generator_max_channels, c=config.c,
            norm=config.generator_norm)

    def encode(self, flow_px: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """flow_px (B, 2, s, s) pixels, masks (B, K, s, s) one-hot -> latents (B, K, D). Eq. 3-4."""
        s = self.config.encoder_size
        if tuple(flow_px.shape[-2:]) != (s, s):
            raise ValueError(f"encoder flow must be {s}x{s} (encoder_size), got {tuple(flow_px.shape)}")
        return self.encoder(flow_px, masks)

    def generate(self, image: torch.Tensor, groups: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """image (B, 3, S, S) in [-1, 1], groups (B, S, S) int64, latents (B, K, D) -> flow (B, 2, S, S) normalised."""
        S = self.config.image_size
        if image.dim() != 4 or tuple(image.shape[1:]) != (3, S, S):
            raise ValueError(f"image must be (B, 3, {S}, {S}), got {tuple(image.shape)}")
        if tuple(groups.shape) != (image.shape[0], S, S):
            raise ValueError(f"groups must be ({image.shape[0]}, {S}, {S}) to match image, got {tuple(groups.shape)}")
        # 2. map: each pixel takes its semantic's latent (eq. 5)
        masks = one_hot_masks(groups, NUM_SEMANTICS, image.dtype)  # (B, K, S, S)
        lmap = latent_map(latents.to(image.dtype), masks)  # (B, D, S, S)
        # 3. generate: F_hat = P(L + I) (eq. 6), 0 on the still semantics
        flow = self.generator(torch.cat([lmap, image], dim=1))  # (B, 2, S, S)
        if self.config.still_semantics:
            still = [GROUPS.index(name) for name in self.config.still_semantics]
            flow = flow * (1 - masks[:, still].sum(dim=1, keepdim=True))  # (B, 2, S, S)
        return flow

    def forward(self, image: torch.Tensor, groups: torch.Tensor, encoder_flow_px: torch.Tensor,
                encoder_masks: torch.Tensor) -> FGLAOutput:
        """One step: image_t (B, 3, S, S), groups (B, S, S) int64, encoder inputs from ``prepare_encoder_inputs``."""
        # 1. encode: per-semantic latents from the (flipped, downsampled) flow and masks
        latents = self.encode(encoder_flow_px, encoder_masks)  # (B, K, D)
        # 2-3. map the latents onto the frame's semantics and generate the flow
        flow = self.generate(image, groups, latents)  # (B, 2, S, S), normalised
        # 4. warp: I_hat_{t+1} = Warp(I_t, F_hat_t) (eq. 7)
        next_frame = warp(image, flow)  # (B, 3, S, S)
        return FGLAOutput(latents=latents, flow=flow, next_frame=next_frame)
