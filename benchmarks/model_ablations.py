"""Which of the CPU model's deviations from the paper matter: each variant trained on the ground-truth
benchmark's data and measured on its held-out clips (run on demand; not a test).

    .venv/bin/python benchmarks/model_ablations.py [--out work/gt_benchmark] [--steps 1500] [--variants ours,...]

Data: ``benchmarks/synthetic_ground_truth.py``'s (the same flags and defaults; made there or here, reused
by both). Variants: ``pipelines/fgla_cpu_demo.toml`` ("ours") and the same with ONE switch changed:

    paper_norms     encoder_norm = generator_norm = true (the paper's InstanceNorm in E and P, §4.2)
    encoder_norm    encoder_norm = true (InstanceNorm in E only)
    generator_norm  generator_norm = true (InstanceNorm in P only)
    no_still        still_semantics = [] (the paper: the static ground has a latent and moves as P says)
    no_tv           use_tv = false (the "w/o L_tv" ablation)

Each is trained with ``fgla train`` to ``--steps`` (two at a time, one thread each) and measured on the
held-out clips: one-step EPE per semantic (as in the ground-truth benchmark), the static ground's drift
and masked PSNR over 32 generated frames, and the speed response: the generated sky's mean x flow when
the sky alone has the latent of a uniform reference of 0.5, 1, 2, 4 and 8 px (a model that reads the
magnitude answers about those numbers; the bound is c = 8 px).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synthetic_ground_truth as gt  # noqa: E402
from fgla_model.motion_checks import SKY, model_frame, uniform_response  # noqa: E402
from timelapse_d.resize import fit_groups  # noqa: E402

VARIANTS = {"ours": {}, "paper_norms": {"encoder_norm": "true", "generator_norm": "true"},
            "encoder_norm": {"encoder_norm": "true"}, "generator_norm": {"generator_norm": "true"},
            "no_still": {"still_semantics": "[]"}, "no_tv": {"use_tv": "false"}}
RESPONSE_PX = (0.5, 1.0, 2.0, 4.0, 8.0)


def variant_text(config: Path, changes: dict[str, str]) -> str:
    text = config.read_text()
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}  ", text)
        assert n == 1, f"{config} must set {key} on a line of its own"
    return text


def train(release: Path, runs: Path, config: Path, names: list[str], steps: int) -> None:
    """The variants ``names`` side by side, one thread each; a run finished at ``steps`` is kept."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for name in names:
        run = runs / name
        finished = json.loads((run / "run.json").read_text()).get("finished") if (run / "run.json").is_file() else None
        if finished:
            if finished["step"] != steps:
                raise SystemExit(f"{run} finished at step {finished['step']}, not --steps {steps}: remove it, or pass "
                                 f"--steps {finished['step']}")
            continue
        runs.mkdir(parents=True, exist_ok=True)
        (runs / f"{name}.toml").write_text(variant_text(config, VARIANTS[name]))
        cmd = [gt.BIN / "fgla", "train", "--release", release, "--out", run, "--steps", str(steps), "--device", "cpu",
               "--no-progress", *(["--resume"] if (run / "config.toml").exists() else ["--config", runs / f"{name}.toml"])]
        print("+", " ".join(map(str, cmd)), flush=True)
        procs.append(subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env))
    if any(proc.wait() for proc in procs):
        raise SystemExit("a training run failed")


@torch.no_grad()
def measure(model, heldout: list[gt.GTClip], epe_pairs: int) -> dict:
    S, response = model.config.image_size, {px: [] for px in RESPONSE_PX}
    for item in heldout:
        frame, groups = model_frame(item.clip, 0, S), fit_groups(item.clip.groups(0), (S, S))
        if (groups == SKY).sum() >= 64:
            for px in RESPONSE_PX:
                response[px].append(uniform_response(model, frame, groups, "sky", px))
    video = gt.video_scores(model, heldout, 32)
    return {"epe_px": gt.epe_table(model, heldout, epe_pairs), "masked_psnr": video["psnr"]["mean"],
            "masked_psnr_still_photo": video["psnr_still"]["mean"],
            "drift_per_step_max": video["per_step_max"]["max"], "drift_accumulated_max": video["accumulated"]["max"],
            "sky_response_px": {str(px): float(np.mean(v)) for px, v in response.items()}}


def print_table(results: dict) -> None:
    print("\n| variant | " + " | ".join(f"EPE {n}" for n in gt.MOVING) + " | drift px/step (32 frames) | masked PSNR "
          "| sky response to " + " / ".join(f"{px:g}" for px in RESPONSE_PX) + " px |")
    print("|---" * (len(gt.MOVING) + 4) + "|")
    for name, r in results["variants"].items():
        epe = r["epe_px"]
        print(f"| {name} | " + " | ".join(f"{epe[n]['epe_model']:.3f}" if n in epe else "-" for n in gt.MOVING)
              + f" | {r['drift_per_step_max']:.3f} ({r['drift_accumulated_max']:.2f}) | {r['masked_psnr']:.2f} | "
              + " / ".join(f"{v:.2f}" for v in r["sky_response_px"].values()) + " |")
    zero = next(iter(results["variants"].values()))["epe_px"]
    print("| zero motion | " + " | ".join(f"{zero[n]['epe_zero_motion']:.3f}" if n in zero else "-" for n in gt.MOVING)
          + " | 0 | " + f"{next(iter(results['variants'].values()))['masked_psnr_still_photo']:.2f} (still photo) | |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "work" / "gt_benchmark", help="the ground-truth benchmark's --out")
    p.add_argument("--videos", type=int, default=64)
    p.add_argument("--heldout-per-category", type=int, default=4)
    p.add_argument("--train-seed", type=int, default=100)
    p.add_argument("--heldout-seed", type=int, default=200)
    p.add_argument("--config", type=Path, default=ROOT / "pipelines" / "fgla_cpu_demo.toml")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--epe-pairs", type=int, default=4)
    p.add_argument("--json", type=Path, help="default OUT/ablations.json")
    args = p.parse_args(argv)
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    torch.set_num_threads(2)
    out = args.out.resolve()
    release, heldout_works = gt.make_datasets(out, args)
    heldout = [c for work in heldout_works for c in gt.still_clips(work)]
    runs = out / "ablations"
    for i in range(0, len(names), 2):
        train(release, runs, args.config, names[i:i + 2], args.steps)
    results = {"command": " ".join(sys.argv), "steps": args.steps, "heldout_clips": len(heldout),
               "variants": {name: measure(gt.load_model(runs / name / "checkpoint.pt"), heldout, args.epe_pairs)
                            for name in names}}
    print_table(results)
    target = args.json or out / "ablations.json"
    target.write_text(json.dumps(results, indent=1))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
