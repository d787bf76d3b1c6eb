import numpy as np
import pytest
import torch

from fgla_model.metrics import I3D, MissingWeights, frechet_distance, fvd
from fgla_model.metrics.i3d import INPUT_SIZE, MIN_FRAMES, Unit3D, resize_bilinear_tf1

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


def tf1_resize_bilinear_numpy(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """TF1's legacy resize_bilinear in float64, written from its definition: output i reads position
    i * in / out (computed in float32, as TensorFlow does), weights (1 - f, f) on pixels floor and
    floor + 1, the latter clamped to the last pixel."""
    def axis(in_size, out_size):
        position = np.arange(out_size, dtype=np.float32) * (np.float32(in_size) / np.float32(out_size))
        low = np.floor(position).astype(int)
        return low, np.minimum(low + 1, in_size - 1), position.astype(np.float64) - low

    y0, y1, fy = axis(images.shape[-2], height)
    x0, x1, fx = axis(images.shape[-1], width)
    y0, y1, fy = y0[:, None], y1[:, None], fy[:, None]
    return ((1 - fy) * (1 - fx) * images[..., y0, x0] + (1 - fy) * fx * images[..., y0, x1]
            + fy * (1 - fx) * images[..., y1, x0] + fy * fx * images[..., y1, x1])


@pytest.mark.parametrize("in_size, out_size", [((256, 256), (224, 224)), ((64, 64), (224, 224)),
                                               ((48, 80), (224, 224)), ((30, 50), (20, 70))])
def test_resize_matches_tf1_legacy_resize_bilinear(in_size, out_size):
    images = torch.rand(2, 3, *in_size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = tf1_resize_bilinear_numpy(images.double().numpy(), *out_size)
    np.testing.assert_allclose(resize_bilinear_tf1(images, out_size).numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("in_size, out_size", [((256, 256), (224, 224)), ((64, 48), (224, 224))])
def test_resize_of_a_ramp_reads_at_index_times_scale_clamped_at_the_last_pixel(in_size, out_size):
    rows, columns = torch.meshgrid(torch.arange(in_size[0]), torch.arange(in_size[1]), indexing="ij")
    ramps = torch.stack([rows, columns]).float()[None]  # (1, 2, H, W): value = row index, value = column index
    resized = resize_bilinear_tf1(ramps, out_size)[0]
    y = (torch.arange(out_size[0]) * in_size[0] / out_size[0]).clamp(max=in_size[0] - 1)
    x = (torch.arange(out_size[1]) * in_size[1] / out_size[1]).clamp(max=in_size[1] - 1)
    torch.testing.assert_close(resized[0], y[:, None].expand(out_size), rtol=0, atol=1e-4)
    torch.testing.assert_close(resized[1], x[None, :].expand(out_size), rtol=0, atol=1e-4)
    assert resized[:, 0, 0].tolist() == [0, 0]  # the first output pixel is the first input pixel: no half-pixel shift


def test_resize_gives_the_values_tensorflow_gives():
    # tf.compat.v1.image.resize_bilinear(x, size=(3, 8)) with its defaults, TensorFlow 2.21, CPU
    tensorflow = [[0.0, 0.625, 1.75, 3.625, 6.5, 9.875, 14.25, 16.0],
                  [50.0, 58.958336, 68.41667, 78.625, 89.833336, 101.54167, 114.25, 119.33334],
                  [183.33334, 200.625, 218.41669, 236.95834, 256.5, 276.54168, 297.58334, 306.0]]
    x = torch.arange(20.0).reshape(1, 1, 4, 5) ** 2
    torch.testing.assert_close(resize_bilinear_tf1(x, (3, 8))[0, 0], torch.tensor(tensorflow), rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\) images, got \(4, 5\)"):
        resize_bilinear_tf1(x[0, 0], (3, 8))


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
    frames = resize_bilinear_tf1(real.flatten(0, 1), (INPUT_SIZE, INPUT_SIZE))  # the network's own resize
    with torch.no_grad():
        torch.testing.assert_close(model(frames.unflatten(0, real.shape[:2])), features[:2])
    distance = fvd(real, fake, model, batch_size=1)
    assert distance > 1e-3
    assert distance == pytest.approx(frechet_distance(features[:2], features[2:]), rel=1e-4)
    with pytest.raises(ValueError, match="T >= 9"):
        model(videos(1, MIN_FRAMES - 1, seed=2))
    with pytest.raises(MissingWeights, match="rgb_imagenet.pt"):
        I3D.from_file(tmp_path / "rgb_imagenet.pt")
