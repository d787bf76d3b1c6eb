"""Evaluation metrics of the paper (§4.3): masked PSNR / SSIM, LPIPS, FID, FVD. See docs/metrics.md.

One module per concept: `masked` (eq. 14 mask, PSNR, SSIM), `frechet` (the distance behind FID and
FVD), `lpips`, `inception` (FID), `i3d` (FVD), `weights` (loading files; `MissingWeights`).
Network metrics need weights files; a loader raises `MissingWeights` when one is absent.
"""
from .frechet import frechet_distance, frechet_distance_from_statistics, gaussian_statistics
from .i3d import I3D, fvd
from .inception import FIDInceptionV3, fid
from .lpips import LPIPS
from .masked import masked_psnr, masked_ssim, static_mask
from .weights import MissingWeights, WeightsMismatch

__all__ = [
    "FIDInceptionV3", "I3D", "LPIPS", "MissingWeights", "WeightsMismatch",
    "fid", "frechet_distance", "frechet_distance_from_statistics", "fvd", "gaussian_statistics",
    "masked_psnr", "masked_ssim", "static_mask",
]
