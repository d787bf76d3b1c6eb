"""Eq. 8-12 on hand-made cases with hand-computed values."""
import math

import pytest
import torch

from fgla_model.losses import LossConfig, fgla_loss, flow_loss, frame_loss, tv_loss


def test_frame_loss_is_the_mean_absolute_error():
    frame = torch.tensor([0.5, -1.0, 0.25, 0.0] * 3).view(1, 3, 2, 2)
    # |0.5| + |-1| + |0.25| + 0 = 1.75 per channel, 12 elements: 3 * 1.75 / 12
    assert frame_loss(torch.zeros_like(frame), frame).item() == pytest.approx(3 * 1.75 / 12)


def test_flow_loss_is_the_mean_absolute_error():
    flow_hat = torch.tensor([[[[0.1, 0.2]], [[0.0, -0.3]]]])  # (1, 2, 1, 2)
    flow = torch.zeros(1, 2, 1, 2)
    assert flow_loss(flow_hat, flow).item() == pytest.approx((0.1 + 0.2 + 0.0 + 0.3) / 4)


def tv_case():
    # 2x2 frame; only pixel (row 0, col 1) differs: colour (0.1, 0, 0.05), flow (1, -0.5)
    frame_hat = torch.zeros(1, 3, 2, 2)
    frame_hat[0, 0, 0, 1], frame_hat[0, 2, 0, 1] = 0.1, 0.05
    flow_hat = torch.zeros(1, 2, 2, 2)
    flow_hat[0, 0, 0, 1], flow_hat[0, 1, 0, 1] = 1.0, -0.5
    return frame_hat, flow_hat


def test_tv_loss_hand_computed():
    frame_hat, flow_hat = tv_case()
    # Pairs touching (0, 1): its left neighbour (0, 0) (a "right" pair) and the pixel below it,
    # (1, 1), whose "above" neighbour it is. Each: w = exp(-(0.1 + 0.05) / 0.1), |dF|_1 = 1 + 0.5.
    # The other two pairs have no difference. Normalised by B * H * W = 4 pixels.
    expected = 2 * math.exp(-1.5) * 1.5 / 4
    assert tv_loss(flow_hat, frame_hat, sigma=0.1).item() == pytest.approx(expected)
    # a flat image gives weight 1 everywhere
    assert tv_loss(flow_hat, torch.zeros_like(frame_hat), sigma=0.1).item() == pytest.approx(2 * 1.5 / 4)


def test_tv_loss_pairs_do_not_wrap_around():
    flow_hat = torch.zeros(1, 2, 1, 3)
    flow_hat[0, 0, 0, 0] = 1.0  # first column only; a wrapping pair (col 2, col 0) would add 1
    assert tv_loss(flow_hat, torch.zeros(1, 3, 1, 3)).item() == pytest.approx(1.0 / 3)


def test_tv_edge_weight_carries_no_gradient_to_the_frame():
    frame_hat, flow_hat = tv_case()
    frame_hat.requires_grad_(True)
    flow_hat.requires_grad_(True)
    tv_loss(flow_hat, frame_hat).backward()
    assert frame_hat.grad is None and flow_hat.grad.abs().sum() > 0


def test_total_converts_the_pixel_target_once_and_weights_the_terms():
    frame_hat, flow_hat = tv_case()
    frame_next = torch.full_like(frame_hat, 0.5)
    flow_target_px = torch.zeros(1, 2, 2, 2)
    flow_target_px[:, 0] = 1.0  # 1 px right on a 2-px-wide grid = 1.0 normalised
    terms = fgla_loss(frame_hat, frame_next, flow_hat, flow_target_px)
    # frame: |0.1 - 0.5| + |0.05 - 0.5| + 10 * 0.5 over 12 elements
    assert terms["frame"].item() == pytest.approx((0.4 + 0.45 + 5.0) / 12)
    # flow in normalised units: channel 0: |1 - 1| + 3 * |0 - 1|; channel 1: |-0.5| -> 3.5 / 8
    assert terms["flow"].item() == pytest.approx(3.5 / 8)
    assert terms["tv"].item() == pytest.approx(2 * math.exp(-1.5) * 1.5 / 4)
    assert terms["total"].item() == pytest.approx(terms["frame"].item() + 0.5 * terms["flow"].item() + 5 * terms["tv"].item())


def test_flow_term_compares_in_normalised_units_per_axis():
    # 2 rows x 4 columns: 1 px in x is 2 / 4 = 0.5 normalised, 1 px in y is 2 / 2 = 1.0
    frame = torch.zeros(1, 3, 2, 4)
    terms = fgla_loss(frame, frame, torch.zeros(1, 2, 2, 4), torch.ones(1, 2, 2, 4))
    assert terms["flow"].item() == pytest.approx((0.5 + 1.0) / 2)
    assert terms["frame"].item() == 0.0 and terms["tv"].item() == 0.0
    assert terms["total"].item() == pytest.approx(0.5 * 0.75)


@pytest.mark.parametrize("config,weights", [
    (LossConfig(use_tv=False), (1.0, 0.5, 0.0)),  # w/o L_tv
    (LossConfig(use_frame=False, use_tv=False), (0.0, 0.5, 0.0)),  # only L_flow
    (LossConfig(use_flow=False, use_tv=False), (1.0, 0.0, 0.0)),  # only L_frame
    (LossConfig(alpha=2.0, beta=0.5), (1.0, 2.0, 0.5)),
])
def test_terms_are_switchable_and_weights_configurable(config, weights):
    frame_hat, flow_hat = tv_case()
    terms = fgla_loss(frame_hat, torch.zeros_like(frame_hat), flow_hat, torch.ones(1, 2, 2, 2), config)
    expected = sum(w * terms[name].item() for w, name in zip(weights, ("frame", "flow", "tv")))
    assert terms["total"].item() == pytest.approx(expected)


@pytest.mark.parametrize("kwargs,message", [
    ({"alpha": -1.0}, "alpha must be >= 0, got -1.0"),
    ({"sigma": 0.0}, "sigma must be > 0, got 0.0"),
    ({"use_frame": False, "use_flow": False, "use_tv": False}, "enables no term"),
])
def test_loss_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LossConfig(**kwargs)
