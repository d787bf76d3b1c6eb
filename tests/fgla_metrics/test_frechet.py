import pytest
import torch

from fgla_model.metrics.frechet import frechet_distance, frechet_distance_from_statistics, gaussian_statistics


def generator(seed):
    return torch.Generator().manual_seed(seed)


def random_rotation(dim, seed):
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator(seed), dtype=torch.float64))
    return q * r.diagonal().sign()


def closed_form(mean1, mean2, variances1, variances2):
    """Gaussians whose covariances share eigenvectors: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2."""
    return ((mean1 - mean2).square().sum() + (variances1.sqrt() - variances2.sqrt()).square().sum()).item()


def test_diagonal_covariances_give_the_closed_form():
    g = generator(0)
    mean1, mean2 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    a, b = torch.rand(5, generator=g) + 0.1, torch.rand(5, generator=g) * 3
    d = frechet_distance_from_statistics(mean1, torch.diag(a), mean2, torch.diag(b))
    assert d == pytest.approx(closed_form(mean1.double(), mean2.double(), a.double(), b.double()), rel=1e-10)


def test_covariances_with_shared_rotated_eigenvectors_give_the_closed_form():
    rotation = random_rotation(8, seed=1)
    a = torch.linspace(0.1, 4.0, 8, dtype=torch.float64)
    b = torch.linspace(3.0, 0.0, 8, dtype=torch.float64)  # singular: one variance is 0
    cov1, cov2 = rotation @ torch.diag(a) @ rotation.T, rotation @ torch.diag(b) @ rotation.T
    mean1, mean2 = torch.zeros(8, dtype=torch.float64), torch.full((8,), 0.5, dtype=torch.float64)
    expected = closed_form(mean1, mean2, a, b)
    assert frechet_distance_from_statistics(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance_from_statistics(mean2, cov2, mean1, cov1) == pytest.approx(expected, rel=1e-9)


def test_general_covariances_match_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    g = generator(2)
    x, y = torch.randn(6, 6, generator=g, dtype=torch.float64), torch.randn(6, 6, generator=g, dtype=torch.float64)
    cov1, cov2 = x @ x.T, y @ y.T + torch.eye(6, dtype=torch.float64)
    mean1, mean2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    root = linalg.sqrtm((cov1 @ cov2).numpy()).real
    expected = ((mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * root.trace()).item()
    assert frechet_distance_from_statistics(mean1, cov1, mean2, cov2) == pytest.approx(expected, rel=1e-8)


def test_samples_converge_to_the_distance_of_their_gaussians():
    rotation = random_rotation(3, seed=3)
    a = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    b = torch.tensor([2.0, 0.3, 1.0], dtype=torch.float64)
    mean1 = torch.zeros(3, dtype=torch.float64)
    mean2 = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    g = generator(4)
    samples1 = mean1 + (torch.randn(200_000, 3, generator=g, dtype=torch.float64) * a.sqrt()) @ rotation.T
    samples2 = mean2 + (torch.randn(200_000, 3, generator=g, dtype=torch.float64) * b.sqrt()) @ rotation.T
    assert frechet_distance(samples1, samples2) == pytest.approx(closed_form(mean1, mean2, a, b), rel=0.02)


def test_fewer_samples_than_dimensions():
    features = torch.randn(4, 300, generator=generator(5))  # float32 like network features; covariance of rank 3
    shift = torch.full((300,), 0.1)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(features, features + shift) == pytest.approx(300 * 0.01, rel=1e-6)
    assert frechet_distance(features, 2 * features) > frechet_distance(features, 1.1 * features) > 0


def test_statistics_and_input_checks():
    features = torch.randn(10, 3, generator=generator(6))
    mean, cov = gaussian_statistics(features)
    assert mean.dtype == cov.dtype == torch.float64
    assert torch.allclose(cov, torch.from_numpy(features.double().numpy().T).cov())
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(features[:1], features)
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(features, torch.randn(10, 4))


@pytest.mark.parametrize("n1, n2", [(5, 7), (40, 9)])  # both <= D: from the samples; else: from the covariances
def test_both_routes_agree(n1, n2):
    g = generator(7)
    features1 = torch.randn(n1, 30, generator=g, dtype=torch.float64)
    features2 = torch.randn(n2, 30, generator=g, dtype=torch.float64) * 1.5 + 0.2
    from_statistics = frechet_distance_from_statistics(*gaussian_statistics(features1), *gaussian_statistics(features2))
    assert frechet_distance(features1, features2) == pytest.approx(from_statistics, rel=1e-9)
