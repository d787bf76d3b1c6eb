import math

import pytest
import torch

from fgla_model.metrics.masked import masked_psnr, masked_ssim, ssim_map, static_mask

STEP = 1 / 127.5  # one grey level of 0-255, in [-1, 1]


def random_frames(*shape, seed=0, dtype=torch.float64):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1


def test_mask_is_the_mean_over_pairs_of_the_l1_norm_over_channels():
    video = torch.zeros(1, 4, 3, 2, 3, dtype=torch.float64)  # (N, L, 3, H, W): 3 consecutive pairs
    video[0, 1:, 0, 0, 0] = 6 * STEP        # one change of 6 in one channel: mean 2 per pair -> static
    video[0, 1:, 0, 0, 1] = 9 * STEP        # one change of 9: mean 3 -> dynamic
    video[0, 1:, :, 0, 2] = 3 * STEP        # 3 in each channel: L1 norm 9, mean 3 -> dynamic
    video[0, 1:, 1, 1, 0] = 7.5 * STEP      # mean exactly 2.5 -> static (dynamic is > t)
    video[0, 1::2, 2, 1, 1] = 3 * STEP      # flickers by 3 at every pair -> dynamic
    static = static_mask(video)
    assert static.shape == (1, 1, 2, 3)
    assert static[0, 0].tolist() == [[True, False, False], [True, False, True]]


def test_mask_threshold_and_leading_dimensions():
    video = random_frames(2, 5, 4, 3, 8, 8) * 0.01  # (batch, clips, L, 3, H, W), small motion
    assert static_mask(video).shape == (2, 5, 1, 8, 8)
    assert not static_mask(video, threshold=0.0).any()
    assert static_mask(video, threshold=1000.0).all()
    with pytest.raises(ValueError, match="L >= 2"):
        static_mask(video[:, :, :1])


def test_psnr_counts_only_static_pixels():
    real = random_frames(2, 3, 16, 16)
    static = torch.zeros(2, 16, 16, dtype=torch.bool)
    static[:, 4:, :] = True
    fake = real.clone()
    fake[:, :, :4] = -real[:, :, :4]        # wrong on masked-out rows only
    fake[:, :, 4:] += 5 * STEP              # off by 5 grey levels on the static ones
    expected = 20 * math.log10(255 / 5)
    assert torch.allclose(masked_psnr(fake, real, static), torch.full((2,), expected, dtype=torch.float64))
    assert masked_psnr(fake, real, torch.ones_like(static)).max() < expected - 1


def test_psnr_matches_the_formula_on_the_selected_pixels():
    real, fake = random_frames(3, 20, 24, seed=1), random_frames(3, 20, 24, seed=2)
    static = torch.rand(20, 24, generator=torch.Generator().manual_seed(3)) > 0.4
    difference = ((fake - real) * 127.5)[:, static]  # (3, pixels)
    expected = 10 * math.log10(255**2 / difference.square().mean().item())
    assert masked_psnr(fake, real, static).item() == pytest.approx(expected, rel=1e-9)


def test_psnr_edge_cases():
    real = random_frames(3, 16, 16)
    assert masked_psnr(real, real, torch.ones(16, 16, dtype=torch.bool)).item() == math.inf
    assert math.isnan(masked_psnr(real, -real, torch.zeros(16, 16, dtype=torch.bool)).item())
    with pytest.raises(ValueError, match="one shape"):
        masked_psnr(real, real[:, :8], torch.ones(16, 16, dtype=torch.bool))


def test_ssim_equals_skimage_when_every_pixel_is_static():
    metrics = pytest.importorskip("skimage.metrics")
    real, fake = random_frames(3, 40, 48, seed=4), random_frames(3, 40, 48, seed=5)
    fake = 0.6 * real + 0.4 * fake          # related images: SSIM well away from 0
    expected = metrics.structural_similarity(
        ((fake + 1) * 127.5).numpy(), ((real + 1) * 127.5).numpy(), channel_axis=0,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
    )
    assert masked_ssim(fake, real, torch.ones(40, 48, dtype=torch.bool)).item() == pytest.approx(expected, abs=1e-9)


def test_ssim_averages_skimages_map_over_static_pixels():
    metrics = pytest.importorskip("skimage.metrics")
    real, fake = random_frames(3, 32, 32, seed=6), random_frames(3, 32, 32, seed=7)
    fake = 0.5 * real + 0.5 * fake
    _, full_map = metrics.structural_similarity(
        ((fake + 1) * 127.5).numpy(), ((real + 1) * 127.5).numpy(), channel_axis=0, full=True,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
    )
    static = torch.rand(32, 32, generator=torch.Generator().manual_seed(8)) > 0.5
    inner = (slice(5, -5), slice(5, -5))
    expected = torch.from_numpy(full_map).mean(dim=0)[inner][static[inner]].mean().item()
    assert masked_ssim(fake, real, static).item() == pytest.approx(expected, abs=1e-9)


def test_ssim_ignores_changes_away_from_static_pixels():
    real = random_frames(3, 40, 40, seed=9)
    static = torch.zeros(40, 40, dtype=torch.bool)
    static[:20] = True
    fake = real.clone()
    fake[:, 26:] = random_frames(3, 14, 40, seed=10)   # more than 5 rows (half a window) from any static pixel
    assert masked_ssim(fake, real, static).item() == pytest.approx(1.0, abs=1e-12)
    assert masked_ssim(fake, real, ~static).item() < 0.5


def test_batched_videos_score_frame_by_frame():
    real, fake = random_frames(2, 4, 3, 24, 24, seed=11), random_frames(2, 4, 3, 24, 24, seed=12)
    static = static_mask(real, threshold=170.0)      # (N, 1, H, W), some pixels either way
    assert 0 < static.sum() < static.numel()
    psnr, ssim = masked_psnr(fake, real, static), masked_ssim(fake, real, static)
    assert psnr.shape == ssim.shape == (2, 4)
    for n in range(2):
        for t in range(4):
            assert psnr[n, t] == pytest.approx(masked_psnr(fake[n, t], real[n, t], static[n, 0]).item(), rel=1e-12)
            assert ssim[n, t] == pytest.approx(masked_ssim(fake[n, t], real[n, t], static[n, 0]).item(), rel=1e-12)


def test_ssim_needs_a_full_window():
    frames = random_frames(3, 10, 16)
    with pytest.raises(ValueError, match="at least 11"):
        ssim_map(frames, frames)


def test_integer_frames_are_refused():
    frames = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="float frames"):
        static_mask(frames)
    with pytest.raises(ValueError, match="float frames"):
        masked_psnr(frames, frames, torch.ones(16, 16, dtype=torch.bool))
