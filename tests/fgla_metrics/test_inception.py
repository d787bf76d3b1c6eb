import pytest
import torch

from fgla_model.metrics import FIDInceptionV3, MissingWeights, WeightsMismatch, fid

from . import randomly_initialised

# torchvision's Inception-v3 without AuxLogits, 1000-class fc: 23,834,568 parameters, of which fc is 2,049,000
BACKBONE_PARAMETERS = 23_834_568 - 2_049_000
# a few keys and shapes of pt_inception-2015-12-05-6726825d.pth
KNOWN_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.bn.running_var": (192,),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A random FID Inception saved in the layout of pytorch-fid's file, its 1008-class fc included."""
    model = randomly_initialised(FIDInceptionV3())
    path = tmp_path_factory.mktemp("inception") / "pt_inception.pth"
    torch.save({**model.state_dict(), "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, path)
    return model, path


def images(n, seed, size=64):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_layout_is_that_of_the_fid_weights():
    model = FIDInceptionV3()
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == BACKBONE_PARAMETERS
    assert {key: tuple(state[key].shape) for key in KNOWN_KEYS} == KNOWN_KEYS


def test_features_and_fid_of_a_model_loaded_from_file(saved_model):
    original, path = saved_model
    model = FIDInceptionV3.from_file(path)
    assert not model.training
    original_state = original.state_dict()
    assert all(torch.equal(value, original_state[key]) for key, value in model.state_dict().items())
    real, fake = images(3, seed=0), images(3, seed=1)
    with torch.no_grad():
        features = model(real)
    assert features.shape == (3, 2048)
    assert features.std(dim=0).mean() > 1e-3  # random weights, yet features that tell images apart
    assert fid(real, real, model, batch_size=2) == pytest.approx(0.0, abs=1e-6)
    assert fid(real, fake, model) > 1e-3


def test_absent_or_foreign_files_are_named(saved_model, tmp_path):
    with pytest.raises(MissingWeights, match="pt_inception-2015-12-05-6726825d.pth"):
        FIDInceptionV3.from_file(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    state = torch.load(saved_model[1], weights_only=True)
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)  # torchvision's own checkpoint has these
    torch.save(state, tmp_path / "torchvision.pth")
    with pytest.raises(WeightsMismatch, match="torchvision.pth.*AuxLogits.fc.weight"):
        FIDInceptionV3.from_file(tmp_path / "torchvision.pth")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        saved_model[0](torch.zeros(2, 1, 64, 64))
