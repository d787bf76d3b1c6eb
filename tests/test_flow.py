"""Flow estimators (convention, accuracy on synthetic and real ground truth), readers, codec, registry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from timelapse_d.flow import (FLOW_ESTIMATORS, backward_warp, decode, encode, encoded_mode, end_point_error, read_flo,
                              read_kitti_flow, read_mask_png, read_rgb)
from timelapse_d.flow.codec import MAX_ERROR_PX, RANGE_PX
from timelapse_d.flow.dis import DisConfig, DisFlow
from timelapse_d.flow.farneback import FarnebackConfig, FarnebackFlow
from timelapse_d.synthetic import SyntheticConfig, render_frames

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "flow"
KITTI = ASSETS / "kitti_real"
SINTEL = ASSETS / "sintel_alley1_clean_SYNTHETIC"

# Measured bounds (mean EPE, px, non-occluded): see docs/flow.md. Measured value -> bound.
SYNTHETIC_BOUND = {"dis": 0.4, "farneback": 2.0}  # worst pair here: dis 0.27, farneback 1.60 (cloud pan)
REAL_BOUND = {  # forward flow vs forward GT, native resolution
    ("dis", "kitti"): 30.0, ("dis", "sintel"): 0.45,  # measured 24.3, 0.29
    ("farneback", "kitti"): 55.0, ("farneback", "sintel"): 1.1,  # measured 46.4, 0.82
}


@pytest.fixture(scope="module")
def synthetic_pairs():
    """(frame_t, frame_t1, gt backward flow, non-occluded) within shots of 256x256 clips, several categories."""
    pairs = []
    for seed, category, camera_prob in ((1, "cloud", 1.0), (2, "waterfall", 0.0), (3, "tree", 1.0), (4, "water", 0.0)):
        cfg = SyntheticConfig(width=256, height=256, min_shots=1, max_shots=1, min_shot_frames=3, max_shot_frames=3,
                              camera_motion_prob=camera_prob, categories=(category,))
        frames = list(render_frames(cfg, seed=seed))
        pairs += [(a.rgb, b.rgb, b.flow, ~b.occlusion) for a, b in zip(frames, frames[1:])]
    return pairs


def test_registry_lookup_and_unknown_name():
    assert FLOW_ESTIMATORS.names() == ["dis", "farneback"]
    assert FLOW_ESTIMATORS.get("dis") is DisFlow
    assert FLOW_ESTIMATORS.get("farneback") is FarnebackFlow
    with pytest.raises(KeyError, match="unknown flow estimator 'raft'; known: dis, farneback"):
        FLOW_ESTIMATORS.get("raft")


@pytest.mark.parametrize("make, field", [
    (lambda: DisConfig(preset="slow"), "DisConfig.preset"),
    (lambda: DisConfig(patch_size=1), "DisConfig.patch_size"),
    (lambda: DisConfig(variational_refinement_iterations=-1), "DisConfig.variational_refinement_iterations"),
    (lambda: DisConfig(variational_refinement_alpha=-0.5), "DisConfig.variational_refinement_alpha"),
    (lambda: DisConfig(patch_size=8, patch_stride=9), "DisConfig.patch_stride"),
    (lambda: FarnebackConfig(levels=0), "FarnebackConfig.levels"),
    (lambda: FarnebackConfig(pyr_scale=1.5), "FarnebackConfig.pyr_scale"),
    (lambda: FarnebackConfig(poly_n=6), "FarnebackConfig.poly_n"),
])
def test_config_validation_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_wrong_config_type_and_bad_frames_raise():
    with pytest.raises(TypeError, match="DisFlow needs a DisConfig"):
        DisFlow(FarnebackConfig())
    rgb = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="frame_a must be an"):
        DisFlow().estimate(rgb[..., 0], rgb)
    with pytest.raises(ValueError, match="same shape"):
        DisFlow().estimate(rgb, np.zeros((16, 18, 3), np.uint8))


def test_params_record_effective_settings():
    params = DisFlow(DisConfig(preset="fast", variational_refinement_iterations=0)).params()
    assert params["estimator"] == "dis" and params["preset"] == "fast"
    assert params["patch_size"] == 8 and params["variational_refinement_iterations"] == 0  # effective values
    json.dumps(params)
    assert FarnebackFlow().params() == {"estimator": "farneback", **FarnebackConfig().__dict__}


@pytest.mark.parametrize("name", ["dis", "farneback"])
def test_backward_convention_on_synthetic_ground_truth(name, synthetic_pairs):
    estimator = FLOW_ESTIMATORS.get(name)()
    for frame_t, frame_t1, gt, ok in synthetic_pairs:
        flow = estimator.estimate(frame_t, frame_t1)
        assert flow.shape == (256, 256, 2) and flow.dtype == np.float32
        warped_error = np.abs(backward_warp(frame_t, flow).astype(int) - frame_t1)[ok].mean()
        unwarped_error = np.abs(frame_t.astype(int) - frame_t1)[ok].mean()
        assert warped_error < 0.5 * unwarped_error
        epe = end_point_error(flow, gt, ok)
        assert epe < SYNTHETIC_BOUND[name], epe
        assert end_point_error(-flow, gt, ok) > 2 * epe  # the sign matters, and ours is the GT's


def test_forward_is_backward_of_the_reversed_pair(synthetic_pairs):
    frame_t, frame_t1, *_ = synthetic_pairs[0]
    dis = DisFlow()
    np.testing.assert_array_equal(dis.estimate_forward(frame_t1, frame_t), dis.estimate(frame_t, frame_t1))


def test_readers_on_the_real_files(tmp_path):
    flow, valid = read_kitti_flow(KITTI / "flow_gt.png")
    assert flow.shape == (375, 1242, 2) and flow.dtype == np.float32 and valid.shape == (375, 1242)
    assert 0.1 < valid.mean() < 0.3  # KITTI ground truth is sparse
    assert np.isnan(flow[~valid]).all() and np.isfinite(flow[valid]).all()
    assert np.abs(flow[valid]).max() < 512

    sintel = read_flo(SINTEL / "gt" / "frame_0002.flo")
    assert sintel.shape == (436, 1024, 2) and np.isfinite(sintel).all()
    for mask in ("invalid", "occlusions"):
        m = read_mask_png(SINTEL / "gt" / mask / "frame_0002.png")
        assert m.shape == (436, 1024) and m.dtype == bool
    assert read_rgb(SINTEL / "frame_0002.png").shape == (436, 1024, 3)

    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"NOPE" + bytes(8))
    with pytest.raises(ValueError, match="not a .flo file"):
        read_flo(bad)


def _real_pair(which: str):
    if which == "kitti":
        flow, valid = read_kitti_flow(KITTI / "flow_gt.png")
        return read_rgb(KITTI / "frame1.png"), read_rgb(KITTI / "frame2.png"), flow, valid
    ok = ~read_mask_png(SINTEL / "gt" / "invalid" / "frame_0002.png") & \
        ~read_mask_png(SINTEL / "gt" / "occlusions" / "frame_0002.png")
    return read_rgb(SINTEL / "frame_0002.png"), read_rgb(SINTEL / "frame_0003.png"), read_flo(SINTEL / "gt" / "frame_0002.flo"), ok


@pytest.mark.parametrize("name, which", sorted(REAL_BOUND))
def test_real_pairs_epe_against_forward_ground_truth(name, which):
    frame1, frame2, gt, ok = _real_pair(which)
    flow = FLOW_ESTIMATORS.get(name)().estimate_forward(frame1, frame2)  # GT is forward 1 -> 2
    epe = end_point_error(flow, gt, ok)
    assert epe < REAL_BOUND[(name, which)], epe
    assert epe < end_point_error(np.zeros_like(flow), gt, ok)  # farneback on KITTI: 46.4 vs 51.0


def test_end_point_error_masks_and_rejects():
    truth = np.zeros((2, 2, 2), np.float32)
    truth[0, 0] = np.nan
    estimate = np.full((2, 2, 2), [3.0, 4.0], np.float32)
    assert end_point_error(estimate, truth) == 5.0  # the NaN pixel is skipped
    with pytest.raises(ValueError, match="no valid pixels"):
        end_point_error(estimate, truth, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="must both be"):
        end_point_error(estimate[..., :1], truth)


def test_codec_error_bound_nan_and_range():
    rng = np.random.default_rng(0)
    flow = rng.uniform(-RANGE_PX, RANGE_PX, (64, 48, 2)).astype(np.float32)
    flow[0, 0] = [RANGE_PX, -RANGE_PX]
    flow[5, 7, 1] = np.nan
    back = decode(encode(flow))
    assert back.shape == flow.shape and back.dtype == np.float32 and encoded_mode(encode(flow)) == "quantised"
    assert np.isnan(back[5, 7, 1]) and np.isnan(back).sum() == 1
    assert np.nanmax(np.abs(back - flow)) <= MAX_ERROR_PX == 1 / 128

    wide = flow.copy()
    wide[3, 3, 0] = 600.0  # out of range: lossless float32 fallback, nothing clipped
    blob = encode(wide)
    assert encoded_mode(blob) == "float32"
    np.testing.assert_array_equal(decode(blob), wide)

    with pytest.raises(ValueError, match="infinite"):
        encode(np.full((2, 2, 2), np.inf, np.float32))
    with pytest.raises(ValueError, match="not a flow blob"):
        decode(b"XXXX" + bytes(20))


def test_codec_size_on_synthetic_flows(synthetic_pairs):
    for frame_t, frame_t1, gt, _ in synthetic_pairs:
        estimated = DisFlow().estimate(frame_t, frame_t1)
        for flow in (gt, estimated):
            blob = encode(flow)
            assert len(blob) < 60_000  # vs 262,144 bytes as float16 (measured 2.7-48 kB at zlib level 1)
            assert np.abs(decode(blob) - flow).max() <= MAX_ERROR_PX

    cut = np.full((256, 256, 2), np.nan, np.float32)  # the pair across a cut
    assert np.isnan(decode(encode(cut))).all() and len(encode(cut)) < 2000
