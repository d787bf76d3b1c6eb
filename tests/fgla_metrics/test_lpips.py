import pytest
import torch

from fgla_model.metrics import LPIPS, MissingWeights, WeightsMismatch

from . import randomly_initialised

# torchvision's alexnet().features: conv index -> weight shape (biases are (out,))
ALEXNET_CONVS = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
# LPIPS v0.1 alex.pth
LINEAR_SHAPES = {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}


def random_lpips() -> LPIPS:
    lpips = randomly_initialised(LPIPS())
    with torch.no_grad():
        for weight in lpips.heads.parameters():
            weight.abs_()  # LPIPS's learned weights are non-negative
    return lpips


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """A random LPIPS written as torchvision's AlexNet file (classifier included) and as alex.pth."""
    directory = tmp_path_factory.mktemp("lpips")
    lpips = random_lpips()
    classifier = {"classifier.6.weight": torch.zeros(1000, 4096), "classifier.6.bias": torch.zeros(1000)}
    backbone = {**lpips.backbone.state_dict(), **classifier}
    torch.save(backbone, directory / "alexnet.pth")
    torch.save(lpips.heads.state_dict(), directory / "alex.pth")
    return lpips, directory / "alexnet.pth", directory / "alex.pth"


def images(n, seed, size=64):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_files_have_the_layout_of_torchvision_and_lpips(weight_files):
    _, backbone_path, linear_path = weight_files
    backbone = torch.load(backbone_path, weights_only=True)
    expected = {f"features.{i}.weight": shape for i, shape in ALEXNET_CONVS.items()}
    expected |= {f"features.{i}.bias": shape[:1] for i, shape in ALEXNET_CONVS.items()}
    assert {k: tuple(v.shape) for k, v in backbone.items() if k.startswith("features.")} == expected
    linear = torch.load(linear_path, weights_only=True)
    assert {k: tuple(v.shape) for k, v in linear.items()} == LINEAR_SHAPES


def test_loaded_from_files_it_computes_what_it_was_saved_from(weight_files):
    original, backbone_path, linear_path = weight_files
    loaded = LPIPS.from_files(backbone_path, linear_path)
    x, y = images(2, seed=0), images(2, seed=1)
    assert torch.equal(loaded(x, y), original(x, y))
    assert not loaded.training


def test_distance_properties(weight_files):
    lpips = LPIPS.from_files(*weight_files[1:])
    x, y = images(3, seed=2), images(3, seed=3)
    with torch.no_grad():
        d_xy, d_yx, d_xx = lpips(x, y), lpips(y, x), lpips(x, x)
        d_near = lpips(x, (x + 0.05 * y).clamp(-1, 1))
    assert d_xy.shape == (3,)
    assert torch.equal(d_xx, torch.zeros(3))
    assert torch.allclose(d_xy, d_yx)
    assert (d_xy > 0).all()
    assert (d_near < d_xy).all()
    with pytest.raises(ValueError, match="one shape"):
        lpips(x, y[:2])


def test_from_hub_loads_the_same_files(weight_files, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    original, backbone_path, linear_path = weight_files
    lpips = LPIPS.from_hub(backbone_path.as_uri(), linear_path.as_uri())
    x, y = images(1, seed=4), images(1, seed=5)
    assert torch.equal(lpips(x, y), original(x, y))


def test_absent_or_wrong_files_are_named(weight_files, tmp_path):
    _, backbone_path, linear_path = weight_files
    with pytest.raises(MissingWeights, match="absent_alex.pth"):
        LPIPS.from_files(backbone_path, tmp_path / "absent_alex.pth")
    linear = torch.load(linear_path, weights_only=True)
    linear["lin2.model.0.weight"] = linear.pop("lin2.model.1.weight")  # a v0.0-style or hand-made key
    torch.save(linear, tmp_path / "renamed.pth")
    with pytest.raises(WeightsMismatch, match=r"renamed.pth.*lin2.model.1.weight.*lin2.model.0.weight"):
        LPIPS.from_files(backbone_path, tmp_path / "renamed.pth")
