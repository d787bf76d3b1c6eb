"""Ground-truth benchmark of FGLA on HELD-OUT synthetic scenes: can a trained model be told from a broken one?

    .venv/bin/python benchmarks/synthetic_ground_truth.py [--videos 64] [--heldout-per-category 4] \
        [--train-seed 100] [--heldout-seed 200] [--steps 3000] [--curve 4] \
        [--config pipelines/fgla_cpu_demo.toml] [--out work/gt_benchmark] [--runs-dir DIR] [--json FILE]

1. Data (every pipeline run is resumable: a rerun does nothing):
   - train: pipelines/demo.toml with ``--videos`` videos (seed ``--train-seed``) of 2-3 shots of
     40-96 frames (20 % with camera motion), the auto-label's "barely moves" filter off (it drops most
     still waterfall shots; curation's business), published as a release;
   - held-out: for each of the five synthetic categories, ``--heldout-per-category`` videos of ONE
     still-camera shot of 136-160 frames (seed ``--heldout-seed`` + category index), so that every
     clip holds >= 33 kept frames at every = 4 and all 32 generated frames have a real frame to be
     compared with. No video seed is shared with training (checked).
2. Models: ``--config`` (full) and the same with ``[model] encoder = "plain"`` (w/o LM), trained side
   by side (one thread each) with ``fgla train`` to ``--steps``, keeping ``--curve`` checkpoints on the
   way, at each of which the one-step EPE on held-out and training clips is measured (the learning
   curve). Finished runs in ``--runs-dir`` are reused, unfinished ones resumed.
3. Measures, per model, on still-camera clips (checked against the ground truth's shots), flows in
   pixels of the model's S x S grid:
   - one-step EPE per semantic: the generator's step from each of the first ``--epe-pairs`` REAL kept
     frames with the latents of that pair (the clip as its own reference, Algorithm 1), against the
     TRUE backward flow of the pair (the per-frame truth composed over ``every`` frames, squashed to
     S x S; occluded pixels left out); beside it zero motion (|truth|), the stored DIS flow and the
     cosine of the region means; on held-out AND training clips (the generalization gap);
   - 32 frames animated from each held-out clip's first frame with its own per-step latents: the
     static-ground drift (|F_t| and the composed |A_31| over the input's "others"), masked PSNR / SSIM
     (eq. 14) against the clip's kept frames 1..32 and the still photo's (the ceiling), and speed
     control (mean step magnitude at 0.25x and 4x over 1x);
   - per-semantic control on held-out clips showing sky and water: a sky latent from reference A and a
     water latent from reference B, nothing else: (a) synthetic references (uniform +-2 px flows on the
     target's own masks, both ways), (b) real references (held-out clips whose sky and water move
     at least 0.5 px, the pair pointing most apart); the cosine of each generated region's mean flow
     with its reference's, and the motion of every other pixel.
4. Each goal (docs/evaluation.md, "Ground-truth benchmark") is printed as met or missed; everything goes to
   ``--json``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fgla_model import checkpoint  # noqa: E402
from fgla_model.animate import animate  # noqa: E402
from fgla_model.codebook import average_latents, clip_pair_inputs, encode_pairs  # noqa: E402
from fgla_model.evaluate import frames_tensor  # noqa: E402
from fgla_model.metrics.masked import masked_psnr, masked_ssim, static_mask  # noqa: E402
from fgla_model.train_config import load_config  # noqa: E402
from fgla_model.motion_checks import (OTHERS, SKY, WATER, clip_latents, control, cosine, latent_dict,  # noqa: E402
                                      model_frame, one_step_flow, region_mean, speed_ratio, static_drift,
                                      uniform_latent)
from timelapse_d.flow import backward_warp  # noqa: E402
from timelapse_d.resize import fit_groups  # noqa: E402
from timelapse_d.segmentation import GROUPS  # noqa: E402
from timelapse_d.shards import ClipSample, read_samples  # noqa: E402
from timelapse_d.synthetic import load_ground_truth  # noqa: E402

CATEGORIES = ("cloud", "water", "waterfall", "hayfield", "tree")
MOVING = ("sky", "tree", "grass", "water", "waterfall")
MODELS = {"full": "fine-grained", "wo_lm": "plain"}
BIN = Path(sys.executable).parent
REF_MIN_PX = 0.5  # a real control reference's region must move at least this much (px per step)


@dataclass
class GTClip:
    clip: ClipSample
    truth: dict  # the video's ground-truth arrays (load_ground_truth)
    category: str


# ------------------------------------------------------------------------------------------- data

def pipeline_text(name: str, settings: dict) -> str:
    """pipelines/demo.toml with its name and the given ``key = value`` lines replaced (``categories``,
    which it does not set, is added to the synthetic source's), and the auto-label's "barely moves"
    filter off."""
    text = (ROOT / "pipelines" / "demo.toml").read_text().replace('name = "demo"', f'name = "{name}"', 1)
    text = text.replace('source = "synthetic"\n', 'source = "synthetic"\ncategories = []\n', 1)
    settings = {"categories": list(CATEGORIES), **settings}
    for key, value in settings.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
        assert n == (2 if key == "seed" else 1), (key, n)  # seed: discover's and precompute's
    text, n = re.subn(r'(?m)^stage = "auto-label".*$', 'stage = "auto-label"\nmin_motion_strength = 0.0', text)
    assert n == 1
    return text


def run(cmd: list, **kwargs) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def make_data(out: Path, name: str, settings: dict) -> Path:
    work, toml = out / "data" / name, out / f"{name}.toml"
    out.mkdir(parents=True, exist_ok=True)
    toml.write_text(pipeline_text(f"gt-{name}", settings))
    run([BIN / "timelapse-d", "run", toml, "--work", work, "--workers", "2", "--no-progress"])
    return work


def make_datasets(out: Path, args) -> tuple[Path, list[Path]]:
    """The train release and the held-out work directories (one per category)."""
    train = make_data(out, "train", {"videos": args.videos, "seed": args.train_seed, "min_shot_frames": 40,
                                     "max_shot_frames": 96, "camera_motion_prob": 0.2})
    heldout = [make_data(out, f"heldout-{category}", {
        "videos": args.heldout_per_category, "seed": args.heldout_seed + i, "min_shots": 1, "max_shots": 1,
        "min_shot_frames": 136, "max_shot_frames": 160, "camera_motion_prob": 0.0, "categories": [category]})
        for i, category in enumerate(CATEGORIES)]
    common = set(video_seeds(train).values()) & {s for work in heldout for s in video_seeds(work).values()}
    assert not common, f"held-out videos also in training: {common}"
    release = out / "releases" / "gt-train" / "1.0.0"
    if not (release / "release.json").is_file():
        run([BIN / "timelapse-d", "release", "create", "--work", train, "--name", "gt-train", "--version", "1.0.0",
             "--root", out / "releases"])
    return release, heldout


def video_seeds(work: Path) -> dict[str, int]:
    return {p.name[:-len(".gt.json")]: json.loads(p.read_text())["seed"]
            for p in (work / "sources" / "synthetic").glob("*.gt.json")}


def still_clips(work: Path, pattern: str = "*.tar") -> list[GTClip]:
    """Every sample of ``work``'s shards (``pattern``) whose frames lie in one still-camera shot."""
    clips, truths = [], {}
    for shard in sorted((work / "shards").glob(pattern)):
        for entries in read_samples(shard):
            clip = ClipSample(entries)
            video = clip.meta["video_id"]
            if video not in truths:
                truths[video] = load_ground_truth(work / "sources" / "synthetic", video)
            meta, truth = truths[video]
            first, last = clip.meta["frame_indices"][0], clip.meta["frame_indices"][-1]
            shots = [s for s in meta["shots"] if s["start"] <= first and last < s["end"]]
            if len(shots) == 1 and shots[0]["camera"] == "none":
                clips.append(GTClip(clip, truth, shots[0]["category"]))
    return clips


# ------------------------------------------------------------------------------------------- training

def config_text(config: Path, variant: str, keep: int) -> str:
    """``config`` with its encoder set for ``variant`` and a checkpoint kept every ``keep`` steps."""
    text, n = re.subn(r'(?m)^encoder = "[a-z-]+"', f'encoder = "{MODELS[variant]}"', config.read_text())
    text, m = re.subn(r"(?m)^checkpoint_every = .*$", f"checkpoint_every = {keep}\nkeep_every = {keep}", text)
    assert n == m == 1, f"{config} must set [model] encoder and [optim] checkpoint_every on lines of their own"
    return text


def train_models(release: Path, runs: Path, config: Path, steps: int, curve: int) -> dict[str, list[Path]]:
    """Both variants to ``steps`` side by side (one thread each), keeping ``curve`` checkpoints on the way;
    a run whose checkpoints are all there is reused, an unfinished one resumed."""
    keep = steps // curve
    kept = {v: [runs / v / f"checkpoint_{keep * k}.pt" for k in range(1, curve + 1)] for v in MODELS}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for variant in (v for v in MODELS if not all(path.is_file() for path in kept[v])):
        run_dir = runs / variant
        cmd = [BIN / "fgla", "train", "--release", release, "--out", run_dir, "--steps", str(keep * curve),
               "--device", "cpu", "--no-progress"]
        if (run_dir / "config.toml").exists():
            cmd.append("--resume")
        else:
            runs.mkdir(parents=True, exist_ok=True)
            (runs / f"{variant}.toml").write_text(config_text(config, variant, keep))
            cmd += ["--config", runs / f"{variant}.toml"]
        print("+", " ".join(map(str, cmd)), flush=True)
        procs.append((variant, subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)))
    for variant, proc in procs:
        if proc.wait():
            raise SystemExit(f"training {variant} failed (exit {proc.returncode})")
    return kept


def load_model(path: Path):
    return checkpoint.load(path, map_location="cpu").model.eval()


# ------------------------------------------------------------------------------------------- measures

def true_kept_pair_flow(truth: dict, first: int, second: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The backward flow of source frames (first, second) on frame second's grid, I_second(p) =
    I_first(p + F(p)), composed from the per-frame truth, squashed to size x size with values in pixels
    of that grid -> (S, S, 2), and where it is valid (S, S) bool (no occlusion on the way)."""
    import cv2

    composed = truth["flow"][second - 1].astype(np.float32)  # flow[t]: pair (t, t + 1) on t + 1's grid
    valid = ~truth["occlusion"][second - 1]
    for t in range(second - 2, first - 1, -1):  # F(p) = F_late(p) + F_early(p + F_late(p))
        composed = composed + backward_warp(truth["flow"][t].astype(np.float32), composed)
        valid &= ~truth["occlusion"][t]
    valid &= np.isfinite(composed).all(axis=2)
    H, W = composed.shape[:2]
    scaled = cv2.resize(np.nan_to_num(composed), (size, size), interpolation=cv2.INTER_LINEAR) * [size / W, size / H]
    valid = cv2.resize(valid.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)
    return scaled.astype(np.float32), valid


def epe_table(model, clips: list[GTClip], pairs: int) -> dict:
    """One-step EPE per semantic over the first ``pairs`` pairs of every clip (module docstring, 3)."""
    S = model.config.image_size
    sums = {name: {"model": 0.0, "zero": 0.0, "dis": 0.0, "pixels": 0, "clips": set(), "cos": []} for name in GROUPS}
    for n, item in enumerate(clips):
        latents, _ = clip_latents(model, item.clip, pairs)  # (P, K, D)
        idx = item.clip.meta["frame_indices"]
        flows, groups = clip_pair_inputs(item.clip, list(range(len(latents))), S)  # stored DIS, its masks
        for i in range(len(latents)):
            true, valid = true_kept_pair_flow(item.truth, idx[i], idx[i + 1], S)  # (S, S, 2) px, (S, S) bool
            ids = groups[i].numpy().astype(np.uint8)  # (S, S)
            gen = one_step_flow(model, model_frame(item.clip, i, S), ids, latents[i])  # (S, S, 2) px
            dis = flows[i].permute(1, 2, 0).numpy()  # (S, S, 2) px
            for k, name in enumerate(GROUPS):
                region = (ids == k) & valid
                if region.sum() < 16:
                    continue
                s = sums[name]
                s["model"] += float(np.linalg.norm(gen - true, axis=2)[region].sum())
                s["zero"] += float(np.linalg.norm(true, axis=2)[region].sum())
                s["dis"] += float(np.linalg.norm(dis - true, axis=2)[region].sum())
                s["pixels"] += int(region.sum())
                s["clips"].add(n)
                s["cos"].append(cosine(region_mean(gen, region), region_mean(true, region)))
    return {name: {"clips": len(s["clips"]), "pixels": s["pixels"], "epe_model": s["model"] / s["pixels"],
                   "epe_zero_motion": s["zero"] / s["pixels"], "epe_stored_dis": s["dis"] / s["pixels"],
                   "cos_vs_truth_mean": float(np.mean(s["cos"]))} for name, s in sums.items() if s["pixels"]}


def video_scores(model, clips: list[GTClip], frames: int) -> dict:
    """Static drift, masked PSNR / SSIM (and the still photo's) and speed control over ``frames`` generated frames."""
    S = model.config.image_size
    rows = []
    for item in clips:
        first, groups = model_frame(item.clip, 0, S), fit_groups(item.clip.groups(0), (S, S))
        latents = latent_dict(*clip_latents(model, item.clip, frames))
        video = list(animate(model, first, groups, latents, frames + 1))  # the input and ``frames`` generated
        real = frames_tensor([model_frame(item.clip, i, S) for i in range(min(frames + 1, len(item.clip)))])
        L = len(real) - 1
        static = static_mask(real)
        fake, still = frames_tensor([f.frame for f in video[1:L + 1]]), real[:1].expand(L, -1, -1, -1)
        scores = {"psnr": masked_psnr(fake, real[1:], static), "ssim": masked_ssim(fake, real[1:], static),
                  "psnr_still": masked_psnr(still, real[1:], static), "ssim_still": masked_ssim(still, real[1:], static)}
        row = {key: float(v[torch.isfinite(v)].mean()) for key, v in scores.items()}
        row.update(frames_compared=L, **static_drift(video, groups == OTHERS),
                   **{f"speed_{s}": speed_ratio(model, first, groups, latents, s, frames + 1) for s in (0.25, 4.0)})
        rows.append(row)
    return {key: {"mean": float(np.nanmean([r[key] for r in rows])), "min": float(np.nanmin([r[key] for r in rows])),
                  "max": float(np.nanmax([r[key] for r in rows]))} for key in rows[0]}


def reference_motion(model, clips: list[GTClip]) -> list[dict]:
    """Per held-out clip: its mean latent and mean stored flow per semantic (as a real reference)."""
    S, refs = model.config.image_size, []
    for item in clips:
        flows, groups = clip_pair_inputs(item.clip, list(range(min(32, len(item.clip) - 1))), S)
        z, present = average_latents(*encode_pairs(model, flows, groups))  # (K, D), (K,)
        f, g = flows.permute(0, 2, 3, 1).numpy(), groups.numpy()  # (P, S, S, 2) px, (P, S, S)
        refs.append({"latents": z, "flow": {k: f[g == k].mean(axis=0) for k in (SKY, WATER)
                                            if present[k] and (g == k).any()}})
    return refs


def control_scores(model, clips: list[GTClip], d: float = 2.0) -> dict:
    """Per-semantic control (module docstring, 3): synthetic and real references."""
    S, refs = model.config.image_size, reference_motion(model, clips)
    movers = {k: [i for i, r in enumerate(refs) if k in r["flow"] and np.linalg.norm(r["flow"][k]) >= REF_MIN_PX]
              for k in (SKY, WATER)}
    synthetic, real = [], []
    for t, item in enumerate(clips):
        frame, groups = model_frame(item.clip, 0, S), fit_groups(item.clip.groups(0), (S, S))
        if (groups == SKY).sum() < 64 or (groups == WATER).sum() < 64:
            continue
        for sign in (1.0, -1.0):  # (a) uniform flows with opposite known directions
            sky, water = np.array([sign * d, 0.0]), np.array([-sign * d, 0.0])
            out = control(model, frame, groups, {"sky": uniform_latent(model, sky, groups, "sky"),
                                                 "water": uniform_latent(model, water, groups, "water")})
            synthetic.append({"sky": cosine(out["means"]["sky"], sky), "water": cosine(out["means"]["water"], water),
                              "others_px": out["others_px"]})
        pairs = [(a, b) for a, b in itertools.product(movers[SKY], movers[WATER]) if t not in (a, b) and a != b]
        if pairs:  # (b) real references pointing most apart
            a, b = min(pairs, key=lambda ab: cosine(refs[ab[0]]["flow"][SKY], refs[ab[1]]["flow"][WATER]))
            out = control(model, frame, groups, {"sky": refs[a]["latents"][SKY], "water": refs[b]["latents"][WATER]})
            real.append({"sky": cosine(out["means"]["sky"], refs[a]["flow"][SKY]),
                         "water": cosine(out["means"]["water"], refs[b]["flow"][WATER]),
                         "others_px": out["others_px"], "refs_cos": cosine(refs[a]["flow"][SKY], refs[b]["flow"][WATER])})

    def summary(rows):
        return None if not rows else {"cases": len(rows), **{f"{key}_{f.__name__}": float(f([r[key] for r in rows]))
                                                             for key in ("sky", "water", "others_px") for f in (np.mean, np.min, np.max)}}
    return {"synthetic_refs_d_px": d, "synthetic": summary(synthetic), "real": summary(real)}


def moving_epe(table: dict) -> float:
    """Pixel-weighted mean one-step EPE over the moving semantics present (a single learning-curve figure)."""
    names = [n for n in MOVING if n in table]
    if not names:
        return float("nan")
    return sum(table[n]["epe_model"] * table[n]["pixels"] for n in names) / sum(table[n]["pixels"] for n in names)


# ------------------------------------------------------------------------------------------- goals and output

def goals(results: dict) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for every goal of the benchmark (docs/evaluation.md)."""
    full, wo = results["models"]["full"], results["models"]["wo_lm"]
    epe, epe_wo, video, ctl = full["epe_px"], wo["epe_px"], full["video"], full["control"]
    rows = []
    for name in MOVING:
        if name in epe:
            e = epe[name]
            rows.append((f"{name}: held-out EPE below zero motion", f"{e['epe_model']:.3f} vs {e['epe_zero_motion']:.3f}",
                         e["epe_model"] < e["epe_zero_motion"]))
        else:
            rows.append((f"{name}: held-out EPE below zero motion", "absent from the held-out clips", False))
    for name in ("sky", "water"):
        if name not in epe or not epe_wo[name]["epe_model"] > 0:
            rows.append((f"{name}: >= 30 % below w/o LM", "absent from the held-out clips", False))
            continue
        ratio = epe[name]["epe_model"] / epe_wo[name]["epe_model"]
        rows.append((f"{name}: >= 30 % below w/o LM", f"{100 * (1 - ratio):.0f} % below", ratio <= 0.7))
    rows.append(("static ground <= 0.1 px per step", f"{video['per_step_max']['max']:.3f} (worst clip and step)",
                 video["per_step_max"]["max"] <= 0.1))
    rows.append(("static ground <= 1 px over 32 frames", f"{video['accumulated']['max']:.3f} (worst clip)",
                 video["accumulated"]["max"] <= 1.0))
    frames = video["frames_compared"]["min"]
    rows.append(("masked PSNR >= 40 dB over 32 frames", f"{video['psnr']['mean']:.2f} dB over {frames:.0f} frames "
                 f"(still photo {video['psnr_still']['mean']:.2f})", video["psnr"]["mean"] >= 40 and frames >= 32))
    rows.append(("masked PSNR: full > w/o LM", f"{full['masked_psnr']:.2f} vs {wo['masked_psnr']:.2f}",
                 full["masked_psnr"] > wo["masked_psnr"]))
    for kind in ("synthetic", "real"):
        c = ctl[kind]
        if c is None:
            rows.append((f"control ({kind} references)", "no case", False))
            continue
        rows.append((f"control ({kind} refs): sky, water cosine >= 0.9", f"{c['sky_mean']:+.2f}, {c['water_mean']:+.2f} "
                     f"(min {c['sky_min']:+.2f}, {c['water_min']:+.2f}; {c['cases']} cases)",
                     c["sky_mean"] >= 0.9 and c["water_mean"] >= 0.9))
        rows.append((f"control ({kind} refs): other regions <= 0.1 px", f"{c['others_px_max']:.3f}", c["others_px_max"] <= 0.1))
    for speed in (0.25, 4.0):
        ratio = video[f"speed_{speed}"]["mean"]
        rows.append((f"speed {speed}x within 5 %", f"{ratio:.3f}", abs(ratio / speed - 1) <= 0.05))
    curve = [point["full"]["heldout_moving_epe"] for point in results["curve"]]
    rows.append(("learning curve falls (held-out moving EPE)", " -> ".join(f"{v:.3f}" for v in curve),
                 curve[-1] < curve[0] and curve[-1] <= 1.05 * min(curve)))
    minutes = results["seconds"]["total"] / 60
    rows.append(("the benchmark within 35 minutes", f"{minutes:.1f} min", minutes <= 35))
    return rows


def print_tables(results: dict) -> None:
    models = list(results["models"])
    for where, table in (("heldout", "epe_px"), ("train", "train_epe_px")):
        print(f"\n{where} clips: {results['clips'][where]} (still camera); one-step EPE, px of the {results['grid']} grid")
        print("| semantic | pixels (clips) | " + " | ".join(f"EPE {m}" for m in models) + " | zero motion | stored DIS | "
              + " | ".join(f"cos {m}" for m in models) + " |")
        print("|---" * (4 + 2 * len(models)) + "|")
        first = results["models"][models[0]][table]
        for name in [n for n in (*MOVING, "others") if n in first]:
            cells = [results["models"][m][table][name] for m in models]
            print(f"| {name} | {first[name]['pixels']} ({first[name]['clips']}) | " + " | ".join(f"{c['epe_model']:.3f}" for c in cells)
                  + f" | {first[name]['epe_zero_motion']:.3f} | {first[name]['epe_stored_dis']:.3f} | "
                  + " | ".join(f"{c['cos_vs_truth_mean']:+.2f}" for c in cells) + " |")
    print("\n| model | masked PSNR (still photo) | masked SSIM | drift px/step (worst) | drift over 32 frames (worst) "
          "| speed 0.25x | speed 4x |\n|---|---|---|---|---|---|---|")
    for m in models:
        v = results["models"][m]["video"]
        print(f"| {m} | {v['psnr']['mean']:.2f} ({v['psnr_still']['mean']:.2f}) | {v['ssim']['mean']:.4f} | "
              f"{v['per_step_max']['max']:.3f} | {v['accumulated']['max']:.3f} | {v['speed_0.25']['mean']:.3f} | "
              f"{v['speed_4.0']['mean']:.3f} |")
    print("\nlearning curve, one-step EPE over the moving semantics (held-out / train):")
    for point in results["curve"]:
        print(f"  step {point['step']}: " + ", ".join(f"{m} {point[m]['heldout_moving_epe']:.3f} / "
                                                      f"{point[m]['train_moving_epe']:.3f}" for m in models))
    print("\n| goal | measured | |\n|---|---|---|")
    for row in results["goals"]:
        print(f"| {row['goal']} | {row['measured']} | {'met' if row['met'] else 'MISSED'} |")


def learning_curve(kept: dict[str, list[Path]], args, heldout: list[GTClip], train: list[GTClip]) -> list[dict]:
    """The one-step EPE over the moving semantics, held-out and train, at every kept checkpoint."""
    curve = []
    with torch.no_grad():
        for k in range(args.curve):
            point = {"step": int(kept["full"][k].stem.split("_")[1])}
            for variant, paths in kept.items():
                model = load_model(paths[k])
                point[variant] = {"heldout_moving_epe": moving_epe(epe_table(model, heldout, args.epe_pairs)),
                                  "train_moving_epe": moving_epe(epe_table(model, train, args.epe_pairs))}
            print(f"step {point['step']}: {point}", flush=True)
            curve.append(point)
    return curve


def measure(checkpoints: dict, heldout: list[GTClip], train: list[GTClip], args) -> dict:
    """Per model: the held-out EPE table, video scores, control; the training clips' EPE table."""
    results = {}
    with torch.no_grad():
        for variant, path in checkpoints.items():
            model = load_model(path)
            video = video_scores(model, heldout, args.frames)
            results[variant] = {
                "checkpoint": str(path), "epe_px": epe_table(model, heldout, args.epe_pairs),
                "train_epe_px": epe_table(model, train, args.epe_pairs),
                "masked_psnr": video["psnr"]["mean"], "masked_psnr_still_photo": video["psnr_still"]["mean"],
                "masked_ssim": video["ssim"]["mean"], "psnr_clips": len(heldout),
                "psnr_frames_compared": video["frames_compared"],
                "speed_ratio": {str(s): video[f"speed_{s}"] for s in (0.25, 4.0)},
                "static_drift": {key: video[key] for key in ("per_step_max", "per_step_mean", "accumulated")},
                "video": video, "control": control_scores(model, heldout)}
            results["grid"] = model.config.image_size
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "work" / "gt_benchmark")
    p.add_argument("--videos", type=int, default=64, help="training videos (seed --train-seed)")
    p.add_argument("--heldout-per-category", type=int, default=4, help="held-out videos per synthetic category")
    p.add_argument("--train-seed", type=int, default=100)
    p.add_argument("--heldout-seed", type=int, default=200)
    p.add_argument("--config", type=Path, default=ROOT / "pipelines" / "fgla_cpu_demo.toml")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--curve", type=int, default=4, help="learning-curve points (checkpoints kept on the way)")
    p.add_argument("--epe-pairs", type=int, default=4, help="pairs per clip for the one-step EPE")
    p.add_argument("--train-clips", type=int, default=40, help="training clips measured for the generalization gap")
    p.add_argument("--runs-dir", type=Path, help="default OUT/runs; finished runs there are reused")
    p.add_argument("--frames", type=int, default=32, help="generated frames per held-out clip (the input aside)")
    p.add_argument("--json", type=Path, help="default OUT/results.json")
    args = p.parse_args(argv)
    log_every = load_config(args.config).optim.log_every
    if args.curve < 1 or args.steps % args.curve or (args.steps // args.curve) % log_every:
        p.error(f"--steps {args.steps} must split into --curve {args.curve} equal parts that are multiples of "
                f"{args.config}'s log_every = {log_every}")
    torch.set_num_threads(2)
    t0 = time.time()
    out = args.out.resolve()
    release, heldout_works = make_datasets(out, args)
    heldout = [c for work in heldout_works for c in still_clips(work)]
    train = still_clips(out / "data" / "train", "train-*.tar")[:args.train_clips]
    if not heldout or not train:
        raise SystemExit(f"no still-camera clips to measure: {len(heldout)} held-out, {len(train)} training")
    t_data = time.time()
    kept = train_models(release, (args.runs_dir or out / "runs").resolve(), args.config, args.steps, args.curve)
    t_train = time.time()
    curve = learning_curve(kept, args, heldout, train)
    results = {"command": " ".join(sys.argv), "args": {k: str(v) for k, v in vars(args).items()},
               "clips": {"heldout": len(heldout), "train": len(train)},
               "heldout_categories": {c: sum(i.category == c for i in heldout) for c in CATEGORIES},
               "curve": curve}
    measured = measure({variant: paths[-1] for variant, paths in kept.items()}, heldout, train, args)
    results["grid"] = measured.pop("grid")
    results["models"] = measured
    results["seconds"] = {"data": round(t_data - t0, 1), "train": round(t_train - t_data, 1),
                          "measure": round(time.time() - t_train, 1), "total": round(time.time() - t0, 1)}
    results["goals"] = [{"goal": g, "measured": v, "met": m} for g, v, m in goals(results)]
    print_tables(results)
    print(f"\ntime: {results['seconds']}")
    target = args.json or out / "results.json"
    target.write_text(json.dumps(results, indent=1))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
