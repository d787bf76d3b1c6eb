"""Masked PSNR and SSIM: scores on the static pixels of a ground-truth video (paper §4.3, eq. 14).

Frames are tensors in [-1, 1] (the model's range); both scores are computed on the 0-255 scale,
x_255 = (x + 1) * 127.5, without rounding to integers.

Mask (eq. 14): over the L ground-truth frames, a pixel's motion is the mean over the L - 1
consecutive pairs of |I_{i+1} - I_i|_1, the L1 norm over the RGB channels (the sum of the three
absolute differences, 0-255 scale). Motion > t (t = 2.5) marks a DYNAMIC pixel, masked OUT.

>>> import torch
>>> real = torch.zeros(1, 4, 3, 16, 16)          # (N, L, 3, H, W): one ground-truth video
>>> real[:, 1::2, :, :4] = 0.5                   # its top 4 rows flicker: dynamic
>>> static = static_mask(real)                   # (N, 1, H, W): broadcasts over the L frames
>>> static[0, 0, :, 0].tolist()[2:6]
[False, False, True, True]
>>> fake = real + 10 / 127.5                      # off by 10 (of 255) everywhere ...
>>> fake[:, :, :, :4] = -1.0                     # ... and far off where the mask ignores it
>>> masked_psnr(fake, real, static).round(decimals=2)   # (N, L): one score per frame, 10 log10(255^2 / 10^2)
tensor([[28.1300, 28.1300, 28.1300, 28.1300]])
>>> masked_ssim(real, real, static)
tensor([[1., 1., 1., 1.]])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

MOTION_THRESHOLD = 2.5
SSIM_WINDOW = 11  # Gaussian window of Wang et al. (2004): 11 x 11, sigma 1.5
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0


def to_255(frames: torch.Tensor) -> torch.Tensor:
    """Float frames in [-1, 1] -> [0, 255]; integer frames (uint8 0-255?) are refused rather than misread."""
    if not frames.is_floating_point():
        raise ValueError(f"expected float frames in [-1, 1], got {frames.dtype} (uint8 frames: x / 127.5 - 1)")
    return frames * 127.5 + 127.5


def check_frames(fake: torch.Tensor, real: torch.Tensor) -> None:
    """Two (..., 3, H, W) tensors of one shape."""
    if fake.shape != real.shape or fake.dim() < 3 or fake.shape[-3] != 3:
        raise ValueError(
            f"expected two (..., 3, H, W) tensors of one shape, got {tuple(fake.shape)} and {tuple(real.shape)}"
        )


def static_mask(real_video: torch.Tensor, threshold: float = MOTION_THRESHOLD) -> torch.Tensor:
    """(..., L, 3, H, W) ground-truth frames in [-1, 1], L >= 2 -> (..., 1, H, W) bool, True = static."""
    if real_video.dim() < 4 or real_video.shape[-3] != 3 or real_video.shape[-4] < 2:
        raise ValueError(f"expected (..., L >= 2, 3, H, W) frames, got {tuple(real_video.shape)}")
    pixels = to_255(real_video)
    motion = (pixels[..., 1:, :, :, :] - pixels[..., :-1, :, :, :]).abs().sum(dim=-3)  # (..., L-1, H, W)
    return motion.mean(dim=-3, keepdim=True) <= threshold  # (..., 1, H, W)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (..., H, W) `values` over the pixels where `mask` (broadcastable) is True -> (...); NaN where none is."""
    weights = mask.to(values.dtype).expand_as(values)
    return (values * weights).sum(dim=(-2, -1)) / weights.sum(dim=(-2, -1))


def masked_psnr(fake: torch.Tensor, real: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """PSNR in dB over the static pixels (all three channels) of each frame.

    fake, real: (..., 3, H, W) in [-1, 1]; static: bool, broadcastable to (..., H, W).
    Returns (...): inf for a frame equal to the ground truth on its static pixels, NaN for a frame
    without static pixels.
    """
    check_frames(fake, real)
    squared_error = (to_255(fake) - to_255(real)).square().mean(dim=-3)  # (..., H, W)
    return 10 * torch.log10(DATA_RANGE**2 / masked_mean(squared_error, static))


def gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(11, 11) normalised Gaussian, sigma 1.5."""
    offsets = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - SSIM_WINDOW // 2
    line = torch.exp(-offsets.square() / (2 * SSIM_SIGMA**2))
    line = line / line.sum()
    return line[:, None] * line[None, :]


def ssim_map(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM, mean over the channels: (..., 3, H, W) in [-1, 1] -> (..., H - 10, W - 10).

    The Gaussian window is applied without padding ('valid'), so the map covers the pixels at least
    5 away from the border (those whose window lies inside the image).
    """
    check_frames(fake, real)
    height, width = fake.shape[-2:]
    if min(height, width) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW} x {SSIM_WINDOW}, got {height} x {width}")
    x = to_255(fake).reshape(-1, 1, height, width)  # (B * 3, 1, H, W), one channel per image
    y = to_255(real).reshape(-1, 1, height, width)
    window = gaussian_window(x.dtype, x.device).expand(5, 1, SSIM_WINDOW, SSIM_WINDOW)
    moments = F.conv2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), window, groups=5)  # (B * 3, 5, H-10, W-10)
    mu_x, mu_y, xx, yy, xy = moments.unbind(dim=1)
    var_x, var_y, cov_xy = xx - mu_x.square(), yy - mu_y.square(), xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return ssim.reshape(*fake.shape[:-2], *ssim.shape[-2:]).mean(dim=-3)  # (..., H-10, W-10)


def masked_ssim(fake: torch.Tensor, real: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """SSIM (Gaussian 11 x 11, sigma 1.5, K1 0.01, K2 0.03, range 255) averaged over static pixels.

    fake, real: (..., 3, H, W) in [-1, 1], H, W >= 11; static: bool, broadcastable to (..., H, W).
    The SSIM map is computed on the whole frame (`ssim_map`), then averaged over the static pixels
    it covers (a 5-pixel border is outside the map). With every pixel static this equals
    skimage's `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=255)`. Returns (...): NaN for a frame without static pixels.
    """
    border = SSIM_WINDOW // 2
    return masked_mean(ssim_map(fake, real), static[..., border:-border, border:-border])
