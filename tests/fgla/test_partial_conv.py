"""PartialConv2d against hand-computed numbers (eq. 1-2), border re-normalisation, no state, autocast."""
import pytest
import torch

from fgla_model.partial_conv import PartialConv2d


def make_conv(weight, bias, **kwargs):
    weight = torch.tensor(weight, dtype=torch.float32)
    conv = PartialConv2d(weight.shape[1], weight.shape[0], kernel_size=weight.shape[-1], bias=bias is not None, **kwargs)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(torch.tensor(bias))
    return conv


def test_hand_computed_case():
    # X = 1..9 in a 3x3 grid, mask keeps (0,0), (0,1), (1,0); 2x2 kernel [[1, 2], [3, 4]], bias 0.5.
    conv = make_conv([[[[1.0, 2.0], [3.0, 4.0]]]], [0.5])
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]).view(1, 1, 3, 3)
    out, new_mask = conv(x, mask)
    # (0,0): window [[1,2],[4,5]] * [[1,1],[1,0]] -> 1*1 + 2*2 + 4*3 = 17, 3 valid of 4 -> 17 * 4/3 + 0.5
    # (0,1): only X=2 valid, weight 1 -> 2 * 4/1 + 0.5 = 8.5
    # (1,0): only X=4 valid, weight 1 -> 4 * 4/1 + 0.5 = 16.5
    # (1,1): no valid position -> 0, mask 0
    expected = torch.tensor([[17 * 4 / 3 + 0.5, 8.5], [16.5, 0.0]])
    torch.testing.assert_close(out[0, 0], expected)
    assert torch.equal(new_mask[0, 0], torch.tensor([[1.0, 1.0], [1.0, 0.0]]))


def test_single_channel_mask_broadcasts_over_input_channels():
    # two input channels, the same 2x2 kernel on each: sum(1) = 8, sum(M) = 2 * 3 -> the same ratio 4/3
    conv = make_conv([[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 0.0]]]], None)
    x = torch.stack([torch.arange(1.0, 5.0).view(2, 2), torch.full((2, 2), 10.0)]).view(1, 2, 2, 2)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    out, _ = conv(x, mask)
    # channel 0: 1*1 + 2*2 + 3*3 = 14; channel 1: 10*1 = 10; (14 + 10) * 4/3 = 32
    torch.testing.assert_close(out.flatten(), torch.tensor([32.0]))


def test_zero_padding_is_a_hole_and_constant_input_is_reproduced():
    conv = make_conv([[[[1.0] * 3] * 3]], [0.0], padding=1)
    out, new_mask = conv(torch.full((1, 1, 5, 5), 2.0), torch.ones(1, 1, 5, 5))
    # interior: 9 valid * 2 = 18; corner: 4 valid * 2 * 9/4 = 18; edge: 6 * 2 * 9/6 = 18
    assert torch.equal(out, torch.full((1, 1, 5, 5), 18.0))
    assert torch.equal(new_mask, torch.ones(1, 1, 5, 5))


def test_all_zero_mask_gives_zero_output_and_mask_even_with_bias():
    conv = PartialConv2d(3, 4, kernel_size=3, stride=2, padding=1)
    out, new_mask = conv(torch.randn(2, 3, 8, 8), torch.zeros(2, 1, 8, 8))
    assert out.shape == (2, 4, 4, 4) and torch.equal(out, torch.zeros_like(out))
    assert torch.equal(new_mask, torch.zeros(2, 1, 4, 4))


def test_output_ignores_input_outside_the_mask():
    torch.manual_seed(0)
    conv = PartialConv2d(2, 3, kernel_size=3, padding=1)
    mask = (torch.rand(1, 1, 8, 8) > 0.5).float()
    x = torch.randn(1, 2, 8, 8)
    noisy = x + 100 * torch.randn_like(x) * (1 - mask)
    assert torch.equal(conv(x, mask)[0], conv(noisy, mask)[0])


def test_no_state_across_calls_of_different_sizes():
    torch.manual_seed(0)
    conv = PartialConv2d(1, 2, kernel_size=3, padding=1)
    assert list(conv.buffers()) == []
    small_x, small_m = torch.randn(1, 1, 4, 4), (torch.rand(1, 1, 4, 4) > 0.3).float()
    first = conv(small_x, small_m)[0]
    conv(torch.randn(3, 1, 9, 7), torch.ones(3, 1, 9, 7))
    assert torch.equal(conv(small_x, small_m)[0], first)


def test_bfloat16_autocast_matches_float32_and_stays_finite():
    torch.manual_seed(0)
    conv = PartialConv2d(4, 8, kernel_size=3, stride=2, padding=1)
    x = torch.randn(2, 4, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 5, 5] = 1.0  # one valid pixel: ratio 9 in the windows that touch it
    mask[1, :, 4:, :] = 1.0
    reference, ref_mask = conv(x, mask)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out, new_mask = conv(x, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(new_mask.float(), ref_mask)
    assert torch.equal(out.float()[ref_mask.expand_as(out) == 0], torch.zeros(int((ref_mask.expand_as(out) == 0).sum())))
    torch.testing.assert_close(out.float(), reference, atol=0.1, rtol=0.05)


def test_mask_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        PartialConv2d(2, 2, 3)(torch.randn(1, 2, 5, 5), torch.ones(1, 2, 5, 5))
