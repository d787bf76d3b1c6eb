"""``fgla demo``: the model half of ``make demo``, on the release its data half published.

    fgla demo --work work/demo --release work/demo/releases/demo/1.0.0

Into ``WORK/fgla/``: train the small CPU model (``pipelines/fgla_cpu_demo.toml``; a rerun resumes
the run, or does nothing once it is finished), build the codebook of the train split, animate the
first frame of up to ``animations`` test clips with their own motion (``fgla_model.showcase``: real
beside generated, static drift, per-semantic control), evaluate the test split (masked PSNR / SSIM;
the network scores are missing unless their weight files are given), and write ``WORK/report.html``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from timelapse_d.atomic import write_bytes_atomic, write_json_atomic
from timelapse_d.shards import ClipSample, read_samples

from . import checkpoint
from .codebook import codebook_from_checkpoint, release_shard_paths
from .evaluate import evaluate, table_markdown
from .report import write_report
from .showcase import showcase_clip
from .train import CHECKPOINT, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "fgla_cpu_demo.toml"


def _test_clips(release: Path, count: int) -> list[ClipSample]:
    split = "test" if release_shard_paths(release, split="test") else "train"
    clips = [ClipSample(entries) for path in release_shard_paths(release, split=split) for entries in read_samples(path)]
    return clips[:count]


def run_demo(work: str | Path, release: str | Path, config: str | Path = DEFAULT_CONFIG, animations: int = 4,
             frames: int = 32, device: str | None = None, progress: bool = True) -> Path:
    work, release = Path(work), Path(release)
    out = work / "fgla"
    run = out / "run"
    # 1. train, or resume a run this demo started before
    resume = (run / CHECKPOINT).exists()
    model_path = train(release, run, None if resume else config, resume=resume, device=device, progress=progress)
    model = checkpoint.load(model_path, map_location="cpu").model.eval()
    # 2. codebook of the train split, for `fgla animate --codebook` on the user's own photos
    codebook_from_checkpoint(model_path, release_shard_paths(release), out / "codebook.npz", progress=progress)
    # 3. test clips animated with their own motion: real beside generated, static drift, control
    clips = [showcase_clip(model, clip, out, index, frames) for index, clip in enumerate(_test_clips(release, animations))]
    # 4. evaluation (the paper's protocol) and report
    evaluation = evaluate([model_path], release, frames=frames, samples=5, device=device, progress=progress)
    write_json_atomic(out / "evaluation.json", evaluation)
    write_bytes_atomic(out / "evaluation.md", table_markdown(evaluation).encode())
    return write_report(work / "report.html", work, release, run, clips, evaluation)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", required=True, help="the timelapse-d work directory of the demo")
    parser.add_argument("--release", required=True, help="the release it published")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="training config (a new run only)")
    parser.add_argument("--animations", type=int, default=4, help="test clips shown animated (default: 4)")
    parser.add_argument("--frames", type=int, default=32, help="frames per animation, the photo included (default: 32)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_demo_command(args: argparse.Namespace) -> int:
    print(run_demo(args.work, args.release, args.config, args.animations, args.frames, args.device,
                   not args.no_progress))
    return 0
