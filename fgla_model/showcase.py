"""One test clip animated for the demo report: real beside generated, static drift, per-semantic control.

``showcase_clip`` animates a clip's first frame with the clip as its own reference (step t takes the
latents of the clip's pair t, Algorithm 1) and writes, into ``out``:

- ``clip_<i>.gif``: the real clip | the generated frames | the generated step flow (colour wheel),
  frame for frame; a real clip shorter than the animation holds its last frame (marked by a grey bar);
- ``clip_<i>_flow.png``: the first frame, the stored flow of its first pair and the first generated
  step, as content motion on one colour scale;
- ``clip_<i>_static.png``: the first and the last generated frame and |last - first| x 10 on the
  static ground (the input's "others"; other pixels grey);
- ``clip_<i>_control.gif``: per-semantic control: the sky driven by a reference moving RIGHT and the
  clip's other moving semantic (water, waterfall, tree or grass; the largest) by one moving LEFT (down
  for a waterfall), uniform 2 px flows encoded by the model's E on the clip's own masks.

It returns the figures the report shows: static drift (``motion_checks.static_drift``), the mean
|last - first| over the static ground in 8-bit levels, masked PSNR over the frames the clip has, and
the control's cosines (generated region mean flow against the reference direction) and the motion of
the pixels that got no latent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from timelapse_d.atomic import write_bytes_atomic
from timelapse_d.resize import fit_groups
from timelapse_d.segmentation import GROUPS
from timelapse_d.shards import ClipSample
from timelapse_d.shards.sample import encode_frame

from .animate import animate, flow_panel
from .codebook import clip_pair_inputs
from .evaluate import frames_tensor
from .metrics.masked import masked_psnr, static_mask
from .model import FGLA
from .motion_checks import (OTHERS, SKY, clip_latents, control, cosine, latent_dict, model_frame, static_drift,
                            uniform_latent)
from .render import flow_to_color, side_by_side, write_animation

CONTROL_PX = 2.0  # px per step of the uniform control references, on the model's grid
PARTNERS = ("water", "waterfall", "tree", "grass")  # the semantic controlled beside the sky


def _gif_frames(real: list[np.ndarray], video: list, flow_max: float):
    """real | generated | flow, per generated frame; the real panel holds its last frame, under a grey bar."""
    for t, step in enumerate(video):
        shown = real[min(t, len(real) - 1)].copy()
        if t >= len(real):
            shown[-4:] = 128
        yield np.concatenate([shown, side_by_side(step.frame, flow_panel(step.flow), flow_max)], axis=1)


def _static_picture(first: np.ndarray, last: np.ndarray, still: np.ndarray) -> tuple[np.ndarray, float]:
    """first | last | |last - first| x 10 on ``still`` pixels (grey elsewhere); and the mean |last - first| there
    (NaN without such pixels)."""
    diff = np.abs(last.astype(np.int16) - first.astype(np.int16)).max(axis=2)  # (S, S) 8-bit levels
    shown = np.full_like(first, 128)
    shown[still] = np.clip(diff[still] * 10, 0, 255).astype(np.uint8)[:, None]
    mean = float(np.abs(last.astype(np.int16) - first.astype(np.int16))[still].mean()) if still.any() else float("nan")
    return np.concatenate([first, last, shown], axis=1), mean


def _control(model: FGLA, frame: np.ndarray, groups: np.ndarray, out: Path, frames: int,
             flow_max: float) -> dict | None:
    """Sky from a reference moving right, the largest other moving semantic from one moving left (a waterfall:
    down); None when the clip shows no sky or no such semantic."""
    present = [name for name in PARTNERS if (groups == GROUPS.index(name)).sum() >= 32]
    if (groups == SKY).sum() < 32 or not present:
        return None
    partner = max(present, key=lambda name: (groups == GROUPS.index(name)).sum())
    motion = {"sky": np.array([CONTROL_PX, 0.0]),  # content motion, px per step
              partner: np.array([0.0, CONTROL_PX]) if partner == "waterfall" else np.array([-CONTROL_PX, 0.0])}
    latents = {name: uniform_latent(model, -m, groups, name) for name, m in motion.items()}  # backward flows
    measured = control(model, frame, groups, latents)
    video = list(animate(model, frame, groups, latents, frames))
    write_animation(out, (side_by_side(s.frame, flow_panel(s.flow), flow_max) for s in video), fps=8)
    cos = {name: cosine(-measured["means"][name], m) for name, m in motion.items()}  # content motion vs reference
    return {"gif": out, "partner": partner, "sky_cos": cos["sky"], "partner_cos": cos[partner],
            "others_px": measured["others_px"]}


def _flow_picture(clip: ClipSample, first: np.ndarray, generated: torch.Tensor) -> np.ndarray:
    """first frame | stored flow of pair 0 | generated step 0, content motion on one colour scale, (S, 3S, 3)."""
    S = first.shape[0]
    stored = -clip_pair_inputs(clip, [0], S)[0][0].permute(1, 2, 0).numpy()  # (S, S, 2) px, content motion
    made = flow_panel(generated)  # (S, S, 2) likewise
    scale = max(float(np.percentile(np.linalg.norm(stored, axis=2), 99)), 1e-3)
    return np.concatenate([first, flow_to_color(stored, scale), flow_to_color(made, scale)], axis=1)


@torch.no_grad()
def showcase_clip(model: FGLA, clip: ClipSample, out: Path, index: int, frames: int = 32) -> dict:
    """Write the clip's pictures into ``out`` (module docstring) and return its figures and their paths."""
    S = model.config.image_size
    flow_max = S / (2 * model.config.c)
    first, groups = model_frame(clip, 0, S), fit_groups(clip.groups(0), (S, S))
    real = [model_frame(clip, i, S) for i in range(min(frames + 1, len(clip)))]
    video = list(animate(model, first, groups, latent_dict(*clip_latents(model, clip, frames)), frames + 1))
    gif = out / f"clip_{index}.gif"
    write_animation(gif, _gif_frames(real, video, flow_max), fps=8)
    picture, static_levels = _static_picture(video[0].frame, video[-1].frame, groups == OTHERS)
    pngs = {"static_png": out / f"clip_{index}_static.png", "flow_png": out / f"clip_{index}_flow.png"}
    write_bytes_atomic(pngs["static_png"], encode_frame(picture, "png"))
    write_bytes_atomic(pngs["flow_png"], encode_frame(_flow_picture(clip, first, video[1].flow), "png"))
    real_t, fake_t = frames_tensor(real), frames_tensor([step.frame for step in video[1:len(real)]])
    psnr = masked_psnr(fake_t, real_t[1:], static_mask(real_t))
    return {"key": clip.key, "gif": gif, **pngs, "real_frames": len(real), "frames": frames,
            "drift": static_drift(video, groups == OTHERS), "static_levels": static_levels,
            "masked_psnr": float(psnr[torch.isfinite(psnr)].mean()) if torch.isfinite(psnr).any() else None,
            "control": _control(model, first, groups, out / f"clip_{index}_control.gif", frames + 1, flow_max)}
