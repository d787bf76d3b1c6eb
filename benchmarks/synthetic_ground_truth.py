"""Ground-truth benchmark of FGLA on HELD-OUT synthetic scenes (run on demand; not a test).

    .venv/bin/python benchmarks/synthetic_ground_truth.py [--videos 16] [--heldout-videos 8] [--steps 700] \
        [--out work/gt_benchmark] [--runs-dir DIR] [--json FILE]

1. Data: the demo pipeline (pipelines/demo.toml) with ``--videos`` videos and seed ``--train-seed``
   -> a release; the same pipeline with ``--heldout-seed`` -> the held-out clips (no video seed in
   common with training: checked). Each pipeline run is resumable, a rerun does nothing.
2. Two models, pipelines/fgla_cpu_demo.toml and the same with ``[model] encoder = "plain"`` (w/o LM),
   the same ``--steps``. A finished run under ``--runs-dir`` (full/, wo_lm/) is reused.
3. For every held-out clip (the precompute stage keeps only still-camera clips; the ground truth's
   shot records are checked too): its first kept frame, its groups, the latents of the clip itself
   (the encoder on its stored flows and masks, averaged over its pairs as a reference video's are;
   every present semantic, as ``--ref all=clip``), 32 frames animated. Measured:
   - EPE per semantic of the first generated step flow against the TRUE backward flow of the first
     kept pair (the per-source-frame truth composed over ``every`` frames, squashed to the model grid,
     x scaled by S/W, y by S/H; occluded pixels left out), in pixels of the model's S x S grid; the
     generated flow is converted from normalised units with ``normalised_to_pixels``. Also the
     zero-motion EPE (|truth|), the stored DIS flow's EPE (a check of the composition and units),
     and the cosine between the generated and the true region-mean flows (a sign check).
   - masked PSNR (eq. 14) of generated frames 1..L against the clip's kept frames 1..L,
     L = min(32, kept frames) - 1, and of the still photo repeated (zero motion) for comparison.
   - speed: mean |step flow| over moving pixels and all 31 steps at speed 0.25 and 4, over speed 1's.
4. Per-semantic control on held-out clips showing both sky and water: sky latent from reference A,
   water latent from reference B. (a) synthetic references: uniform flow (+d, 0) for A and (-d, 0)
   for B on the target's own masks (and the swapped pair); (b) real held-out references: the pair of
   other held-out clips whose sky / water mean flows point most against each other. Reported: cosine
   between the generated region's mean step flow and the reference's region mean flow.
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fgla_model import checkpoint  # noqa: E402
from fgla_model.animate import animate  # noqa: E402
from fgla_model.codebook import average_latents, clip_pair_inputs, encode_pairs  # noqa: E402
from fgla_model.metrics.masked import masked_psnr, static_mask  # noqa: E402
from fgla_model.warp import normalised_to_pixels  # noqa: E402
from timelapse_d.flow import backward_warp  # noqa: E402
from timelapse_d.resize import fit_frame, fit_groups  # noqa: E402
from timelapse_d.segmentation import GROUPS  # noqa: E402
from timelapse_d.shards import ClipSample, read_samples  # noqa: E402
from timelapse_d.synthetic import load_ground_truth  # noqa: E402

NAMED = ("sky", "tree", "grass", "water", "waterfall")
BIN = Path(sys.executable).parent
MODELS = {"full": "fine-grained", "wo_lm": "plain"}


# ------------------------------------------------------------------------------------------- data / training

def pipeline_text(name: str, videos: int, seed: int) -> str:
    text = (ROOT / "pipelines" / "demo.toml").read_text()
    text, n = re.subn(r'(?m)^name = "demo"$', f'name = "{name}"', text)
    text, m = re.subn(r"(?m)^videos = \d+$", f"videos = {videos}", text)
    text, k = re.subn(r"(?m)^seed = \d+$", f"seed = {seed}", text)  # discover's and precompute's seeds
    assert (n, m, k) == (1, 1, 2), (n, m, k)
    return text


def run(cmd: list[str]) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def make_data(out: Path, name: str, videos: int, seed: int) -> Path:
    work = out / "data" / name
    toml = out / f"{name}.toml"
    out.mkdir(parents=True, exist_ok=True)
    toml.write_text(pipeline_text(f"gt-{name}", videos, seed))
    run([BIN / "timelapse-d", "run", toml, "--work", work, "--workers", "2", "--no-progress"])
    return work


def train_model(release: Path, runs: Path, variant: str, steps: int) -> Path:
    run_dir = runs / variant
    info = run_dir / "run.json"
    if info.is_file() and json.loads(info.read_text()).get("finished") and (run_dir / "checkpoint.pt").is_file():
        print(f"reusing {run_dir}", flush=True)
        return run_dir / "checkpoint.pt"
    text = (ROOT / "pipelines" / "fgla_cpu_demo.toml").read_text()
    text, n = re.subn(r'(?m)^encoder = "fine-grained"$', f'encoder = "{MODELS[variant]}"', text)
    assert n == 1
    with tempfile.NamedTemporaryFile("w", suffix=f"_{variant}.toml", delete=False) as handle:
        handle.write(text)
    run([BIN / "fgla", "train", "--release", release, "--config", handle.name, "--out", run_dir,
         "--steps", str(steps), "--device", "cpu", "--no-progress"])
    Path(handle.name).unlink()
    return run_dir / "checkpoint.pt"


def video_seeds(work: Path) -> dict[str, int]:
    return {p.name[:-len(".gt.json")]: json.loads(p.read_text())["seed"]
            for p in (work / "sources" / "synthetic").glob("*.gt.json")}


# ------------------------------------------------------------------------------------------- ground truth

def true_kept_pair_flow(truth: dict, first: int, second: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The backward flow of source frames (first, second) on frame second's grid: I_second(p) =
    I_first(p + F(p)), composed from the per-frame truth, squashed to size x size with values in pixels
    of that grid -> (S, S, 2), valid (S, S) bool."""
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


def heldout_clips(work: Path) -> list[tuple[ClipSample, dict]]:
    """(clip, truth) for every held-out sample whose frames lie in one still-camera shot."""
    clips, truths = [], {}
    for shard in sorted((work / "shards").glob("*.tar")):
        for entries in read_samples(shard):
            clip = ClipSample(entries)
            vid = clip.meta["video_id"]
            if vid not in truths:
                truths[vid] = load_ground_truth(work / "sources" / "synthetic", vid)
            meta, truth = truths[vid]
            idx = clip.meta["frame_indices"]
            shots = [s for s in meta["shots"] if s["start"] <= idx[0] and idx[-1] < s["end"]]
            if len(shots) == 1 and shots[0]["camera"] == "none":
                clips.append((clip, truth, shots[0]["category"]))
    return clips


# ------------------------------------------------------------------------------------------- measurements

def clip_latents(model, clip: ClipSample, pairs: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    flows, groups = clip_pair_inputs(clip, list(range(min(pairs, len(clip) - 1))), model.config.image_size)
    return average_latents(*encode_pairs(model, flows, groups))


def to_px(step: torch.Tensor) -> np.ndarray:
    """(2, S, S) normalised -> (S, S, 2) pixels of the S grid."""
    return normalised_to_pixels(step[None])[0].permute(1, 2, 0).numpy()


def region_mean(flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return flow[mask].mean(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def frames_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


def mean_step_magnitude(model, image, groups, latents, speed: float, frames: int) -> float:
    mags = []
    for i, out in enumerate(animate(model, image, groups, latents, frames, speed)):
        if i:
            mag = np.linalg.norm(to_px(out.flow), axis=2)
            mags.append(mag[mag > 0])  # still semantics are exactly 0
    return float(np.concatenate(mags).mean())


def evaluate_model(model, clips, frames: int) -> dict:
    S = model.config.image_size
    acc = {name: {"gen": [], "zero": [], "dis": [], "px": 0, "cos": [], "clips": 0} for name in GROUPS}
    psnr, psnr_still, lengths, speed = [], [], [], {0.25: [], 4.0: []}
    for clip, truth, _ in clips:
        image = fit_frame(clip.frame(0), (S, S))
        groups = fit_groups(clip.groups(0), (S, S))
        z, present = clip_latents(model, clip)
        latents = {name: z[k] for k, name in enumerate(GROUPS) if present[k]}
        video = list(animate(model, image, groups, latents, frames))
        idx = clip.meta["frame_indices"]
        true, valid = true_kept_pair_flow(truth, idx[0], idx[1], S)
        gen = to_px(video[1].flow)
        dis = clip_pair_inputs(clip, [0], S)[0][0].permute(1, 2, 0).numpy()
        for k, name in enumerate(GROUPS):
            region = (groups == k) & valid
            if region.sum() < 16:
                continue
            a = acc[name]
            a["gen"].append(np.linalg.norm(gen - true, axis=2)[region].sum())
            a["zero"].append(np.linalg.norm(true, axis=2)[region].sum())
            a["dis"].append(np.linalg.norm(dis - true, axis=2)[region].sum())
            a["px"] += int(region.sum())
            a["clips"] += 1
            a["cos"].append(cosine(region_mean(gen, region), region_mean(true, region)))
        # masked PSNR, eq. 14 mask from the clip's own kept frames
        real = [fit_frame(clip.frame(i), (S, S)) for i in range(min(frames, len(clip)))]
        real_t = frames_tensor(real)
        static = static_mask(real_t)
        length = len(real) - 1
        fake_t = frames_tensor([f.frame for f in video])
        for store, fake in ((psnr, fake_t[1:length + 1]), (psnr_still, real_t[:1].expand(length, -1, -1, -1))):
            values = masked_psnr(fake, real_t[1:], static)
            values = values[torch.isfinite(values)]
            if len(values):
                store.append(values.mean().item())
        lengths.append(length)
        base = mean_step_magnitude(model, image, groups, latents, 1.0, frames)
        for s in speed:
            speed[s].append(mean_step_magnitude(model, image, groups, latents, s, frames) / base)
    epe = {}
    for name, a in acc.items():
        if a["px"]:
            epe[name] = {"clips": a["clips"], "pixels": a["px"], "epe_model": float(sum(a["gen"]) / a["px"]),
                         "epe_zero_motion": float(sum(a["zero"]) / a["px"]),
                         "epe_stored_dis": float(sum(a["dis"]) / a["px"]),
                         "cos_vs_truth_mean": float(np.mean(a["cos"]))}
    return {"epe_px": epe, "masked_psnr": float(np.mean(psnr)), "masked_psnr_still_photo": float(np.mean(psnr_still)),
            "psnr_clips": len(psnr), "psnr_frames_compared": {"min": min(lengths), "max": max(lengths),
                                                              "mean": float(np.mean(lengths))},
            "speed_ratio": {str(s): {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
                            for s, v in speed.items()}}


def control(model, clips, frames: int, d: float = 2.0) -> dict:
    """Sky latent from reference A, water latent from reference B, on held-out clips with both."""
    S = model.config.image_size
    sky, water = GROUPS.index("sky"), GROUPS.index("water")
    targets = [c for c in clips if ((g := fit_groups(c[0].groups(0), (S, S))) == sky).sum() > 64
               and (g == water).sum() > 64]

    def generated(image, groups, latents):
        step = to_px(list(animate(model, image, groups, latents, 2))[1].flow)
        return {n: region_mean(step, groups == GROUPS.index(n)) for n in ("sky", "water")}

    synthetic, real = [], []
    # real references: mean stored flow and latent of each held-out clip's sky / water
    refs = []
    for clip, _, _ in clips:
        flows, groups = clip_pair_inputs(clip, list(range(min(32, len(clip) - 1))), S)
        z, present = average_latents(*encode_pairs(model, flows, groups))
        f = flows.permute(0, 2, 3, 1).numpy()
        g = groups.numpy()
        means = {n: f[g == GROUPS.index(n)].mean(axis=0) for n in ("sky", "water") if (g == GROUPS.index(n)).any()}
        refs.append((z, present, means))
    for ti, (clip, _, _) in enumerate(clips):
        if not any(clip is t[0] for t in targets):
            continue
        image = fit_frame(clip.frame(0), (S, S))
        groups = fit_groups(clip.groups(0), (S, S))
        g = torch.from_numpy(groups.astype(np.int64))[None]
        for sign in (1.0, -1.0):  # (a) synthetic references with opposite known directions
            la = encode_pairs(model, torch.tensor([sign * d, 0.0]).view(1, 2, 1, 1).expand(1, 2, S, S).clone(), g)[0][0]
            lb = encode_pairs(model, torch.tensor([-sign * d, 0.0]).view(1, 2, 1, 1).expand(1, 2, S, S).clone(), g)[0][0]
            out = generated(image, groups, {"sky": la[sky], "water": lb[water]})
            synthetic.append({"sky": cosine(out["sky"], np.array([sign * d, 0])),
                              "water": cosine(out["water"], np.array([-sign * d, 0])),
                              "sky_px": out["sky"].tolist(), "water_px": out["water"].tolist()})
        # (b) real references: other held-out clips, sky from A and water from B pointing most apart
        cands = [(a, b) for a, b in itertools.permutations(range(len(clips)), 2)
                 if ti not in (a, b) and "sky" in refs[a][2] and "water" in refs[b][2]
                 and refs[a][1][sky] and refs[b][1][water]]
        if cands:
            a, b = min(cands, key=lambda ab: cosine(refs[ab[0]][2]["sky"], refs[ab[1]][2]["water"]))
            out = generated(image, groups, {"sky": refs[a][0][sky], "water": refs[b][0][water]})
            real.append({"sky": cosine(out["sky"], refs[a][2]["sky"]), "water": cosine(out["water"], refs[b][2]["water"]),
                         "ref_cos_sky_vs_water": cosine(refs[a][2]["sky"], refs[b][2]["water"]),
                         "ref_a": clips[a][0].meta["video_id"] + ":" + str(clips[a][0].meta["frame_indices"][0]),
                         "ref_b": clips[b][0].meta["video_id"] + ":" + str(clips[b][0].meta["frame_indices"][0])})

    def summary(rows):
        if not rows:
            return None
        return {"cases": len(rows), **{f"cos_{n}_mean": float(np.mean([r[n] for r in rows])) for n in ("sky", "water")},
                **{f"cos_{n}_positive": int(sum(r[n] > 0 for r in rows)) for n in ("sky", "water")}, "rows": rows}

    return {"targets": len(targets), "synthetic_refs_d_px": d, "synthetic": summary(synthetic), "real": summary(real)}


# ------------------------------------------------------------------------------------------- main

def print_tables(results: dict) -> None:
    models = list(results["models"])
    print(f"\nheld-out clips: {results['heldout_clips']} (still camera), model grid {results['grid']} px; EPE in px of it")
    print("| semantic | pixels (clips) | " + " | ".join(f"EPE {m}" for m in models)
          + " | EPE zero motion | EPE stored DIS | " + " | ".join(f"cos {m}" for m in models) + " |")
    print("|---" * (4 + 2 * len(models)) + "|")
    first = results["models"][models[0]]["epe_px"]
    for name in [*NAMED, "others"]:
        if name not in first:
            print(f"| {name} | 0 | " + " | ".join("-" for _ in models) + " | - | - | " + " | ".join("-" for _ in models) + " |")
            continue
        row = first[name]
        print(f"| {name} | {row['pixels']} ({row['clips']}) | "
              + " | ".join(f"{results['models'][m]['epe_px'][name]['epe_model']:.3f}" for m in models)
              + f" | {row['epe_zero_motion']:.3f} | {row['epe_stored_dis']:.3f} | "
              + " | ".join(f"{results['models'][m]['epe_px'][name]['cos_vs_truth_mean']:+.2f}" for m in models) + " |")
    print("\n| model | masked PSNR (still photo) | speed 0.25x ratio | speed 4x ratio | control synthetic cos sky / water "
          "(positive) | control real cos sky / water (positive) |")
    print("|---|---|---|---|---|---|")
    for m in models:
        r = results["models"][m]
        c = r["control"]

        def ctl(s):
            return "-" if s is None else (f"{s['cos_sky_mean']:+.2f} / {s['cos_water_mean']:+.2f} "
                                          f"({s['cos_sky_positive']}/{s['cases']}, {s['cos_water_positive']}/{s['cases']})")
        print(f"| {m} | {r['masked_psnr']:.2f} ({r['masked_psnr_still_photo']:.2f}) | "
              f"{r['speed_ratio']['0.25']['mean']:.3f} | {r['speed_ratio']['4.0']['mean']:.3f} | "
              f"{ctl(c['synthetic'])} | {ctl(c['real'])} |")
    f = results["models"][models[0]]["psnr_frames_compared"]
    print(f"\nmasked PSNR: generated frames 1..L vs the clip's kept frames, L = {f['min']}..{f['max']} "
          f"(mean {f['mean']:.1f}): the held-out clips have fewer than 32 kept frames")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "work" / "gt_benchmark")
    p.add_argument("--videos", type=int, default=16, help="training videos (seed --train-seed)")
    p.add_argument("--heldout-videos", type=int, default=8)
    p.add_argument("--train-seed", type=int, default=100)
    p.add_argument("--heldout-seed", type=int, default=200)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--runs-dir", type=Path, help="default OUT/runs; finished runs there are reused")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--json", type=Path, help="default OUT/results.json")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    out = args.out.resolve()
    train_work = make_data(out, "train", args.videos, args.train_seed)
    held_work = make_data(out, "heldout", args.heldout_videos, args.heldout_seed)
    common = set(video_seeds(train_work).values()) & set(video_seeds(held_work).values())
    assert not common, f"held-out videos also in training: {common}"
    release = out / "releases" / "gt-train" / "1.0.0"
    if not (release / "release.json").is_file():
        run([BIN / "timelapse-d", "release", "create", "--work", train_work, "--name", "gt-train",
             "--version", "1.0.0", "--root", out / "releases"])
    t_data = time.time()
    runs = (args.runs_dir or out / "runs").resolve()
    ckpts = {v: train_model(release, runs, v, args.steps) for v in MODELS}
    t_train = time.time()
    clips = heldout_clips(held_work)
    results = {"command": " ".join(sys.argv), "train_videos": args.videos, "heldout_videos": args.heldout_videos,
               "train_seed": args.train_seed, "heldout_seed": args.heldout_seed, "steps": args.steps,
               "heldout_clips": len(clips), "categories": sorted({c[2] for c in clips}), "models": {}}
    with torch.no_grad():
        for variant, path in ckpts.items():
            model = checkpoint.load(path, map_location="cpu").model.eval()
            results["grid"] = model.config.image_size
            results["models"][variant] = evaluate_model(model, clips, args.frames)
            results["models"][variant]["control"] = control(model, clips, args.frames)
            results["models"][variant]["checkpoint"] = str(path)
    results["seconds"] = {"data": round(t_data - t0, 1), "train": round(t_train - t_data, 1),
                          "evaluate": round(time.time() - t_train, 1), "total": round(time.time() - t0, 1)}
    print_tables(results)
    print(f"\ntime: {results['seconds']}")
    target = args.json or out / "results.json"
    target.write_text(json.dumps(results, indent=1))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
