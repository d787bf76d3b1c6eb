"""Backward warp, unit conversion, flow resizing and accumulation (sum and exact composition)."""
import numpy as np
import pytest
import torch

from fgla_model.warp import accumulate_flow, normalised_to_pixels, pixels_to_normalised, resize_flow, warp


def constant_flow_px(H, W, dx, dy, B=1):
    flow = torch.empty(B, 2, H, W)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def affine_flow_px(H, W, matrix, offset):
    """F(p) = matrix @ (p - centre) + offset, pixels, p = (x, y)."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    p = torch.stack([xs - W / 2, ys - H / 2])  # (2, H, W)
    flow = torch.einsum("ij,jhw->ihw", torch.tensor(matrix, dtype=torch.float64), p)
    return (flow + torch.tensor(offset, dtype=torch.float64).view(2, 1, 1)).unsqueeze(0)  # (1, 2, H, W)


@pytest.mark.parametrize("size", [(32, 32), (32, 64), (256, 256)])
def test_zero_flow_returns_the_input_exactly(size):
    image = torch.randn(2, 3, *size)
    assert torch.equal(warp(image, torch.zeros(2, 2, *size)), image)


def test_zero_flow_error_is_tiny_at_sizes_that_are_not_powers_of_two():
    image = torch.rand(1, 3, 360, 640) * 2 - 1
    assert (warp(image, torch.zeros(1, 2, 360, 640)) - image).abs().max() < 1e-3


@pytest.mark.parametrize("dx,dy", [(3, -2), (-5, 4), (0, 1)])
def test_integer_translation_equals_roll_in_the_interior(dx, dy):
    H, W = 32, 64  # powers of two: exact grid positions (see fgla_model.warp)
    image = torch.randn(1, 3, H, W)
    out = warp(image, pixels_to_normalised(constant_flow_px(H, W, dx, dy)))
    rolled = torch.roll(image, shifts=(-dy, -dx), dims=(2, 3))  # out(y, x) = image(y + dy, x + dx)
    interior = (slice(None), slice(None), slice(max(0, -dy), H - max(0, dy)), slice(max(0, -dx), W - max(0, dx)))
    assert torch.equal(out[interior], rolled[interior])
    # everywhere, border padding included: a sample leaving the frame takes the nearest edge pixel
    rows, cols = (torch.arange(H) + dy).clamp(0, H - 1), (torch.arange(W) + dx).clamp(0, W - 1)
    assert torch.equal(out, image[:, :, rows][:, :, :, cols])


def test_matches_the_data_pipelines_cv2_backward_warp():
    import cv2

    from timelapse_d.flow import backward_warp

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((40, 56, 3)).astype(np.float32), (0, 0), 3)
    flow_px = cv2.GaussianBlur(rng.normal(0, 4, (40, 56, 2)).astype(np.float32), (0, 0), 5) * 5
    expected = backward_warp(image, flow_px)  # (H, W, 3), cv2.remap, BORDER_REPLICATE
    out = warp(torch.from_numpy(image).permute(2, 0, 1)[None],
               pixels_to_normalised(torch.from_numpy(flow_px).permute(2, 0, 1)[None]))
    # cv2.remap quantises positions to 1/32 px; the image changes by < 0.1 per px
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), expected, atol=5e-3)


def test_pixel_normalised_conversion_per_axis():
    flow_px = constant_flow_px(32, 64, 1.0, 1.0)
    normalised = pixels_to_normalised(flow_px)
    assert normalised[0, 0, 0, 0].item() == 2 / 64 and normalised[0, 1, 0, 0].item() == 2 / 32
    assert torch.equal(normalised_to_pixels(normalised), flow_px)


def test_resize_flow_rescales_values_per_axis():
    resized = resize_flow(constant_flow_px(32, 64, 3.0, -1.0), (16, 128))
    assert resized.shape == (1, 2, 16, 128)
    assert torch.equal(resized[:, 0], torch.full((1, 16, 128), 6.0))  # x: 64 -> 128 px wide, doubled
    assert torch.equal(resized[:, 1], torch.full((1, 16, 128), -0.5))  # y: 32 -> 16 px high, halved
    # the same motion in normalised units, whatever the grid
    original = pixels_to_normalised(constant_flow_px(32, 64, 3.0, -1.0))
    torch.testing.assert_close(pixels_to_normalised(resized)[..., :1, :1], original[..., :1, :1])


def test_resize_flow_of_a_linear_field_halves_positions_and_values():
    # F(x) = 0.1 * x px on a 64-wide grid; at half size, pixel x' covers old x = 2x' + 0.5 and F' = F / 2
    flow = affine_flow_px(8, 64, [[0.1, 0.0], [0.0, 0.0]], [0.1 * 32, 0.0]).float()  # = 0.1 * x
    small = resize_flow(flow, (4, 32))
    x_small = torch.arange(32, dtype=torch.float32)
    expected = 0.1 * (2 * x_small + 0.5) / 2
    torch.testing.assert_close(small[0, 0, 0, 1:-1], expected[1:-1])


def test_sum_and_compose_agree_for_translations():
    f1 = pixels_to_normalised(constant_flow_px(32, 32, 1.5, -2.0))
    f2 = pixels_to_normalised(constant_flow_px(32, 32, -0.5, 3.25))
    assert torch.equal(accumulate_flow(f1, f2, "sum"), f1 + f2)
    torch.testing.assert_close(accumulate_flow(f1, f2, "compose"), f1 + f2)
    assert accumulate_flow(None, f2) is f2


def test_compose_of_affine_flows_is_the_composed_map_and_equals_warping_twice():
    H, W = 64, 64
    f1_px = affine_flow_px(H, W, [[0.02, -0.01], [0.01, 0.03]], [1.5, -0.7])  # step 1
    f2_px = affine_flow_px(H, W, [[0.0, 0.05], [-0.05, 0.0]], [-2.2, 1.1])  # step 2 (a small rotation)
    f1, f2 = pixels_to_normalised(f1_px.float()), pixels_to_normalised(f2_px.float())
    composed = normalised_to_pixels(accumulate_flow(f1, f2, "compose")).double()

    # analytic: A(p) = F2(p) + F1(p + F2(p)); F1 is affine, so F1(q) = M1 (q - c) + b1
    m1 = torch.tensor([[0.02, -0.01], [0.01, 0.03]], dtype=torch.float64)
    analytic = f2_px + f1_px + torch.einsum("ij,bjhw->bihw", m1, f2_px)
    inner = (..., slice(12, H - 12), slice(12, W - 12))  # every sample position stays inside the frame
    torch.testing.assert_close(composed[inner], analytic[inner], atol=2e-4, rtol=0)

    # a ramp image is warped exactly by bilinear sampling, so warping twice must equal one warp
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    ramp = torch.stack([0.01 * xs, 0.02 * ys, 0.005 * (xs - ys)])[None]  # (1, 3, H, W)
    twice = warp(warp(ramp, f1), f2)
    once = warp(ramp, accumulate_flow(f1, f2, "compose"))
    torch.testing.assert_close(once[inner], twice[inner], atol=1e-5, rtol=0)
    # the paper's sum is only an approximation here
    summed = warp(ramp, accumulate_flow(f1, f2, "sum"))
    assert (summed[inner] - twice[inner]).abs().max() > 1e-3


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="accumulation mode"):
        accumulate_flow(None, torch.zeros(1, 2, 4, 4), "average")
    with pytest.raises(ValueError, match=r"flow must be \(B, 2, H, W\)"):
        warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="must match flow"):
        warp(torch.zeros(1, 3, 4, 5), torch.zeros(1, 2, 4, 4))


def test_half_precision_image_is_sampled_at_float32_positions():
    image = torch.randn(1, 3, 256, 256)
    flow = pixels_to_normalised(constant_flow_px(256, 256, 0.25, -0.5))
    out = warp(image.half(), flow)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), warp(image.half().float(), flow), atol=2e-3, rtol=0)
    assert torch.equal(warp(image.half(), torch.zeros_like(flow)), image.half())
