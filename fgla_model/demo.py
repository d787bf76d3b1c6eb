"""``fgla demo``: the model half of ``make demo``, on the release its data half published.

    fgla demo --work work/demo --release work/demo/releases/demo/1.0.0

Into ``WORK/fgla/``: train the small CPU model (``pipelines/fgla_cpu_demo.toml``; a rerun resumes
the run, or does nothing once it is finished), build the codebook of the train split, animate the
first frame of up to ``animations`` test clips (GIF, frame beside its flow), draw the flow
pictures, evaluate the test split (masked PSNR / SSIM; the network scores are missing unless
their weight files are given), and write ``WORK/report.html``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from timelapse_d.atomic import write_bytes_atomic, write_json_atomic
from timelapse_d.resize import fit_frame, fit_groups
from timelapse_d.shards import ClipSample, read_samples
from timelapse_d.shards.sample import encode_frame

from . import checkpoint
from .animate import animate, flow_panel
from .codebook import codebook_from_checkpoint, release_shard_paths
from .evaluate import evaluate, table_markdown
from .render import flow_to_color, side_by_side, write_animation
from .report import write_report
from .train import CHECKPOINT, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "fgla_cpu_demo.toml"


def _test_clips(release: Path, count: int) -> list[ClipSample]:
    split = "test" if release_shard_paths(release, split="test") else "train"
    clips = [ClipSample(entries) for path in release_shard_paths(release, split=split) for entries in read_samples(path)]
    return clips[:count]


def run_demo(work: str | Path, release: str | Path, config: str | Path = DEFAULT_CONFIG, animations: int = 3,
             frames: int = 32, device: str | None = None, progress: bool = True) -> Path:
    work, release = Path(work), Path(release)
    out = work / "fgla"
    run = out / "run"
    # 1. train, or resume a run this demo started before
    resume = (run / CHECKPOINT).exists()
    model_path = train(release, run, None if resume else config, resume=resume, device=device, progress=progress)
    state = checkpoint.load(model_path, map_location="cpu")
    model, size = state.model.eval(), state.config.image_size
    # 2. codebook of the train split
    book = codebook_from_checkpoint(model_path, release_shard_paths(release), out / "codebook.npz", progress=progress)
    # 3. animations and flow pictures of test clips' first frames
    flow_max = size / (2 * state.config.c)
    gifs, pictures = [], []
    for index, clip in enumerate(_test_clips(release, animations)):
        first = fit_frame(clip.frame(0), (size, size))
        groups = fit_groups(clip.groups(0), (size, size))
        steps = list(animate(model, first, groups, book.sample(index), frames))
        gifs.append(out / f"animation_{index}.gif")
        write_animation(gifs[-1], (side_by_side(s.frame, flow_panel(s.flow), flow_max) for s in steps), fps=8)
        height, width = clip.frame(0).shape[:2]
        motion = -_resized(clip.flow(0) * [size / width, size / height], size)  # (S, S, 2) content motion, px
        generated = flow_panel(steps[1].flow)  # (S, S, 2) likewise
        scale = max(float(np.percentile(np.linalg.norm(motion, axis=2), 99)), 1e-3)  # one colour scale for both
        panels = [first, flow_to_color(motion, scale), flow_to_color(generated, scale)]
        pictures.append(out / f"flow_{index}.png")
        write_bytes_atomic(pictures[-1], encode_frame(np.concatenate(panels, axis=1), "png"))
    # 4. evaluation and report
    evaluation = evaluate([model_path], release, frames=frames, samples=5, device=device, progress=progress)
    write_json_atomic(out / "evaluation.json", evaluation)
    write_bytes_atomic(out / "evaluation.md", table_markdown(evaluation).encode())
    return write_report(work / "report.html", work, release, run, pictures, gifs, evaluation)


def _resized(flow: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(flow, (size, size), interpolation=cv2.INTER_LINEAR)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", required=True, help="the timelapse-d work directory of the demo")
    parser.add_argument("--release", required=True, help="the release it published")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="training config (a new run only)")
    parser.add_argument("--animations", type=int, default=3)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--device", choices=("cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")


def run_demo_command(args: argparse.Namespace) -> int:
    print(run_demo(args.work, args.release, args.config, args.animations, args.frames, args.device,
                   not args.no_progress))
    return 0
