"""Encoders, latent map, generator, the FGLA model, its config and checkpoints (tiny configs, CPU)."""
import dataclasses

import pytest
import torch

from fgla_model import checkpoint
from fgla_model.encoder import FineGrainedEncoder, PlainEncoder
from fgla_model.generator import UNetGenerator
from fgla_model.latent_map import latent_map, one_hot_masks
from fgla_model.model import FGLA, FGLAConfig, count_parameters, prepare_encoder_inputs
from fgla_model.warp import warp

TINY = dict(image_size=32, encoder_size=16, encoder_base_channels=4, encoder_depth=2,
            generator_base_channels=4, generator_depth=2)


def groups_with_all_semantics(B, size, seed=0):
    """(B, size, size) int64: six horizontal bands (one per semantic) plus random speckle."""
    g = torch.Generator().manual_seed(seed)
    bands = (torch.arange(size) * 6 // size).view(1, size, 1).expand(B, size, size).clone()
    speckle = torch.rand(B, size, size, generator=g) < 0.1
    bands[speckle] = torch.randint(0, 6, (int(speckle.sum()),), generator=g)
    return bands


def encoder_inputs(B=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    flow = torch.randn(B, 2, size, size, generator=g) * 3
    masks = one_hot_masks(groups_with_all_semantics(B, size, seed), 6)
    return flow, masks


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return FineGrainedEncoder(base_channels=4, depth=2)


def test_fine_grained_encoder_shape_and_batch_independence(encoder):
    flow, masks = encoder_inputs(B=3)
    latents = encoder(flow, masks)
    assert latents.shape == (3, 6, 2)
    torch.testing.assert_close(encoder(flow[1:2], masks[1:2]), latents[1:2])


def test_semantics_are_folded_into_the_batch_in_order(encoder):
    flow, masks = encoder_inputs()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(encoder(flow, masks[:, perm]), encoder(flow, masks)[:, perm])
    # one semantic alone gives the same latent as among the six
    alone = torch.zeros_like(masks)
    alone[:, 4] = masks[:, 4]
    torch.testing.assert_close(encoder(flow, alone)[:, 4], encoder(flow, masks)[:, 4])


def test_a_latent_depends_only_on_the_flow_inside_its_mask(encoder):
    flow, masks = encoder_inputs()
    outside_sky = (1 - masks[:, :1]).expand_as(flow)
    changed = flow + 10 * torch.randn_like(flow) * outside_sky
    before, after = encoder(flow, masks), encoder(changed, masks)
    assert torch.equal(before[:, 0], after[:, 0])
    assert not torch.allclose(before[:, 1:], after[:, 1:])


def test_absent_semantic_gets_exactly_the_zero_latent_and_finite_gradients(encoder):
    flow, masks = encoder_inputs()
    masks[0, 5] = 0.0  # "others" absent from frame 0
    masks[0, 0] = 1.0 - masks[0, 1:].sum(0)  # its pixels become sky
    flow.requires_grad_(True)
    latents = encoder(flow, masks)
    assert torch.equal(latents[0, 5], torch.zeros(2))
    assert torch.isfinite(latents).all() and latents[1, 5].abs().sum() > 0
    latents.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())
    assert torch.isfinite(flow.grad).all()


def test_encoder_sees_the_flow_magnitude(encoder):
    flow, masks = encoder_inputs()
    assert (encoder(2 * flow, masks) - encoder(flow, masks)).abs().max() > 1e-4


@pytest.mark.parametrize("norm", [True, False])
def test_instance_norm_makes_the_encoder_blind_to_the_magnitude(norm):
    """With its biases at 0, E without InstanceNorm is positively homogeneous, E(2F) = 2 E(F): the latent
    carries the speed. With the paper's InstanceNorm the scale is divided out: E(2F) = E(F) (docs/model.md)."""
    torch.manual_seed(0)
    encoder = FineGrainedEncoder(base_channels=4, depth=3, norm=norm)
    for module in encoder.modules():
        if getattr(module, "bias", None) is not None:
            torch.nn.init.zeros_(module.bias)
    flow, masks = encoder_inputs()
    torch.testing.assert_close(encoder(2 * flow, masks), (1 if norm else 2) * encoder(flow, masks),
                               atol=1e-3, rtol=1e-3)


def test_still_semantics_get_exactly_zero_flow():
    torch.manual_seed(0)
    model = FGLA(FGLAConfig(**TINY, c=1.0, still_semantics=["others"]))
    groups = groups_with_all_semantics(2, 32)
    flow = model.generate(torch.rand(2, 3, 32, 32) * 2 - 1, groups, torch.randn(2, 6, 2))  # (2, 2, 32, 32)
    still = (groups == 5)[:, None].expand_as(flow)
    assert (flow[still] == 0).all() and (flow[~still] != 0).all()
    assert model.config.still_semantics == ("others",)  # a TOML list becomes a tuple


def test_plain_encoder_gives_one_latent_everywhere():
    torch.manual_seed(0)
    plain = PlainEncoder(base_channels=4, depth=2)
    flow, masks = encoder_inputs()
    latents = plain(flow, masks)
    assert latents.shape == (2, 6, 2)
    assert torch.equal(latents, latents[:, :1].expand(2, 6, 2))
    lmap = latent_map(latents, one_hot_masks(groups_with_all_semantics(2, 8), 6))
    torch.testing.assert_close(lmap, latents[:, 0, :, None, None].expand(2, 2, 8, 8))


def test_encoder_input_shapes_are_checked(encoder):
    with pytest.raises(ValueError, match=r"masks must be one-hot \(2, 6, 16, 16\)"):
        encoder(torch.zeros(2, 2, 16, 16), torch.zeros(2, 5, 16, 16))


def test_latent_map_takes_each_pixels_semantic_latent():
    latents = torch.randn(2, 6, 2)
    groups = groups_with_all_semantics(2, 12)
    lmap = latent_map(latents, one_hot_masks(groups, 6))  # (2, 2, 12, 12)
    expected = torch.stack([latents[b][groups[b]] for b in range(2)]).permute(0, 3, 1, 2)  # (2, 2, 12, 12)
    assert torch.equal(lmap, expected)


def test_one_hot_masks_validates_ids():
    with pytest.raises(ValueError, match=r"\[0, 6\), got \[0, 6\]"):
        one_hot_masks(torch.tensor([[[0, 6]]]), 6)
    with pytest.raises(ValueError, match="int64"):
        one_hot_masks(torch.zeros(1, 2, 2, dtype=torch.uint8), 6)


def test_generator_output_is_bounded_by_one_over_c():
    torch.manual_seed(0)
    generator = UNetGenerator(in_channels=5, base_channels=4, depth=3, c=32.0)
    with torch.no_grad():
        generator.out.bias.fill_(100.0)  # saturate tanh
        flow = generator(torch.randn(2, 5, 32, 64))
    assert flow.shape == (2, 2, 32, 64)
    torch.testing.assert_close(flow, torch.full_like(flow, 1 / 32))
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 8"):
        generator(torch.randn(1, 5, 36, 36))


def test_prepare_encoder_inputs_rescales_flow_and_keeps_masks_one_hot():
    flow_px = torch.zeros(1, 2, 32, 32)
    flow_px[:, 0], flow_px[:, 1] = 4.0, -2.0
    groups = groups_with_all_semantics(1, 32)
    flow, masks = prepare_encoder_inputs(flow_px, groups, 16)
    assert torch.equal(flow[:, 0], torch.full((1, 16, 16), 2.0)) and torch.equal(flow[:, 1], torch.full((1, 16, 16), -1.0))
    assert masks.shape == (1, 6, 16, 16) and torch.equal(masks.sum(1), torch.ones(1, 16, 16))
    assert torch.equal(masks.argmax(1), groups[:, 1::2, 1::2])  # nearest-exact: the centre-side pixel


@pytest.mark.parametrize("kind", ["fine-grained", "plain"])
def test_forward_warps_the_image_by_the_generated_flow_and_trains_end_to_end(kind):
    torch.manual_seed(0)
    model = FGLA(FGLAConfig(encoder=kind, **TINY))
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    groups = groups_with_all_semantics(2, 32)
    enc_flow, enc_masks = prepare_encoder_inputs(torch.randn(2, 2, 32, 32), groups, 16)
    out = model(image, groups, enc_flow, enc_masks)
    assert out.latents.shape == (2, 6, 2) and out.flow.shape == (2, 2, 32, 32)
    assert out.flow.abs().max() <= 1 / 32
    assert torch.equal(out.next_frame, warp(image, out.flow))
    (out.next_frame.mean() + out.flow.abs().mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_model_validates_input_sizes():
    model = FGLA(FGLAConfig(**TINY))
    with pytest.raises(ValueError, match=r"image must be \(B, 3, 32, 32\)"):
        model.generate(torch.zeros(1, 3, 16, 16), torch.zeros(1, 16, 16, dtype=torch.int64), torch.zeros(1, 6, 2))
    with pytest.raises(ValueError, match="encoder flow must be 16x16"):
        model.encode(torch.zeros(1, 2, 32, 32), torch.zeros(1, 6, 32, 32))


@pytest.mark.parametrize("kwargs,message", [
    ({"encoder": "resnet"}, "encoder must be one of .* got 'resnet'"),
    ({"image_size": 100}, "image_size = 100 must be a multiple of 2\\*\\*generator_depth = 32"),
    ({"c": 0.5}, "c must be >= 1 .* got 0.5"),
    ({"encoder_depth": 0}, "encoder_depth must be a positive int, got 0"),
    ({"encoder_size": 512}, "encoder_size = 512 must not exceed image_size = 256"),
    ({"still_semantics": ["ground"]}, "still_semantics: unknown semantic 'ground'"),
    ({"still_semantics": "others"}, "still_semantics must be a list of semantics, e.g. \\['others'\\]"),
    ({"encoder_norm": "no"}, "encoder_norm must be true or false, got 'no'"),
])
def test_config_errors_name_the_offending_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FGLAConfig(**kwargs)


def test_paper_size_default_config_forward_shapes():
    torch.manual_seed(0)
    config = FGLAConfig()
    model = FGLA(config).eval()
    assert (count_parameters(model.encoder), count_parameters(model.generator)) == (1_551_426, 10_994_882)
    groups = groups_with_all_semantics(1, 256)
    enc_flow, enc_masks = prepare_encoder_inputs(torch.randn(1, 2, 256, 256), groups, config.encoder_size)
    assert enc_flow.shape == (1, 2, 128, 128) and enc_masks.shape == (1, 6, 128, 128)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 256, 256) * 2 - 1, groups, enc_flow, enc_masks)
    assert out.latents.shape == (1, 6, 2) and out.flow.shape == (1, 2, 256, 256) and out.next_frame.shape == (1, 3, 256, 256)
    assert torch.isfinite(out.next_frame).all()


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    config = FGLAConfig(encoder="plain", c=16.0, **TINY)
    model = FGLA(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    image, groups = torch.rand(1, 3, 32, 32) * 2 - 1, groups_with_all_semantics(1, 32)
    enc = prepare_encoder_inputs(torch.randn(1, 2, 32, 32), groups, 16)
    model(image, groups, *enc).flow.abs().mean().backward()
    optimizer.step()
    extra = {"optimizer": optimizer.state_dict(), "step": 7, "torch_rng": torch.get_rng_state()}
    checkpoint.save(tmp_path / "ckpt.pt", model, config, extra)

    loaded = checkpoint.load(tmp_path / "ckpt.pt", map_location="cpu")
    assert loaded.config == config and dataclasses.asdict(loaded.config)["c"] == 16.0
    assert loaded.extra["step"] == 7 and torch.equal(loaded.extra["torch_rng"], extra["torch_rng"])
    torch.optim.Adam(loaded.model.parameters(), lr=1e-4).load_state_dict(loaded.extra["optimizer"])
    with torch.no_grad():
        a, b = model(image, groups, *enc), loaded.model(image, groups, *enc)
    assert torch.equal(a.flow, b.flow) and torch.equal(a.latents, b.latents)


def test_unusable_checkpoints_raise_errors_naming_the_file(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a loadable FGLA checkpoint"):
        checkpoint.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="other.pt is not an FGLA checkpoint"):
        checkpoint.load(other)
    config = FGLAConfig(**TINY)
    good = tmp_path / "good.pt"
    checkpoint.save(good, FGLA(config), config)
    payload = torch.load(good, weights_only=True)
    payload["config"]["dropout"] = 0.1
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="newer.pt holds a config this code cannot build: .*dropout"):
        checkpoint.load(tmp_path / "newer.pt")
    payload = torch.load(good, weights_only=True)
    payload["config"]["generator_base_channels"] = 8
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="mismatch.pt: weights do not fit"):
        checkpoint.load(tmp_path / "mismatch.pt")
