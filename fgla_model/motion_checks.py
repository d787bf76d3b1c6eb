"""Checks of the motion a model generates for a clip: the clip's own latents, one-step flow error,
static drift, per-semantic control and speed control. Used by the demo report, the ground-truth
benchmark (``benchmarks/synthetic_ground_truth.py``) and the regression test.

Units: flows are PIXELS of the model's S x S grid, (S, S, 2) numpy arrays, backward (the data's
convention); a model's normalised flow goes through ``step_pixels``. Group maps are (S, S) uint8.

    >>> import numpy as np
    >>> flow = np.zeros((4, 4, 2), np.float32); flow[:2, :, 0] = 2.0    # the top half moves 2 px in x
    >>> mask = np.zeros((4, 4), bool); mask[:2] = True
    >>> region_mean(flow, mask).tolist(), round(cosine(np.array([2.0, 0.0]), np.array([1.0, 1.0])), 3)
    ([2.0, 0.0], 0.707)
"""
from __future__ import annotations

import numpy as np
import torch

from timelapse_d.resize import fit_frame
from timelapse_d.segmentation import GROUPS
from timelapse_d.shards import ClipSample

from .animate import AnimationFrame, animate
from .codebook import clip_pair_inputs, encode_pairs, step_latents
from .model import FGLA
from .warp import accumulate_flow, normalised_to_pixels

SKY, WATER, OTHERS = GROUPS.index("sky"), GROUPS.index("water"), GROUPS.index("others")


def step_pixels(flow: torch.Tensor) -> np.ndarray:
    """A model step flow (2, S, S) normalised -> (S, S, 2) pixels of the S grid."""
    return normalised_to_pixels(flow[None].float().cpu())[0].permute(1, 2, 0).numpy()


def region_mean(flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean (2,) of an (S, S, 2) flow over the True pixels of ``mask`` (S, S)."""
    return flow[mask].mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two 2-d vectors (0 when either is zero)."""
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@torch.no_grad()
def clip_latents(model: FGLA, clip: ClipSample, pairs: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip as its own reference video: the latents of its first ``pairs`` pairs, (P, K, D) on the
    CPU, a semantic missing from a pair taking its mean over the others (as ``fgla animate`` does with
    ``--ref-latents per-step``), and which semantics it shows (K,) bool."""
    indices = list(range(min(pairs, len(clip) - 1)))
    flows, groups = clip_pair_inputs(clip, indices, model.config.image_size)  # (P, 2, S, S) px, (P, S, S)
    device = next(model.parameters()).device
    latents, anywhere = step_latents(*encode_pairs(model, flows.to(device), groups.to(device)))  # (P, K, D), (K,)
    return latents.cpu(), anywhere.cpu()


def latent_dict(latents: torch.Tensor, present: torch.Tensor) -> dict[str, torch.Tensor]:
    """(P, K, D) or (K, D) latents and present (K,) -> ``animate``'s semantic name -> (P, D) or (D,)."""
    return {name: latents[..., k, :] for k, name in enumerate(GROUPS) if present[k]}


@torch.no_grad()
def one_step_flow(model: FGLA, frame: np.ndarray, groups: np.ndarray, latents: torch.Tensor) -> np.ndarray:
    """The generator's step from a REAL frame (S, S, 3) uint8 with its groups (S, S) and latents (K, D)
    -> (S, S, 2) pixels (the still semantics, if the model has any, are 0)."""
    device = next(model.parameters()).device
    image = torch.from_numpy(frame).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1  # (1, 3, S, S)
    ids = torch.from_numpy(groups.astype(np.int64)).to(device)[None]  # (1, S, S)
    return step_pixels(model.generate(image, ids, latents[None].to(device))[0])


def static_drift(video: list[AnimationFrame], still: np.ndarray) -> dict[str, float]:
    """How far the pixels of ``still`` (S, S) bool (e.g. the input's "others") move in a generated
    ``video``: mean |F_t| over them, the largest over steps and the mean over steps, and mean |A|
    of the accumulated (composed) flow after the last step, px of the S grid (NaN without such pixels)."""
    if not still.any() or len(video) < 2:
        return dict.fromkeys(("per_step_max", "per_step_mean", "accumulated"), float("nan"))
    per_step, accumulated = [], None
    for frame in video[1:]:
        per_step.append(float(np.linalg.norm(step_pixels(frame.flow), axis=2)[still].mean()))
        accumulated = accumulate_flow(accumulated, frame.flow[None])
    return {"per_step_max": max(per_step), "per_step_mean": float(np.mean(per_step)),
            "accumulated": float(np.linalg.norm(step_pixels(accumulated[0]), axis=2)[still].mean())}


def uniform_latent(model: FGLA, flow_px: np.ndarray, groups: np.ndarray, name: str) -> torch.Tensor:
    """The latent E gives semantic ``name`` for a reference whose flow is ``flow_px`` (2,) everywhere
    (backward, px of the S grid), on the masks ``groups`` (S, S): (D,) on the CPU."""
    S = model.config.image_size
    flow = torch.tensor(flow_px, dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, S, S).clone()  # (1, 2, S, S)
    ids = torch.from_numpy(groups.astype(np.int64))[None]  # (1, S, S)
    device = next(model.parameters()).device
    return encode_pairs(model, flow.to(device), ids.to(device))[0][0, GROUPS.index(name)].cpu()


def control(model: FGLA, frame: np.ndarray, groups: np.ndarray, latents: dict[str, torch.Tensor]) -> dict:
    """Per-semantic control: the first step with ONLY ``latents`` (semantic name -> (D,), e.g. sky from
    reference A and water from reference B): each named region's mean step flow (2,) px, backward,
    under "means", and the mean |flow| over every other pixel (no latent: they must stay) as "others_px"."""
    video = list(animate(model, frame, groups, latents, frames=2))
    step = step_pixels(video[1].flow)
    rest = ~np.isin(groups, [GROUPS.index(name) for name in latents])
    return {"means": {name: region_mean(step, groups == GROUPS.index(name)) for name in latents},
            "others_px": float(np.linalg.norm(step, axis=2)[rest].mean()) if rest.any() else 0.0}


def uniform_response(model: FGLA, frame: np.ndarray, groups: np.ndarray, name: str, px: float) -> float:
    """The mean x flow (px) the first step gives ``name``'s region when it alone has the latent of a reference
    moving ``px`` pixels in x everywhere: a model that reads the motion's magnitude answers about ``px``."""
    latent = uniform_latent(model, np.array([px, 0.0]), groups, name)
    return float(control(model, frame, groups, {name: latent})["means"][name][0])


def speed_ratio(model: FGLA, frame: np.ndarray, groups: np.ndarray, latents: dict[str, torch.Tensor], speed: float,
                frames: int = 32) -> float:
    """How much faster the animation at ``speed`` moves than at speed 1: the step magnitudes summed over all
    steps and over the pixels moving in BOTH animations at that step, one sum over the other. (The pixels
    a semantic covers drift apart between the two runs: at 4x a waterfall's water runs out of its opening
    four times sooner, and such pixels would compare one run's motion with the other's stillness.)"""
    def magnitudes(at: float) -> list[np.ndarray]:  # per step, (S, S) px
        video = animate(model, frame, groups, latents, frames, at)
        return [np.linalg.norm(step_pixels(f.flow), axis=2) for f in list(video)[1:]]

    fast, base = 0.0, 0.0
    for a, b in zip(magnitudes(1.0), magnitudes(speed)):
        both = (a > 0) & (b > 0)
        base, fast = base + float(a[both].sum()), fast + float(b[both].sum())
    return fast / base if base else float("nan")


def model_frame(clip: ClipSample, index: int, size: int) -> np.ndarray:
    """Kept frame ``index`` of a clip squashed to the model's size x size, (S, S, 3) uint8."""
    return fit_frame(clip.frame(index), (size, size))
