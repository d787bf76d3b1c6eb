"""``fgla evaluate``: the paper's protocol (§4.3), checkpoints side by side in a Table-2-shaped table.

Per checkpoint, per test clip: the clip's first kept frame (and its stored group map) in,
``frames`` frames out at the model's size (32 in the paper, frame 0 being the input), ``samples``
runs (5 in the paper), each with latents drawn from the checkpoint's codebook of the train split
(``fgla_model.codebook``, seeded per clip and run). Metrics, averaged over runs and clips:

Clips stored at another size than the model's are squashed to it (as the training loader does).

- masked PSNR / SSIM (``fgla_model.metrics.masked``): generated frame t against the clip's kept
  frame t, t = 1 .. L, L = min(frames, kept frames) - 1, on the static pixels of eq. 14 (mask from
  the clip's frames 0 .. L). Clips shorter than ``frames`` are compared over the frames they have.
- LPIPS: between the first frame and each generated frame.
- FID: between the set of first frames and the set of generated frames.
- FVD: between the clips' real frames and the generated videos, over the first
  min(frames, shortest clip) frames (I3D needs at least 9).

The networks load from local files (``MetricWeights``); a score whose file is not given, or whose
file is absent, is reported as missing with the reason, never as a number.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from timelapse_d.atomic import write_bytes_atomic, write_json_atomic
from timelapse_d.errors import UsageError
from timelapse_d.resize import fit_frame, fit_groups
from timelapse_d.shards import ClipSample, read_samples

from . import checkpoint
from .animate import animate
from .codebook import build_codebook, release_shard_paths, resolve_device
from .metrics import FIDInceptionV3, I3D, LPIPS, MissingWeights, WeightsMismatch, fid, fvd
from .metrics.masked import masked_psnr, masked_ssim, static_mask

COLUMNS = ("masked_psnr", "masked_ssim", "fid", "lpips", "fvd")
HEADERS = {"masked_psnr": "PSNR (masked) ↑", "masked_ssim": "SSIM (masked) ↑", "fid": "FID ↓",
           "lpips": "LPIPS ↓", "fvd": "FVD ↓"}
MIN_FVD_FRAMES = 9


@dataclass(frozen=True)
class MetricWeights:
    """Local weight files of the metric networks (docs/metrics.md); None: that score is missing."""
    lpips_backbone: str | None = None
    lpips_linear: str | None = None
    inception: str | None = None
    i3d: str | None = None


def _load_networks(weights: MetricWeights, device: torch.device) -> tuple[dict, dict]:
    """name -> network, and name -> why it is missing."""
    loaders = {
        "lpips": (lambda: LPIPS.from_files(weights.lpips_backbone, weights.lpips_linear),
                  weights.lpips_backbone and weights.lpips_linear, "--lpips-backbone and --lpips-linear"),
        "fid": (lambda: FIDInceptionV3.from_file(weights.inception), weights.inception, "--inception"),
        "fvd": (lambda: I3D.from_file(weights.i3d), weights.i3d, "--i3d"),
    }
    networks, missing = {}, {}
    for name, (load, given, flag) in loaders.items():
        if not given:
            missing[name] = f"no weights given ({flag})"
            continue
        try:
            networks[name] = load().to(device).eval()
        except (MissingWeights, WeightsMismatch) as error:
            missing[name] = str(error)
    return networks, missing


def frames_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    """T x (H, W, 3) uint8 -> (T, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _run_seed(seed: int, clip_index: int, run: int) -> int:
    return int(np.random.SeedSequence([seed, clip_index, run]).generate_state(1)[0])


@torch.no_grad()
def evaluate_checkpoint(path: str | Path, test_shards: list[str], train_shards: list[str], networks: dict,
                        frames: int = 32, samples: int = 5, seed: int = 0, device: str | None = None,
                        progress: bool = True) -> dict:
    """The metrics of one checkpoint: {column: value or None, "clips", "runs", "frames"}."""
    from tqdm import tqdm

    device = resolve_device(device)
    try:
        model = checkpoint.load(path, map_location=device).model.eval()
    except ValueError as error:
        raise UsageError(str(error)) from None
    book = build_codebook(model, train_shards, "mean", seed)
    size = model.config.image_size
    psnr, ssim, lpips_values = [], [], []
    first_frames, generated_frames, real_videos, fake_videos = [], [], [], []
    clips = [ClipSample(entries) for path_ in test_shards for entries in read_samples(path_)]
    if not clips:
        raise UsageError(f"no test clip in {test_shards}")
    fvd_frames = min(frames, min(len(clip) for clip in clips))
    for index, clip in enumerate(tqdm(clips, desc=f"evaluate {Path(path).name}", unit="clip", disable=not progress)):
        real = [fit_frame(clip.frame(i), (size, size)) for i in range(min(frames, len(clip)))]
        real_t = frames_tensor(real)  # (L + 1, 3, S, S)
        static = static_mask(real_t)  # (1, S, S)
        first_frames.append(real_t[0])
        for run in range(samples):
            latents = book.sample(_run_seed(seed, index, run))
            video = [f.frame for f in animate(model, real[0], fit_groups(clip.groups(0), (size, size)), latents, frames)]
            fake_t = frames_tensor(video)  # (frames, 3, S, S)
            length = len(real) - 1
            if length:
                psnr.append(masked_psnr(fake_t[1:length + 1], real_t[1:], static).mean().item())
                ssim.append(masked_ssim(fake_t[1:length + 1], real_t[1:], static).mean().item())
            if "lpips" in networks:
                lpips_values.append(networks["lpips"](real_t[:1].expand(frames - 1, -1, -1, -1).to(device),
                                                      fake_t[1:].to(device)).mean().item())
            generated_frames.append(fake_t[1:])
            fake_videos.append(fake_t[:fvd_frames])
        real_videos.append(real_t[:fvd_frames])
    result = {"clips": len(clips), "runs": len(clips) * samples, "frames": frames,
              "masked_psnr": _finite_mean(psnr), "masked_ssim": _finite_mean(ssim),
              "lpips": float(np.mean(lpips_values)) if lpips_values else None}
    result["fid"] = fid(torch.stack(first_frames), torch.cat(generated_frames), networks["fid"]) \
        if "fid" in networks else None
    result["fvd"] = fvd(torch.stack(real_videos), torch.stack(fake_videos), networks["fvd"]) \
        if "fvd" in networks and fvd_frames >= MIN_FVD_FRAMES else None
    return result


def _finite_mean(values: list[float]) -> float | None:
    """Mean over the runs with a finite score (a run equal to the truth on every static pixel is inf)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def evaluate(checkpoints: list[str | Path], release: str | Path, shards: str | Path | None = None,
             split: str = "test", frames: int = 32, samples: int = 5, seed: int = 0,
             weights: MetricWeights = MetricWeights(), device: str | None = None, progress: bool = True) -> dict:
    """Every checkpoint on the release's ``split``: {"rows": {name: metrics}, "missing": {column: reason}, ...}."""
    if frames < 2 or samples < 1:
        raise UsageError(f"--frames must be >= 2 and --samples >= 1, got {frames} and {samples}")
    test_shards = release_shard_paths(release, shards, split)
    train_shards = release_shard_paths(release, shards, "train")
    networks, missing = _load_networks(weights, resolve_device(device))
    rows = {}
    for path in checkpoints:
        name = Path(path).parent.name if Path(path).name.startswith("checkpoint") else Path(path).stem
        rows[name] = evaluate_checkpoint(path, test_shards, train_shards, networks, frames, samples, seed, device,
                                         progress)
    if "fvd" in networks and all(row["fvd"] is None for row in rows.values()):
        missing["fvd"] = f"test clips shorter than {MIN_FVD_FRAMES} kept frames"
    return {"release": str(release), "split": split, "frames": frames, "samples": samples, "seed": seed,
            "rows": rows, "missing": missing}


def table_markdown(report: dict) -> str:
    def cell(value, column):
        if value is None:
            return "missing"
        return f"{value:.3f}" if column in ("masked_ssim", "lpips") else f"{value:.2f}"

    lines = ["| model | " + " | ".join(HEADERS[c] for c in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row[c], c) for c in COLUMNS) + " |")
    notes = [f"- {column}: missing, {reason}" for column, reason in report["missing"].items()]
    header = (f"{report['split']} split of {report['release']}: first frame in, {report['frames']} frames out, "
              f"{report['samples']} runs per clip (codebook latents, seed {report['seed']}).")
    return "\n".join([header, "", *lines, "", *notes]) + "\n"


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", action="append", required=True, help="a checkpoint (repeatable: side by side)")
    parser.add_argument("--release", required=True, help="release directory (manifests/NAME/X.Y.Z) or URL")
    parser.add_argument("--shards", help="where the release's shards are (default: its shards_location)")
    parser.add_argument("--split", default="test", choices=("test", "train"), help="the release split scored (default: test)")
    parser.add_argument("--frames", type=int, default=32, help="frames per generated video, the input included")
    parser.add_argument("--samples", type=int, default=5, help="runs per test clip, each with its own latents")
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs' latents (default: 0)")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth)")
    parser.add_argument("--lpips-linear", help="LPIPS v0.1 linear layers (alex.pth)")
    parser.add_argument("--inception", help="FID Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    parser.add_argument("--i3d", help="I3D weights for FVD (rgb_imagenet.pt)")
    parser.add_argument("--out", required=True, help="output stem: writes OUT.md and OUT.json")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_evaluate(args: argparse.Namespace) -> int:
    weights = MetricWeights(args.lpips_backbone, args.lpips_linear, args.inception, args.i3d)
    report = evaluate(args.checkpoint, args.release, args.shards, args.split, args.frames, args.samples, args.seed,
                      weights, args.device, not args.no_progress)
    write_json_atomic(Path(f"{args.out}.json"), report)
    write_bytes_atomic(Path(f"{args.out}.md"), table_markdown(report).encode())
    print(table_markdown(report))
    return 0
