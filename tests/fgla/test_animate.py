"""Animation (Algorithm 1) and the latent codebook: tiny models, stub models with predictable flow, real stills."""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from fgla_model import checkpoint
from fgla_model.animate import (Preprocessing, add_animate_arguments, animate, input_groups, latents_from_references,
                                parse_refs, read_group_png, resolve_preprocessing, run_animate)
from fgla_model.codebook import (Codebook, add_codebook_arguments, build_codebook, clip_pair_inputs,
                                 provenance_from_meta, release_shard_paths, run_codebook)
from fgla_model.latent_map import latent_map, one_hot_masks
from fgla_model.model import FGLA, FGLAConfig, prepare_encoder_inputs
from fgla_model.warp import normalised_to_pixels
from timelapse_d.errors import UsageError
from timelapse_d.media import probe_video, sha256_file, write_video
from timelapse_d.segmentation import GROUPS
from timelapse_d.shards import ClipSample, read_samples

STILLS = Path(__file__).resolve().parents[3] / "shared" / "assets" / "images" / "stills"
TINY = dict(image_size=32, encoder_size=16, encoder_base_channels=4, encoder_depth=2,
            generator_base_channels=4, generator_depth=2)
SKY, WATER, OTHERS = GROUPS.index("sky"), GROUPS.index("water"), GROUPS.index("others")


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return FGLA(FGLAConfig(**{**TINY, **overrides})).eval()


class MeanFlowFGLA(FGLA):
    """A model whose flow is predictable: E gives each semantic the mean flow inside its mask (pixels of
    the encoder grid) and P moves each pixel by its semantic's latent, rescaled to its own grid."""

    def encode(self, flow_px, masks):
        area = masks.sum(dim=(2, 3)).clamp(min=1)  # (B, K)
        return torch.einsum("bchw,bkhw->bkc", flow_px, masks) / area[..., None]  # (B, K, 2)

    def generate(self, image, groups, latents):
        lmap = latent_map(latents, one_hot_masks(groups, len(GROUPS)))  # (B, 2, S, S) px of the encoder grid
        return lmap * 2 / self.config.encoder_size  # normalised


def stub_model(size=64):
    return MeanFlowFGLA(FGLAConfig(**{**TINY, "image_size": size, "encoder_size": size // 2})).eval()


def halves(height, width, top=SKY, bottom=WATER):
    """(height, width) uint8 group ids: ``top`` above the middle row, ``bottom`` below."""
    groups = np.full((height, width), bottom, np.uint8)
    groups[: height // 2] = top
    return groups


@pytest.fixture(scope="module")
def still():
    """A real still (640x360) squashed to 320x180: non-square, not a power of two."""
    image = cv2.cvtColor(cv2.imread(str(STILLS / "al_coast_input1.png")), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)


def test_frame_count_resolution_and_first_frame(still):
    latents = {"sky": torch.tensor([0.7, -0.2]), "water": torch.tensor([-0.4, 0.9])}
    video = list(animate(tiny_model(), still, halves(180, 320), latents, frames=5))
    assert len(video) == 5
    assert all(step.frame.shape == (180, 320, 3) and step.frame.dtype == np.uint8 for step in video)
    assert all(tuple(step.flow.shape) == (2, 32, 32) for step in video)
    assert (video[0].frame == still).all() and not video[0].flow.any()
    assert any((step.frame != still).any() for step in video[1:])


def test_semantics_without_a_latent_stay_still(still):
    video = list(animate(tiny_model(), still, halves(180, 320), {}, frames=4))
    assert all(np.abs(step.frame.astype(int) - still).max() <= 1 for step in video)
    # a zero latent means zero flow for a model whose flow follows the latent
    zeros = {name: torch.zeros(2) for name in GROUPS}
    video = list(animate(stub_model(), still, halves(180, 320), zeros, frames=4))
    assert all(np.abs(step.frame.astype(int) - still).max() <= 1 for step in video)
    # only the latent's semantic moves: "others" (bottom) stays exactly
    video = list(animate(tiny_model(c=1.0), still, halves(180, 320, SKY, OTHERS), {"sky": torch.ones(2)}, frames=3))
    assert (video[-1].flow[:, 16:] == 0).all() and (video[-1].flow[:, :8] != 0).any()
    assert (video[-1].frame[100:] == still[100:]).all()


@pytest.mark.parametrize("speed", [0.25, 4.0])
def test_speed_scales_the_step_flow(still, speed):
    latents = {"sky": torch.tensor([0.7, -0.2]), "water": torch.tensor([-0.4, 0.9])}
    model = tiny_model()
    base = list(animate(model, still, halves(180, 320), latents, frames=2))[1].flow
    fast = list(animate(model, still, halves(180, 320), latents, frames=2, speed=speed))[1].flow
    torch.testing.assert_close(fast, speed * base)
    # a model with constant flow per semantic: every step, and the total motion, scale too
    stub = stub_model()
    one = list(animate(stub, still, halves(180, 320), latents, frames=6))
    scaled = list(animate(stub, still, halves(180, 320), latents, frames=6, speed=speed))
    for a, b in zip(one[1:], scaled[1:]):
        ratio = b.flow.norm(dim=0)[a.flow.norm(dim=0) > 0] / a.flow.norm(dim=0)[a.flow.norm(dim=0) > 0]
        torch.testing.assert_close(ratio.mean(), torch.tensor(speed))


def test_per_step_latents_drive_their_steps_and_repeat(still):
    """(P, D) latents: step t takes row t mod P (a reference's own steps, Algorithm 1)."""
    rows = torch.tensor([[4.0, 0.0], [0.0, -4.0], [-4.0, 0.0]])  # px of the encoder grid
    video = list(animate(stub_model(), still, halves(180, 320), {"sky": rows}, frames=6))
    sky = [normalised_to_pixels(step.flow[None])[0][:, :16].mean(dim=(1, 2)) for step in video[1:]]  # (2,) px of 64
    for t, step in enumerate(sky):
        torch.testing.assert_close(step, rows[t % 3] * 2, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"\(P, 2\)"):
        next(iter(animate(stub_model(), still, halves(180, 320), {"sky": torch.zeros(3, 3)}, frames=2)))


def test_compose_and_sum_both_run_and_differ_for_non_constant_flow(still):
    model = tiny_model(c=1.0)  # large, non-uniform random flows
    latents = {"sky": torch.tensor([1.0, -1.0]), "water": torch.tensor([-1.0, 1.0])}
    composed = list(animate(model, still, halves(180, 320), latents, frames=4, accumulate="compose"))
    summed = list(animate(model, still, halves(180, 320), latents, frames=4, accumulate="sum"))
    assert (composed[1].frame == summed[1].frame).all()  # A_0 = F_0 either way
    assert np.abs(composed[-1].frame.astype(int) - summed[-1].frame).max() > 10
    with pytest.raises(ValueError, match="accumulate"):
        next(iter(animate(model, still, halves(180, 320), latents, frames=2, accumulate="add")))


def translating_video(path, dx, dy, frames=5, size=64, step=2):
    """A blurred-noise texture whose content moves (dx, dy) * step px per frame, through a window (no wrap)."""
    rng = np.random.default_rng(3)
    big = cv2.GaussianBlur(rng.integers(0, 256, (size + 40, size + 40, 3), dtype=np.uint8), (7, 7), 2)
    write_video(path, [big[20 - dy * step * i: 20 - dy * step * i + size, 20 - dx * step * i: 20 - dx * step * i + size]
                       for i in range(frames)], fps=8)
    return path


class HalvesSegmenter:
    """Reference frames: top half sky, bottom half water."""

    name, needs_source_masks = "halves", False

    def segment(self, frame):
        return halves(*frame.shape[:2])


def test_per_semantic_control_from_reference_videos(tmp_path, still):
    from timelapse_d.flow import FLOW_ESTIMATORS

    right = translating_video(tmp_path / "right.mp4", 1, 0)  # content moves 2 px right per frame
    down = translating_video(tmp_path / "down.mp4", 0, 1)  # content moves 2 px down per frame
    model, estimator = stub_model(size=64), FLOW_ESTIMATORS.get("dis")()
    steps = latents_from_references(model, parse_refs([f"sky={right}", f"water={down}"]), estimator,
                                    HalvesSegmenter(), every=1, max_pairs=4)  # per step: (4 pairs, D)
    assert sorted(steps) == ["sky", "water"] and steps["sky"].shape == (4, 2)
    torch.testing.assert_close(steps["sky"], torch.tensor([[-1.0, 0.0]]).expand(4, 2), atol=0.15, rtol=0)
    latents = latents_from_references(model, parse_refs([f"sky={right}", f"water={down}"]), estimator,
                                      HalvesSegmenter(), every=1, max_pairs=4, mode="mean")
    torch.testing.assert_close(latents["sky"], steps["sky"].mean(dim=0))
    # the content moves right: the backward flow points left, -2 px at 64 = -1 px on the 32 encoder grid
    torch.testing.assert_close(latents["sky"], torch.tensor([-1.0, 0.0]), atol=0.15, rtol=0)
    torch.testing.assert_close(latents["water"], torch.tensor([0.0, -1.0]), atol=0.15, rtol=0)
    video = list(animate(model, still, halves(180, 320), latents, frames=3))
    flow_px = normalised_to_pixels(video[1].flow[None])[0]  # (2, 64, 64), px of the model grid
    torch.testing.assert_close(flow_px[:, :32].mean(dim=(1, 2)), torch.tensor([-2.0, 0.0]), atol=0.3, rtol=0)
    torch.testing.assert_close(flow_px[:, 32:].mean(dim=(1, 2)), torch.tensor([0.0, -2.0]), atol=0.3, rtol=0)
    # the sky of the 320x180 output moves right by 2 / 64 of its width per step: 10 px
    shift = np.abs(video[2].frame[20:70, 40:280].astype(int) - still[20:70, 20:260]).mean()
    assert shift < np.abs(video[2].frame[20:70, 40:280].astype(int) - still[20:70, 40:280]).mean() / 3
    # "all" gives every semantic present in its video; a named semantic overrides it
    both = latents_from_references(model, parse_refs([f"all={right}", f"water={down}"]), estimator,
                                   HalvesSegmenter(), every=1, max_pairs=4, mode="mean")
    torch.testing.assert_close(both["sky"], latents["sky"])
    torch.testing.assert_close(both["water"], latents["water"])
    with pytest.raises(UsageError, match="no tree"):
        latents_from_references(model, {"tree": right}, estimator, HalvesSegmenter(), every=1)


def test_bad_inputs_are_named(tmp_path, still):
    with pytest.raises(UsageError, match="SEMANTIC=VIDEO"):
        parse_refs(["clouds.mp4"])
    with pytest.raises(UsageError, match="unknown semantic 'cloud'"):
        parse_refs([f"cloud={tmp_path}"])
    with pytest.raises(UsageError, match="does not exist"):
        parse_refs(["sky=missing.mp4"])
    with pytest.raises(UsageError, match="already"):
        parse_refs([f"sky={tmp_path}", f"sky={tmp_path}"])
    cv2.imwrite(str(tmp_path / "bad.png"), np.full((4, 4), 9, np.uint8))
    with pytest.raises(UsageError, match="value 9"):
        read_group_png(tmp_path / "bad.png")
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UsageError, match="single-channel"):
        read_group_png(tmp_path / "rgb.png")
    with pytest.raises(UsageError, match="does not exist"):
        read_group_png(tmp_path / "none.png")
    with pytest.raises(ValueError, match="unknown semantic 'clouds'"):
        list(animate(tiny_model(), still, halves(180, 320), {"clouds": torch.zeros(2)}, frames=2))
    from timelapse_d.segmentation import SEGMENTERS

    with pytest.raises(UsageError, match="--masks"):
        input_groups(still, 32, segmenter=SEGMENTERS.get("oracle")())


def test_preprocessing_comes_from_the_training_provenance():
    meta = {"flow": {"estimator": "farneback", "direction": "backward", "units": "px"}, "every": 2,
            "segmenter": {"segmenter": "oracle", "groups": list(GROUPS), "resize_to": [96, 96]}, "size": [96, 96]}
    recorded = resolve_preprocessing(provenance_from_meta(meta))
    assert recorded == Preprocessing(flow=("farneback", {}), segmenter=("oracle", {"resize_to": [96, 96]}), every=2)
    assert recorded.build_segmenter().config.resize_to == (96, 96)
    assert resolve_preprocessing(None) == Preprocessing(flow=("dis", {}), segmenter=("segformer", {}), every=4)
    with pytest.warns(UserWarning, match="trained on flow estimator"):
        chosen = resolve_preprocessing(provenance_from_meta(meta), flow="dis", flow_params={"preset": "fast"})
    assert chosen.flow == ("dis", {"preset": "fast"}) and chosen.every == 2
    with pytest.raises(UsageError, match="unknown flow estimator 'raft'"):
        resolve_preprocessing(None, flow="raft").build_estimator()


def shard_paths(work):
    return sorted(str(path) for path in (work / "shards").glob("*.tar"))


def test_codebook_build_save_load_and_sample(precomputed_run, tmp_path):
    model = tiny_model(image_size=64, encoder_size=32)
    paths = shard_paths(precomputed_run)
    clips = [ClipSample(entries) for path in paths for entries in read_samples(path)]
    book = build_codebook(model, paths, pairs="mean")
    assert book.latents.shape == (len(clips), 6, 2) and book.keys.tolist() == [clip.key for clip in clips]
    for clip, present in zip(clips, book.present):  # present = seen by the encoder in some pair
        _, groups = clip_pair_inputs(clip, list(range(len(clip) - 1)), 64)
        masks = prepare_encoder_inputs(torch.zeros(len(groups), 2, 64, 64), groups, 32)[1]
        assert present.tolist() == (masks.sum(dim=(0, 2, 3)) > 0).tolist()
    assert (book.latents[~book.present] == 0).all()
    assert book.meta["provenance"]["segmenter"]["segmenter"] == "oracle" and book.meta["provenance"]["every"] == 2

    book.save(tmp_path / "book.npz")
    loaded = Codebook.load(tmp_path / "book.npz")
    for name in ("latents", "present", "keys", "pairs"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(book, name))
    assert loaded.meta == json.loads(json.dumps(book.meta))
    for seed in range(20):
        rows = loaded.sample_rows(seed)
        assert rows == loaded.sample_rows(seed)  # seeded
        assert set(rows) == {name for k, name in enumerate(GROUPS) if loaded.present[:, k].any()}
        assert all(loaded.present[row, GROUPS.index(name)] for name, row in rows.items())
        for name, latent in loaded.sample(seed).items():
            np.testing.assert_array_equal(latent.numpy(), loaded.latents[rows[name], GROUPS.index(name)])

    random_pairs = build_codebook(model, paths, pairs="random", seed=5)
    assert random_pairs.pairs.tolist() == build_codebook(model, paths, pairs="random", seed=5).pairs.tolist()
    assert all(0 <= pair < len(clip) - 1 for pair, clip in zip(random_pairs.pairs, clips))
    np.save(tmp_path / "not.npy", np.zeros(3))
    with pytest.raises(UsageError, match="not an FGLA codebook"):
        Codebook.load(tmp_path / "not.npy")


def test_codebook_command_from_a_release(precomputed_run, tmp_path):
    paths = shard_paths(precomputed_run)
    counts = [sum(1 for _ in read_samples(path)) for path in paths]
    release = tmp_path / "release"
    release.mkdir()
    (release / "release.json").write_text(json.dumps({
        "shards_location": str(precomputed_run / "shards"),
        "shards": [{"name": Path(p).name, "split": "train", "samples": n} for p, n in zip(paths, counts)]}))
    assert release_shard_paths(release) == paths
    checkpoint.save(tmp_path / "model.pt", tiny_model(), FGLAConfig(**TINY))
    parser = argparse.ArgumentParser()
    add_codebook_arguments(parser)
    args = parser.parse_args(["--release", str(release), "--checkpoint", str(tmp_path / "model.pt"),
                              "--out", str(tmp_path / "book.npz"), "--device", "cpu", "--no-progress"])
    assert run_codebook(args) == 0
    book = Codebook.load(tmp_path / "book.npz")
    assert len(book.keys) == sum(counts) and book.meta["checkpoint_sha256"] == sha256_file(tmp_path / "model.pt")


def animate_args(*argv):
    parser = argparse.ArgumentParser()
    add_animate_arguments(parser)
    return parser.parse_args(["--no-progress", "--device", "cpu", *argv])


def test_animate_command_on_a_real_still(tmp_path):
    still = STILLS / "al_coast_input1.png"  # 640x360
    model_path = tmp_path / "model.pt"
    checkpoint.save(model_path, tiny_model(c=2.0), FGLAConfig(**{**TINY, "c": 2.0}))
    Codebook(latents=np.tile(np.array([[0.5, -0.5]], np.float32), (2, 6, 1)), present=np.ones((2, 6), bool),
             keys=np.array(["a", "b"]), pairs=np.array([-1, -1]),
             meta={"format": "fgla-codebook", "version": 1, "checkpoint_sha256": sha256_file(model_path)}
             ).save(tmp_path / "book.npz")
    cv2.imwrite(str(tmp_path / "masks.png"), halves(50, 100, SKY, OTHERS))  # any size: squashed nearest
    common = ["--image", str(still), "--checkpoint", str(model_path), "--codebook", str(tmp_path / "book.npz"),
              "--masks", str(tmp_path / "masks.png"), "--frames", "4"]
    assert run_animate(animate_args(*common, "--out", str(tmp_path / "out.mp4"))) == 0
    info = probe_video(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height) == (4, 640, 360)
    assert run_animate(animate_args(*common, "--out", str(tmp_path / "flow.gif"), "--show-flow", "--speed", "4")) == 0
    with Image.open(tmp_path / "flow.gif") as gif:
        assert (gif.n_frames, gif.size) == (4, (1280, 360))
    with pytest.raises(UsageError, match="--ref SEMANTIC=VIDEO or --codebook"):
        run_animate(animate_args("--image", str(still), "--checkpoint", str(model_path), "--out", "x.mp4"))
    with pytest.raises(UsageError, match="input image .* does not exist"):
        run_animate(animate_args(*common[2:], "--image", "missing.jpg", "--out", str(tmp_path / "x.mp4")))
    with pytest.raises(UsageError, match="built with"):
        other = tmp_path / "other.pt"
        checkpoint.save(other, tiny_model(seed=1), FGLAConfig(**TINY))
        run_animate(animate_args(*common[:2], "--checkpoint", str(other), *common[4:],
                                 "--out", str(tmp_path / "x.mp4")))
