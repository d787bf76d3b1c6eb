"""The synthetic source: exact ground truth, cuts, determinism, files, validation, semantics."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import cv2
import numpy as np
import pytest

from timelapse_d.media import probe_video
from timelapse_d.synthetic import (
    CAMERA_MOTIONS,
    CATEGORIES,
    SEMANTICS,
    SyntheticConfig,
    generate_video,
    load_ground_truth,
    plan_shots,
    render_frames,
)

W, H = 128, 96
SKY, TREE, GRASS, WATER, WATERFALL, OTHERS = (SEMANTICS.index(n) for n in
                                              ("sky", "tree", "grass", "water", "waterfall", "others"))
# classes a category's shots always show, and the ones they may show
PROMISED = {"cloud": {SKY, OTHERS}, "water": {SKY, WATER, OTHERS}, "waterfall": {SKY, WATER, WATERFALL, OTHERS},
            "hayfield": {SKY, GRASS}, "tree": {SKY, TREE, GRASS, OTHERS}}
ALLOWED = {**PROMISED, "hayfield": {SKY, GRASS, OTHERS}}


CAMERA_KINDS = {  # finer than CAMERA_MOTIONS, so that every sign convention is exercised
    "none": lambda s: s.camera == "none",
    "pan_x": lambda s: s.camera == "pan" and s.pan_px_per_frame[1] == 0,
    "pan_y": lambda s: s.camera == "pan" and s.pan_px_per_frame[1] != 0,
    "zoom_in": lambda s: s.camera == "zoom" and s.zoom_per_frame > 1,
    "zoom_out": lambda s: s.camera == "zoom" and s.zoom_per_frame < 1,
}


def single_shot(category: str, kind: str, frames: int = 6) -> tuple[SyntheticConfig, int]:
    """A one-shot config of the category and the first seed whose shot has that camera kind."""
    cfg = SyntheticConfig(width=W, height=H, min_shots=1, max_shots=1, min_shot_frames=frames,
                          max_shot_frames=frames, camera_motion_prob=0.0 if kind == "none" else 1.0,
                          categories=(category,))
    seed = next(s for s in range(1000) if CAMERA_KINDS[kind](plan_shots(cfg, s)[0]))
    return cfg, seed


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    gy, gx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64))[mask] ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


# ---------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", CAMERA_KINDS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_gt_flow_warps_frame_t_onto_frame_t_plus_1(category, kind):
    cfg, seed = single_shot(category, kind)
    shot = plan_shots(cfg, seed)[0]
    camera = shot.camera
    frames = list(render_frames(cfg, seed))
    assert [f.index for f in frames] == list(range(6)) and frames[0].flow is None
    for prev, cur in zip(frames, frames[1:]):
        assert cur.flow.shape == (H, W, 2) and cur.flow.dtype == np.float32 and np.isfinite(cur.flow).all()
        valid = ~cur.occlusion
        assert valid.mean() > 0.7, "occlusion must not hide most of the frame"
        gt = psnr(backward_warp(prev.rgb, cur.flow), cur.rgb, valid)
        assert gt >= 35.0, f"{category}/{kind} frame {cur.index}: GT warp PSNR {gt:.1f} dB"
        # the same check with zero flow, where things move (> 0.1 px a frame), must be clearly worse
        moving = valid & (np.linalg.norm(cur.flow, axis=-1) > 0.1)
        assert moving.mean() > 0.2
        assert psnr(prev.rgb, cur.rgb, moving) < psnr(backward_warp(prev.rgb, cur.flow), cur.rgb, moving) - 3.0

        static = cur.semantics == OTHERS  # ground, hills, rocks: the camera motion alone
        gy, gx = np.mgrid[0:H, 0:W].astype(np.float64)
        if camera == "none":
            assert np.abs(cur.flow[static]).max() < 1e-4 if static.any() else True
            sky_speed = np.linalg.norm(cur.flow[cur.semantics == SKY], axis=-1).mean()
            assert sky_speed > 0.2, f"sky flow {sky_speed:.2f} px/frame: clouds should drift"
        elif camera == "pan":  # content moves by +pan, so the backward flow is -pan
            np.testing.assert_allclose(cur.flow[static], -np.broadcast_to(shot.pan_px_per_frame, (static.sum(), 2)),
                                       atol=1e-4)
        else:  # zoom by z about the centre: q = c + (p - c) / z
            z, cx, cy = shot.zoom_per_frame, (W - 1) / 2, (H - 1) / 2
            expect = np.stack([(gx - cx) * (1 / z - 1), (gy - cy) * (1 / z - 1)], axis=-1)
            np.testing.assert_allclose(cur.flow[static], expect[static], atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_config_ground_truth_holds_on_every_pair(seed):
    """Full size, long shots, cuts and camera motion: every within-shot pair warps to >= 35 dB."""
    cfg = SyntheticConfig(camera_motion_prob=0.5)
    prev = None
    for f in render_frames(cfg, seed):
        if prev is not None and not np.isnan(f.flow).all():
            valid = ~f.occlusion
            assert valid.mean() > 0.7
            value = psnr(backward_warp(prev.rgb, f.flow), f.rgb, valid)
            assert value >= 35.0, f"seed {seed} frame {f.index}: {value:.1f} dB"
        prev = f


def test_moving_layers_move_the_documented_way():
    cfg, seed = single_shot("waterfall", "none", frames=3)
    f = list(render_frames(cfg, seed))[2]
    falling = f.flow[f.semantics == WATERFALL]
    assert falling[:, 1].mean() < -0.5, "waterfall content moves down: backward flow points up"
    assert np.abs(falling[:, 0]).mean() < 0.5
    for category, cls in (("tree", TREE), ("hayfield", GRASS), ("water", WATER)):
        cfg, seed = single_shot(category, "none", frames=4)
        f = list(render_frames(cfg, seed))[3]
        assert np.abs(f.flow[f.semantics == cls]).max() > 0.3, f"{category}: {SEMANTICS[cls]} should move"


def test_dis_optical_flow_recovers_the_ground_truth():
    """The textures must suit flow estimators, as real footage does: DIS gets close to the truth."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    for category in CATEGORIES:
        cfg, seed = single_shot(category, "none", frames=3)
        prev, cur = list(render_frames(cfg, seed))[1:]
        estimate = dis.calc(cv2.cvtColor(cur.rgb, cv2.COLOR_RGB2GRAY), cv2.cvtColor(prev.rgb, cv2.COLOR_RGB2GRAY), None)
        error = np.linalg.norm(estimate - cur.flow, axis=-1)[~cur.occlusion]
        assert np.median(error) < 0.5, f"{category}: DIS median end-point error {np.median(error):.2f} px"


# ---------------------------------------------------------------------------------------------
# a small multi-shot video on disk, shared by the file, cut and determinism tests
# ---------------------------------------------------------------------------------------------
VIDEO_CFG = SyntheticConfig(width=96, height=64, fps=10.0, min_shots=3, max_shots=3, min_shot_frames=5,
                            max_shot_frames=8, camera_motion_prob=0.5)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    meta = generate_video(out, "clip", VIDEO_CFG, seed=11)
    return out, meta


def test_generate_video_writes_three_complete_files(video):
    out, meta = video
    assert sorted(p.name for p in out.iterdir()) == ["clip.gt.json", "clip.gt.npz", "clip.mp4"], "temporaries left"
    info = probe_video(out / "clip.mp4")
    assert (info.width, info.height, info.frames, info.fps) == (96, 64, meta["frames"], 10.0)
    on_disk, arrays = load_ground_truth(out, "clip")
    assert on_disk == meta == json.loads((out / "clip.gt.json").read_text())
    T = meta["frames"]
    assert T == plan_shots(VIDEO_CFG, 11)[-1].end
    assert meta["config"] == {**dataclasses.asdict(VIDEO_CFG), "categories": list(VIDEO_CFG.categories)}
    assert (meta["name"], meta["seed"], meta["width"], meta["height"], meta["fps"]) == ("clip", 11, 96, 64, 10.0)
    assert meta["semantics"] == list(SEMANTICS) and "backward" in meta["flow_convention"]
    assert arrays["semantics"].shape == (T, 64, 96) and arrays["semantics"].dtype == np.uint8
    assert arrays["flow"].shape == (T - 1, 64, 96, 2) and arrays["flow"].dtype == np.float16
    assert arrays["occlusion"].shape == (T - 1, 64, 96) and arrays["occlusion"].dtype == bool
    assert arrays["semantics"].max() < len(SEMANTICS)


def test_npz_holds_what_render_frames_streams(video):
    out, _ = video
    _, arrays = load_ground_truth(out, "clip")
    for f in render_frames(VIDEO_CFG, 11):
        np.testing.assert_array_equal(arrays["semantics"][f.index], f.semantics)
        if f.flow is not None:
            np.testing.assert_array_equal(arrays["flow"][f.index - 1], f.flow.astype(np.float16))
            np.testing.assert_array_equal(arrays["occlusion"][f.index - 1], f.occlusion)


def test_cuts_match_the_plan_and_break_the_flow(video):
    out, meta = video
    shots = plan_shots(VIDEO_CFG, 11)
    assert meta["cuts"] == [s.start for s in shots[1:]] and len(meta["cuts"]) == 2
    assert [s["start"] for s in meta["shots"]] == [s.start for s in shots]
    assert all(a.end == b.start for a, b in zip(shots, shots[1:])) and shots[0].start == 0
    assert all(a.category != b.category for a, b in zip(shots, shots[1:]))
    _, arrays = load_ground_truth(out, "clip")
    for t in range(meta["frames"] - 1):  # pair (t, t+1)
        if t + 1 in meta["cuts"]:
            assert np.isnan(arrays["flow"][t]).all() and arrays["occlusion"][t].all()
        else:
            assert np.isfinite(arrays["flow"][t]).all() and not arrays["occlusion"][t].all()
    rgb = [f.rgb.astype(np.float64) for f in render_frames(VIDEO_CFG, 11)]
    diffs = [np.abs(b - a).mean() for a, b in zip(rgb, rgb[1:])]
    across = [d for t, d in enumerate(diffs) if t + 1 in meta["cuts"]]
    within = [d for t, d in enumerate(diffs) if t + 1 not in meta["cuts"]]
    assert min(across) > 15.0 and min(across) > 3 * max(within), (across, max(within))


def test_content_detector_finds_the_cuts(video):
    scenedetect = pytest.importorskip("scenedetect")
    out, meta = video
    scenes = scenedetect.detect(str(out / "clip.mp4"), scenedetect.ContentDetector(min_scene_len=3))
    assert [s[0].frame_num for s in scenes[1:]] == meta["cuts"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_video(video, tmp_path):
    out, meta = video
    again = generate_video(tmp_path, "clip", VIDEO_CFG, seed=11)
    assert again == meta
    for suffix in (".mp4", ".gt.npz", ".gt.json"):
        assert sha256(tmp_path / f"clip{suffix}") == sha256(out / f"clip{suffix}"), suffix
    a = list(render_frames(VIDEO_CFG, 11))
    b = list(render_frames(VIDEO_CFG, 11))
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.rgb, fb.rgb)
        np.testing.assert_array_equal(fa.semantics, fb.semantics)
        if fa.flow is not None:
            np.testing.assert_array_equal(fa.flow, fb.flow)  # NaN == NaN here
            np.testing.assert_array_equal(fa.occlusion, fb.occlusion)
    other = generate_video(tmp_path, "other", VIDEO_CFG, seed=12)
    assert sha256(tmp_path / "other.mp4") != sha256(out / "clip.mp4")
    first = next(iter(render_frames(VIDEO_CFG, 12)))
    assert np.abs(first.rgb.astype(int) - a[0].rgb).mean() > 5 or other["shots"] != meta["shots"]


def test_plan_shots_is_consistent():
    cfg = SyntheticConfig(min_shots=2, max_shots=5, min_shot_frames=10, max_shot_frames=30, camera_motion_prob=0.6)
    cameras = set()
    for seed in range(40):
        shots = plan_shots(cfg, seed)
        assert 2 <= len(shots) <= 5 and shots[0].start == 0
        for a, b in zip(shots, shots[1:]):
            assert a.end == b.start and a.category != b.category
        for s in shots:
            cameras.add(s.camera)
            assert 10 <= s.end - s.start <= 30 and s.category in CATEGORIES
            assert (s.pan_px_per_frame != (0.0, 0.0)) == (s.camera == "pan")
            assert (s.zoom_per_frame != 1.0) == (s.camera == "zoom")
            if s.camera == "zoom":
                assert 1.0 / 1.0201 < s.zoom_per_frame < 1.0201
    assert cameras == set(CAMERA_MOTIONS)
    still = dataclasses.replace(cfg, camera_motion_prob=0.0)
    assert all(s.camera == "none" for seed in range(20) for s in plan_shots(still, seed))


# ---------------------------------------------------------------------------------------------
# semantics and validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_shows_the_classes_it_promises(category):
    for camera in CAMERA_KINDS:
        cfg, seed = single_shot(category, camera, frames=4)
        seen = set()
        for f in render_frames(cfg, seed):
            classes, counts = np.unique(f.semantics, return_counts=True)
            shown = {int(c) for c, n in zip(classes, counts) if n >= 0.005 * f.semantics.size}
            assert set(classes.tolist()) <= ALLOWED[category], (camera, f.index, classes)
            if camera == "none":
                assert PROMISED[category] <= shown, (f.index, shown)
            seen |= shown
        assert PROMISED[category] <= seen, (camera, seen)


@pytest.mark.parametrize("field, value", [
    ("width", 255), ("width", 0), ("width", True), ("height", 31), ("height", 96.0), ("fps", 0), ("fps", float("nan")),
    ("min_shots", 0), ("max_shots", 1), ("min_shot_frames", 1), ("max_shot_frames", 23),
    ("camera_motion_prob", 1.5), ("camera_motion_prob", -0.1), ("categories", ()), ("categories", "cloud"),
    ("categories", ("cloud", "lava")), ("categories", ("cloud", "cloud")),
])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"SyntheticConfig\.{field}\b") as info:
        SyntheticConfig(**{field: value})
    assert repr(value)[:8] in str(info.value)


def test_config_accepts_a_list_of_categories_and_generate_video_checks_the_name(tmp_path):
    assert SyntheticConfig(categories=["tree", "water"]).categories == ("tree", "water")
    with pytest.raises(ValueError, match="name"):
        generate_video(tmp_path, "../escape", VIDEO_CFG, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_leaves_no_files(tmp_path, monkeypatch):
    import timelapse_d.synthetic.video as video_module

    def broken(config, seed):
        frames = render_frames(config, seed)
        yield next(frames)
        yield next(frames)
        raise RuntimeError("boom")

    monkeypatch.setattr(video_module, "render_frames", broken)
    with pytest.raises(RuntimeError, match="boom"):
        generate_video(tmp_path, "clip", VIDEO_CFG, seed=1)
    assert list(tmp_path.iterdir()) == []
