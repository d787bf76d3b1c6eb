import pytest
import torch

from fgla_model.metrics import I3D, MissingWeights, frechet_distance, fvd
from fgla_model.metrics.i3d import MIN_FRAMES, Unit3D

from . import randomly_initialised

# a few keys and shapes of pytorch-i3d's rgb_imagenet.pt
KNOWN_KEYS = {
    "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
    "Conv3d_2c_3x3.bn.running_var": (192,),
    "Mixed_3b.b1b.conv3d.weight": (128, 96, 3, 3, 3),
    "Mixed_4f.b3b.conv3d.weight": (128, 528, 1, 1, 1),
    "Mixed_5c.b2b.bn.bias": (128,),
    "logits.conv3d.weight": (400, 1024, 1, 1, 1),
    "logits.conv3d.bias": (400,),
}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A random I3D saved as a file of pytorch-i3d's era: no `num_batches_tracked`."""
    model = randomly_initialised(I3D())
    path = tmp_path_factory.mktemp("i3d") / "rgb_imagenet.pt"
    torch.save({k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return model, path


def videos(n, frames, seed, size=32):
    return torch.rand(n, frames, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_layout_is_that_of_pytorch_i3d():
    state = I3D().state_dict()
    assert {key: tuple(state[key].shape) for key in KNOWN_KEYS} == KNOWN_KEYS
    assert not any(key.startswith(("MaxPool", "avg_pool")) for key in state)


@pytest.mark.parametrize("size, kernel, stride", [(224, 7, 2), (9, 7, 2), (5, 3, 2), (7, 1, 1), (6, 3, 3)])
def test_same_padding_gives_ceil_of_size_over_stride(size, kernel, stride):
    unit = Unit3D(1, 1, kernel=(kernel, 1, 1), stride=(stride, 1, 1))
    assert unit(torch.zeros(1, 1, size, 2, 2)).shape[2] == -(-size // stride)


def test_features_and_fvd_of_a_model_loaded_from_file(saved_model, tmp_path):
    original, path = saved_model
    model = I3D.from_file(path)
    original_state = original.state_dict()
    assert all(torch.equal(value, original_state[key]) for key, value in model.state_dict().items())
    real, fake = videos(2, MIN_FRAMES, seed=0), videos(2, MIN_FRAMES, seed=1)
    with torch.no_grad():
        features = model(torch.cat([real, fake]))
    assert features.shape == (4, 400)
    assert (features[0] - features[1]).abs().max() > 1e-3  # random weights, yet features that tell videos apart
    distance = fvd(real, fake, model, batch_size=1)
    assert distance > 1e-3
    assert distance == pytest.approx(frechet_distance(features[:2], features[2:]), rel=1e-4)
    with pytest.raises(ValueError, match="T >= 9"):
        model(videos(1, MIN_FRAMES - 1, seed=2))
    with pytest.raises(MissingWeights, match="rgb_imagenet.pt"):
        I3D.from_file(tmp_path / "rgb_imagenet.pt")
