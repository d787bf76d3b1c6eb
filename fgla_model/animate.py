"""Animating a still image: Algorithm 1 of the paper (§3.4), at any resolution. Choices: docs/animation.md.

Shapes (S = the model's image_size, 256 at paper scale; H x W = the input photo's size; K = 6
semantics, ``GROUPS``; D = latent_dim):

1. latents   per semantic, from a reference video (``latents_from_references``: the encoder's
             latent of each of the reference's pairs, step t taking pair t (Algorithm 1), or their
             mean, or one chosen pair) or sampled from a codebook (``fgla_model.codebook``); a
             semantic without one is STILL
2. masks     group ids of the input, (S, S), from the segmenter or a label PNG (``input_groups``),
             warped along with the frames (nearest) instead of re-segmenting each step
3. generate  F_t = speed * P(L_t + I_hat_t) at S x S, normalised units, 0 on still semantics
4. accumulate A_t = accumulate_flow(A_{t-1}, F_t), "compose" (exact, default) or "sum" (the paper's)
5. warp      I_hat_{t+1} = Warp(I_0, upsample(A_t)) at H x W: always from the original photo

    >>> import numpy as np, torch
    >>> from fgla_model.model import FGLA, FGLAConfig
    >>> model = FGLA(FGLAConfig(image_size=16, encoder_size=8, encoder_base_channels=2, encoder_depth=1,
    ...                         generator_base_channels=2, generator_depth=1))
    >>> photo = np.random.default_rng(0).integers(0, 256, (36, 64, 3), dtype=np.uint8)
    >>> groups = np.zeros((36, 64), np.uint8)                     # all sky
    >>> video = list(animate(model, photo, groups, {"sky": torch.tensor([0.5, -0.5])}, frames=4))
    >>> len(video), video[-1].frame.shape, bool((video[0].frame == photo).all())
    (4, (36, 64, 3), True)

Command line (``fgla animate``): ``fgla animate --image photo.jpg --checkpoint runs/paper/checkpoint.pt
--ref sky=clouds.mp4 --ref water=sea.mp4 --out out.mp4``; ``add_animate_arguments`` / ``run_animate``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from timelapse_d.config import config_from_params
from timelapse_d.errors import UsageError
from timelapse_d.flow import DEFAULT_FLOW_ESTIMATOR, FLOW_ESTIMATORS
from timelapse_d.frame_reader import read_frames
from timelapse_d.media import VideoProbeError, sha256_file
from timelapse_d.resize import fit_frame, fit_groups
from timelapse_d.segmentation import GROUPS, SEGMENTERS

from . import checkpoint
from .codebook import Codebook, average_latents, encode_pairs, resolve_device, step_latents
from .model import FGLA
from .render import (DEFAULT_CRF, DEFAULT_PRESET, X264_PRESETS, check_output_path, check_x264, side_by_side,
                     write_animation)
from .warp import ACCUMULATION_MODES, accumulate_flow, identity_grid, normalised_to_pixels, warp

DEFAULT_SEGMENTER, DEFAULT_EVERY = "segformer", 4
REF_ALL = "all"
PADDING = "reflection"  # content leaving an edge is followed in by its mirror image, not by the edge pixel smeared
REF_LATENTS = ("per-step", "mean")


@dataclasses.dataclass
class AnimationFrame:
    """One output frame (H, W, 3) uint8 RGB and the step flow that made it, (2, S, S) normalised on the
    CPU (zeros for frame 0, which is the input itself)."""

    frame: np.ndarray
    flow: torch.Tensor


# ---------------------------------------------------------------------------------------------------
# inputs: the photo, its masks, the reference specs


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB; UsageError naming ``path`` when missing or undecodable."""
    import cv2

    if not Path(path).is_file():
        raise UsageError(f"input image {path} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UsageError(f"input image {path} cannot be decoded as an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_group_png(path: str | Path) -> np.ndarray:
    """An 8-bit single-channel PNG of group ids 0..5 (``GROUPS``) -> (h, w) uint8; UsageError otherwise."""
    import cv2

    if not Path(path).is_file():
        raise UsageError(f"mask PNG {path} does not exist")
    groups = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if groups is None:
        raise UsageError(f"mask PNG {path} cannot be decoded")
    if groups.ndim != 2 or groups.dtype != np.uint8:
        raise UsageError(f"mask PNG {path} must be 8-bit single-channel (group ids), got shape {groups.shape} "
                         f"{groups.dtype}")
    if groups.size and int(groups.max()) >= len(GROUPS):
        raise UsageError(f"mask PNG {path} holds value {int(groups.max())}; group ids are 0..{len(GROUPS) - 1} "
                         f"({', '.join(f'{i}={name}' for i, name in enumerate(GROUPS))})")
    return groups


def check_segmenter(segmenter, what: str) -> None:
    """Raise UsageError when ``segmenter`` cannot look at pixels (``oracle`` reads a source's own masks)."""
    if segmenter.needs_source_masks:
        raise UsageError(f"segmenter {segmenter.name!r} reads masks shipped with a source and cannot segment {what}; "
                         f"give a segmenter that looks at pixels (--segmenter)")


def input_groups(image: np.ndarray, size: int, masks: str | Path | None = None, segmenter=None) -> np.ndarray:
    """The input's group ids at size x size, (size, size) uint8: from the label PNG ``masks`` (any size,
    squashed nearest), else by ``segmenter`` on the squashed image (as the training frames were)."""
    if masks is not None:
        return fit_groups(read_group_png(masks), (size, size))
    check_segmenter(segmenter, "the input image (pass --masks)")
    return segmenter.segment(fit_frame(image, (size, size)))


def parse_refs(specs: list[str]) -> dict[str, Path]:
    """``["sky=a.mp4", "all=c.mp4"]`` -> {"sky": a.mp4, "all": c.mp4}; UsageError naming a bad spec."""
    refs: dict[str, Path] = {}
    for spec in specs:
        semantic, equals, path = spec.partition("=")
        if not equals or not path:
            raise UsageError(f"--ref {spec!r} must be SEMANTIC=VIDEO, e.g. sky=clouds.mp4")
        if semantic not in (*GROUPS, REF_ALL):
            raise UsageError(f"--ref {spec!r}: unknown semantic {semantic!r}; known: {', '.join((*GROUPS, REF_ALL))}")
        if semantic in refs:
            raise UsageError(f"--ref {spec!r}: {semantic} has a reference already ({refs[semantic]})")
        if not Path(path).exists():
            raise UsageError(f"--ref {spec!r}: reference video {path} does not exist")
        refs[semantic] = Path(path)
    return refs


# ---------------------------------------------------------------------------------------------------
# the training data's flow estimator, segmenter and frame step


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How the training clips' flow and masks were made: estimator and segmenter (name, parameters),
    one frame kept in ``every``."""

    flow: tuple[str, dict]
    segmenter: tuple[str, dict]
    every: int

    def build_estimator(self):
        return _build(FLOW_ESTIMATORS, "flow estimator", *self.flow)

    def build_segmenter(self):
        return _build(SEGMENTERS, "segmenter", *self.segmenter)


def _build(registry, kind: str, name: str, params: dict):
    try:
        cls = registry.get(name)
        return cls(config_from_params(cls.config_class, params, f"{kind} {name!r}"))
    except (KeyError, ValueError) as error:
        raise UsageError(str(error).strip('"')) from None


def _recorded(registry, record: dict | None, name_key: str) -> tuple[str, dict] | None:
    """A provenance record (an estimator's / segmenter's ``params()``) -> (name, its config fields)."""
    if record is None:
        return None
    try:
        fields = {field.name for field in dataclasses.fields(registry.get(record[name_key]).config_class)}
    except KeyError as error:
        raise UsageError(f"the training provenance {record}: {str(error).strip(chr(34))}") from None
    return record[name_key], {key: value for key, value in record.items() if key in fields}


def _choose(kind: str, recorded, given, default):
    """The given value over the recorded one over the default; warn when the given one contradicts the record."""
    chosen = given if given is not None else recorded if recorded is not None else default
    if recorded is not None and chosen != recorded:
        warnings.warn(f"the model was trained on {kind} {recorded}; using {chosen}", stacklevel=3)
    return chosen


def resolve_preprocessing(provenance: dict | None, flow: str | None = None, flow_params: dict | None = None,
                          segmenter: str | None = None, segmenter_params: dict | None = None,
                          every: int | None = None) -> Preprocessing:
    """Training provenance (``codebook.provenance_from_meta``, from the checkpoint or the codebook), else the
    arguments, else the defaults (dis, segformer, 4). An argument that contradicts the record wins, with a
    warning: latents from another estimator or segmenter are not what the model was trained on. Parameters
    not given are the recorded ones when the name is the recorded one, else the estimator's defaults."""
    provenance = provenance or {}
    for name, params in (("--flow-params", flow_params), ("--segmenter-params", segmenter_params)):
        if params is not None and not isinstance(params, dict):
            raise UsageError(f"{name} must be a JSON object, got {params!r}")
    pairs = []
    for kind, registry, key, name_key, name, params, default in (
            ("flow estimator", FLOW_ESTIMATORS, "flow", "estimator", flow, flow_params, DEFAULT_FLOW_ESTIMATOR),
            ("segmenter", SEGMENTERS, "segmenter", "segmenter", segmenter, segmenter_params, DEFAULT_SEGMENTER)):
        recorded = _recorded(registry, provenance.get(key), name_key)
        base_name = name or (recorded[0] if recorded else default)
        base_params = recorded[1] if recorded and recorded[0] == base_name else {}
        pairs.append(_choose(kind, recorded, (base_name, params if params is not None else base_params), None))
    chosen_every = _choose("every", provenance.get("every"), every, DEFAULT_EVERY)
    if chosen_every < 1:
        raise UsageError(f"--every must be >= 1, got {chosen_every}")
    return Preprocessing(flow=pairs[0], segmenter=pairs[1], every=int(chosen_every))


# ---------------------------------------------------------------------------------------------------
# 1. latents from reference videos


def read_reference(path: str | Path, every: int, count: int) -> list[np.ndarray]:
    """Frames 0, every, 2 every, ... of a video (at most ``count``; fewer if it ends), (H, W, 3) uint8 each."""
    frames: list[np.ndarray] = []
    try:
        for _, frame in read_frames(path, range(0, every * count, every)):
            frames.append(frame)
    except VideoProbeError as error:  # the video ends before ``count`` kept frames: use what it has
        if len(frames) < 2:
            raise UsageError(f"reference {path}: needs 2 frames at every = {every}: {error}") from None
    return frames


@torch.no_grad()
def reference_latents(model: FGLA, frames: list[np.ndarray], estimator, segmenter, mode: str = "per-step",
                      pair: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A reference's kept frames (any size, >= 2) -> per-semantic latents and present (K,) bool.

    The frames are squashed to the model's S x S (as the training data), the flow of each consecutive
    pair estimated and its first frame segmented, and each pair encoded. ``mode`` "per-step": the
    latents of every pair, (P, K, D) (Algorithm 1: step t of the animation takes the reference's
    step t; a semantic missing from a pair takes its mean over the others); "mean": each semantic's
    mean over the pairs where it is present, (K, D); ``pair``: that pair's latents alone, (K, D).
    """
    if mode not in REF_LATENTS:
        raise UsageError(f"reference latents must be one of {REF_LATENTS}, got {mode!r}")
    S = model.config.image_size
    pairs = len(frames) - 1
    if pair is not None and not 0 <= pair < pairs:
        raise UsageError(f"--ref-pair {pair}: the reference has pairs 0..{pairs - 1}")
    check_segmenter(segmenter, "a reference video")
    small = [fit_frame(frame, (S, S)) for frame in frames]  # (S, S, 3) each
    indices = range(pairs) if pair is None else [pair]
    flows = torch.stack([torch.from_numpy(estimator.estimate(small[i], small[i + 1])) for i in indices])  # (P,S,S,2)
    groups = torch.stack([torch.from_numpy(segmenter.segment(small[i]).astype(np.int64)) for i in indices])  # (P,S,S)
    device = next(model.parameters()).device
    latents, present = encode_pairs(model, flows.permute(0, 3, 1, 2).to(device), groups.to(device))  # (P,K,D), (P,K)
    if mode == "mean" or pair is not None:
        z, anywhere = average_latents(latents, present)  # (K, D), (K,)
    else:
        z, anywhere = step_latents(latents, present)  # (P, K, D), (K,)
    return z.cpu(), anywhere.cpu()


def latents_from_references(model: FGLA, refs: dict[str, Path], estimator, segmenter, every: int,
                            max_pairs: int = 32, mode: str = "per-step",
                            pair: int | None = None) -> dict[str, torch.Tensor]:
    """{"sky": a.mp4, "all": c.mp4, ...} -> semantic name -> latents, (P, D) per step or (D,) (``mode``,
    ``pair``: ``reference_latents``). ``all`` gives every semantic present in its video; a named
    semantic takes its own reference's latents (over ``all``'s) and must be present in it. Each video is
    read once: ``max_pairs`` + 1 frames, one in ``every``."""
    computed: dict[Path, tuple[torch.Tensor, torch.Tensor]] = {}
    for path in refs.values():
        if path not in computed:
            computed[path] = reference_latents(model, read_reference(path, every, max_pairs + 1), estimator,
                                               segmenter, mode, pair)
    latents = {}
    if REF_ALL in refs:
        z, present = computed[refs[REF_ALL]]
        latents = {name: z[..., k, :] for k, name in enumerate(GROUPS) if present[k]}
    for name, path in refs.items():
        if name == REF_ALL:
            continue
        z, present = computed[path]
        if not present[GROUPS.index(name)]:
            raise UsageError(f"--ref {name}={path}: the segmenter finds no {name} in the reference's sampled "
                             f"frames; choose a video showing {name}")
        latents[name] = z[..., GROUPS.index(name), :]
    return latents


# ---------------------------------------------------------------------------------------------------
# 2-5. the animation loop


def warp_groups(groups: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp group ids (B, H, W) int64 by a normalised flow (B, 2, H, W), nearest, as the frames are."""
    B, H, W = groups.shape
    grid = identity_grid(B, H, W, flow.device, torch.float32) + flow.permute(0, 2, 3, 1).float()  # (B, H, W, 2)
    out = F.grid_sample(groups[:, None].float(), grid, mode="nearest", padding_mode=PADDING, align_corners=False)
    return out[:, 0].long()  # (B, H, W)


def latent_steps(latents: dict[str, torch.Tensor], D: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Semantic name -> (D,) or (P, D) latents -> each step's latent matrix (steps, K, D), zero for the
    semantics not given, and which semantics move (K,) bool. A (P, D) sequence repeats from its start."""
    z = torch.zeros(steps, len(GROUPS), D)  # (T, K, D)
    moving = torch.zeros(len(GROUPS), dtype=torch.bool)  # (K,)
    for name, latent in latents.items():
        if name not in GROUPS:
            raise ValueError(f"unknown semantic {name!r}; known: {', '.join(GROUPS)}")
        if latent.dim() not in (1, 2) or latent.shape[-1] != D or latent.numel() == 0:
            raise ValueError(f"the {name} latent must have shape ({D},) or (P, {D}) (latent_dim), got {tuple(latent.shape)}")
        rows = latent.detach().float().cpu().reshape(-1, D)  # (P, D)
        z[:, GROUPS.index(name)] = rows[torch.arange(steps) % len(rows)]
        moving[GROUPS.index(name)] = True
    return z, moving


@torch.no_grad()
def animate(model: FGLA, image: np.ndarray, groups: np.ndarray, latents: dict[str, torch.Tensor], frames: int,
            speed: float = 1.0, accumulate: str = "compose", progress: bool = False) -> Iterator[AnimationFrame]:
    """Yield ``frames`` frames of the animated ``image`` (H, W, 3) uint8, frame 0 being ``image`` itself.

    ``groups``: the image's group ids (any size, squashed nearest to S x S); ``latents``: semantic name
    -> (D,) latent for every step, or (P, D) latents, step t taking row t mod P (a reference's own
    steps, Algorithm 1); the others stay still; ``speed`` > 0 scales every step's flow; ``accumulate``:
    "compose" or "sum". The model runs on its own device, in eval mode.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a finite number > 0, got {speed}")
    if accumulate not in ACCUMULATION_MODES:
        raise ValueError(f"accumulate must be one of {ACCUMULATION_MODES}, got {accumulate!r}")
    model.eval()
    device, S = next(model.parameters()).device, model.config.image_size
    H, W = image.shape[:2]
    z, moving = latent_steps(latents, model.config.latent_dim, max(frames - 1, 1))  # (T, K, D), (K,)
    z, moving = z.to(device), moving.to(device)

    full = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float()  # (1, 3, H, W) in [0, 255]
    small = torch.from_numpy(fit_frame(image, (S, S))).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
    groups0 = torch.from_numpy(fit_groups(groups, (S, S)).astype(np.int64)).to(device)[None]  # (1, S, S)
    yield AnimationFrame(frame=image, flow=torch.zeros(2, S, S))
    accumulated = None  # A_{t-1}, (1, 2, S, S) normalised
    for t in _progress(range(frames - 1), progress):
        current = small if accumulated is None else warp(small, accumulated, PADDING)  # I_hat_t at S x S, from I_0
        current_groups = groups0 if accumulated is None else warp_groups(groups0, accumulated)  # (1, S, S)
        step = model.generate(current, current_groups, z[t][None]) * speed  # (1, 2, S, S) F_t
        step = step * moving[current_groups][:, None]  # still semantics do not move
        accumulated = accumulate_flow(accumulated, step, accumulate)
        # a normalised flow is resolution-independent: upsample A_t, no value rescaling
        upsampled = F.interpolate(accumulated, size=(H, W), mode="bilinear", align_corners=False)  # (1, 2, H, W)
        frame = warp(full, upsampled, PADDING).round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)  # (H, W, 3)
        yield AnimationFrame(frame=frame.cpu().numpy(), flow=step[0].cpu())


def _progress(steps, enabled: bool):
    from tqdm import tqdm

    return tqdm(steps, disable=not enabled, unit="frame")


def flow_panel(flow: torch.Tensor) -> np.ndarray:
    """A step flow (2, S, S) normalised -> the content's motion, (S, S, 2) pixels of the S grid: the
    backward flow negated (content at p came from p + F(p)), so clouds drifting right draw red."""
    return -normalised_to_pixels(flow[None])[0].permute(1, 2, 0).numpy()


# ---------------------------------------------------------------------------------------------------
# command line


def add_animate_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fgla animate`` arguments; ``run_animate`` handles them."""
    parser.add_argument("--image", required=True, help="the still to animate (any size; the video keeps it)")
    parser.add_argument("--checkpoint", required=True, help="a trained model (fgla train's checkpoint.pt)")
    parser.add_argument("--out", required=True, help="output video: .mp4 (H.264, even sizes) or .gif")
    parser.add_argument("--ref", action="append", default=[], metavar="SEMANTIC=VIDEO",
                        help=f"reference video for one semantic ({', '.join(GROUPS)}) or '{REF_ALL}' (repeatable); "
                             f"a semantic without one stays still")
    parser.add_argument("--codebook", help="codebook .npz (fgla codebook): latents for semantics without --ref")
    parser.add_argument("--seed", type=int, default=0, help="codebook draw (default: 0)")
    parser.add_argument("--masks", help="label PNG of the image's group ids 0..5, any size (default: the segmenter)")
    parser.add_argument("--frames", type=int, default=32, help="output frames, the input included (default: 32)")
    parser.add_argument("--speed", type=float, default=1.0, help="multiplies every step's flow, > 0 (default: 1)")
    parser.add_argument("--accumulate", choices=ACCUMULATION_MODES, default="compose",
                        help="step flows are composed exactly (default) or summed (the paper's line 10)")
    parser.add_argument("--fps", type=float, default=8.0, help="output frame rate (default: 8)")
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF,
                        help=f"MP4 quality: x264's constant rate factor 0..51, lower is better (default: "
                             f"{DEFAULT_CRF}, visually lossless)")
    parser.add_argument("--preset", choices=X264_PRESETS, default=DEFAULT_PRESET,
                        help=f"MP4 encoding speed: slower x264 presets give smaller files at the same CRF "
                             f"(default: {DEFAULT_PRESET})")
    parser.add_argument("--show-flow", action="store_true",
                        help="write the frames side by side with each step's motion on the colour wheel")
    parser.add_argument("--flow-max", type=float,
                        help="motion (px of the model's grid) drawn at full colour (default: the largest step, "
                             "speed x image_size / (2 c))")
    parser.add_argument("--ref-pairs", type=int, default=32, help="pairs read from each reference (default: 32)")
    parser.add_argument("--ref-latents", choices=REF_LATENTS, default="per-step",
                        help="step t takes the reference's step t, repeating it when shorter (per-step, "
                             "Algorithm 1; default), or each semantic's mean over the reference's pairs (mean)")
    parser.add_argument("--ref-pair", type=int, help="use this pair of each reference at every step")
    parser.add_argument("--flow", help="flow estimator for references (default: the training data's, else dis)")
    parser.add_argument("--flow-params", type=json.loads, help="its parameters as JSON (default: the training data's)")
    parser.add_argument("--segmenter", help="segmenter (default: the training data's, else segformer)")
    parser.add_argument("--segmenter-params", type=json.loads,
                        help="its parameters as JSON (default: the training data's)")
    parser.add_argument("--every", type=int,
                        help="keep one reference frame in EVERY (default: the training data's, else 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_animate(args: argparse.Namespace) -> int:
    """Handle ``fgla animate``: write the video, print its path; 0 when done."""
    # 0. check the arguments before any work
    output_format = check_output_path(args.out)
    if args.frames < 1:
        raise UsageError(f"--frames must be >= 1, got {args.frames}")
    if not (args.speed > 0 and math.isfinite(args.speed)):
        raise UsageError(f"--speed must be a finite number > 0, got {args.speed}")
    if not args.fps > 0:
        raise UsageError(f"--fps must be > 0, got {args.fps}")
    check_x264(args.crf, args.preset)
    if args.flow_max is not None and not args.flow_max > 0:
        raise UsageError(f"--flow-max must be > 0, got {args.flow_max}")
    if args.ref_pairs < 1:
        raise UsageError(f"--ref-pairs must be >= 1, got {args.ref_pairs}")
    refs = parse_refs(args.ref)
    if not refs and not args.codebook:
        raise UsageError("give --ref SEMANTIC=VIDEO or --codebook: without a latent nothing moves")
    image = read_image(args.image)
    H, W = image.shape[:2]
    if output_format == ".mp4" and (H % 2 or W % 2):
        raise UsageError(f"--out {args.out}: H.264 needs even sizes, the image {args.image} is {W}x{H}; write a .gif")
    if not Path(args.checkpoint).is_file():
        raise UsageError(f"checkpoint {args.checkpoint} does not exist")

    # 1. model, training provenance, latents
    try:
        state = checkpoint.load(args.checkpoint, map_location=resolve_device(args.device))
    except ValueError as error:
        raise UsageError(str(error)) from None
    codebook = Codebook.load(args.codebook) if args.codebook else None
    if codebook is not None and codebook.meta.get("checkpoint_sha256") != sha256_file(args.checkpoint):
        raise UsageError(f"codebook {args.codebook} was built with {codebook.meta.get('checkpoint')}, not with "
                         f"{args.checkpoint}: another encoder's latents mean nothing to this generator")
    provenance = state.extra.get("provenance") or (codebook.meta.get("provenance") if codebook else None)
    prep = resolve_preprocessing(provenance, args.flow, args.flow_params, args.segmenter, args.segmenter_params,
                                 args.every)
    segmenter = prep.build_segmenter() if refs or not args.masks else None
    latents = codebook.sample(args.seed) if codebook is not None else {}
    if refs:
        latents.update(latents_from_references(state.model, refs, prep.build_estimator(), segmenter, prep.every,
                                               args.ref_pairs, args.ref_latents, args.ref_pair))

    # 2-5. animate and write
    S = state.config.image_size
    groups = input_groups(image, S, args.masks, segmenter)
    steps = animate(state.model, image, groups, latents, args.frames, args.speed, args.accumulate,
                    progress=not args.no_progress)
    flow_max = args.flow_max or args.speed * S / (2 * state.config.c)
    frames = (side_by_side(s.frame, flow_panel(s.flow), flow_max) if args.show_flow else s.frame for s in steps)
    write_animation(args.out, frames, args.fps, args.crf, args.preset)  # encodes each frame as it is made
    print(args.out)
    return 0
