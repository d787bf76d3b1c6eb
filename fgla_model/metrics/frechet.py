"""Frechet distance between two Gaussians fitted to feature sets: the distance behind FID and FVD.

d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), computed in float64.

Tr (S1 S2)^(1/2) is taken as Tr (A S2 A)^(1/2) with A = S1^(1/2): S1 S2 is similar to the
symmetric positive semi-definite A S2 A, so both square roots have the same eigenvalues. Two
symmetric eigen-decompositions (`torch.linalg.eigh`) replace scipy's general `sqrtm`, so no complex
parts appear. Eigenvalues below the round-off tolerance D * eps * max|eigenvalue| (the tolerance of
`numpy.linalg.matrix_rank`) are taken as 0: the square root would otherwise turn round-off of size
1e-16 into errors of size 1e-8 per dimension. Singular covariances (fewer samples than dimensions)
therefore need no epsilon offset on the diagonal.

With fewer samples than dimensions (N1, N2 <= D, common for FVD's 400 and FID's 2048 dimensions)
`frechet_distance` uses the samples themselves: with X_k the centred features divided by
sqrt(N_k - 1), S_k = X_k^T X_k and Tr (S1 S2)^(1/2) is the sum of the singular values of the small
N1 x N2 matrix X1 X2^T. Exact, and far cheaper than two D x D eigen-decompositions.

>>> import torch
>>> frechet_distance_from_statistics(torch.zeros(2), torch.diag(torch.tensor([1.0, 4.0])),
...                                  torch.ones(2), torch.diag(torch.tensor([4.0, 9.0])))
4.0
"""
from __future__ import annotations

import torch
from torch import nn


def centred_samples(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) features, N >= 2 -> mean (D,) and X = (features - mean) / sqrt(N - 1) (N, D), float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"expected (N >= 2, D) features, got {tuple(features.shape)}")
    features = features.double()
    mean = features.mean(dim=0)
    return mean, (features - mean) / (features.shape[0] - 1) ** 0.5


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) features, N >= 2 -> mean (D,) and unbiased covariance X^T X (D, D), float64."""
    mean, samples = centred_samples(features)
    return mean, samples.T @ samples


def zero_roundoff(eigenvalues: torch.Tensor) -> torch.Tensor:
    """(D,) eigenvalues of a symmetric positive semi-definite matrix, those within round-off of 0 set to 0."""
    tolerance = eigenvalues.abs().max() * eigenvalues.shape[0] * torch.finfo(eigenvalues.dtype).eps
    return torch.where(eigenvalues > tolerance, eigenvalues, 0.0)


def sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite (D, D) matrix."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * zero_roundoff(eigenvalues).sqrt()) @ eigenvectors.T


def trace_sqrt_product(cov1: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """Tr (cov1 cov2)^(1/2) for symmetric positive semi-definite (D, D) matrices."""
    root1 = sqrt_psd(cov1)
    product = root1 @ cov2 @ root1
    product = (product + product.T) / 2  # symmetric up to round-off; make it exactly so for eigvalsh
    return zero_roundoff(torch.linalg.eigvalsh(product)).sqrt().sum()


def frechet_distance_from_statistics(
    mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """Squared Frechet distance between N(mean1, cov1) and N(mean2, cov2): means (D,), covariances (D, D)."""
    dim = mean1.shape[0]
    if mean1.shape != mean2.shape or cov1.shape != (dim, dim) or cov2.shape != (dim, dim):
        raise ValueError(
            f"expected means (D,) and covariances (D, D) of one D, got {tuple(mean1.shape)}, "
            f"{tuple(cov1.shape)}, {tuple(mean2.shape)}, {tuple(cov2.shape)}"
        )
    mean1, cov1, mean2, cov2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    distance = (mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt_product(cov1, cov2)
    return float(distance.clamp(min=0))


def frechet_distance(features1: torch.Tensor, features2: torch.Tensor) -> float:
    """Squared Frechet distance between Gaussians fitted to (N1, D) and (N2, D) features."""
    mean1, samples1 = centred_samples(features1)
    mean2, samples2 = centred_samples(features2)
    if samples1.shape[1] != samples2.shape[1]:
        raise ValueError(f"expected features of one D, got {tuple(features1.shape)} and {tuple(features2.shape)}")
    if max(samples1.shape[0], samples2.shape[0]) > samples1.shape[1]:
        return frechet_distance_from_statistics(mean1, samples1.T @ samples1, mean2, samples2.T @ samples2)
    trace_sqrt = torch.linalg.svdvals(samples1 @ samples2.T).sum()  # Tr (S1 S2)^(1/2) from the (N1, N2) matrix
    distance = (mean1 - mean2).square().sum() + samples1.square().sum() + samples2.square().sum() - 2 * trace_sqrt
    return float(distance.clamp(min=0))


@torch.no_grad()
def network_features(network: nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Run `network` over (N, ...) `inputs` in batches on the network's device -> (N, D) features on the CPU."""
    device = next(network.parameters()).device
    return torch.cat([network(batch.to(device)).cpu() for batch in inputs.split(batch_size)])
