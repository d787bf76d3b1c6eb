"""The ``fgla`` command line: ``fgla train``, ``fgla codebook``, ``fgla animate``, ``fgla evaluate``.

Each verb is one ``add_<verb>_command(commands)`` that builds its subparser and sets its handler.
Exit codes: 0 done; 2 bad usage or unusable input (a config, a release, a run directory).

    fgla train --release manifests/timelapse-d/1.0.0 --config pipelines/fgla_paper.toml --out runs/paper
    torchrun --nproc_per_node 4 -m fgla_model.cli train --release ... --config ... --out ...
    fgla train --release ... --out runs/paper --resume
    fgla codebook --release manifests/timelapse-d/1.0.0 --checkpoint runs/paper/checkpoint.pt --out book.npz
    fgla animate --image photo.jpg --checkpoint runs/paper/checkpoint.pt --codebook book.npz --out out.mp4
    fgla evaluate --checkpoint runs/paper/checkpoint.pt --checkpoint runs/wo_lm/checkpoint.pt \
        --release manifests/timelapse-d/1.0.0 --out table
"""
from __future__ import annotations

import argparse
import sys

from timelapse_d.errors import UsageError

EXIT_OK, EXIT_USAGE = 0, 2


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    path = train(args.release, args.out, args.config, args.shards, args.resume, args.device, args.steps,
                 progress=not args.no_progress)
    print(path)
    return EXIT_OK


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train (or resume) a model on a release's train shards",
                                description="Single process, or one process per device under torchrun.")
    train.add_argument("--release", required=True,
                       help="release directory (manifests/<name>/<X.Y.Z>), its release.json, or its URL")
    train.add_argument("--shards", help="directory holding the shards (default: release.json's shards_location)")
    train.add_argument("--config", help="training config TOML (pipelines/fgla_*.toml); a resumed run uses its own")
    train.add_argument("--out", required=True, help="run directory: checkpoint, logs, config copy, run.json")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    train.add_argument("--steps", type=int, help="train to this many steps in all (overrides the config's length)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=cmd_train)


def add_codebook_command(commands) -> None:
    from .codebook import add_codebook_arguments, run_codebook

    codebook = commands.add_parser("codebook", help="encode a release's clips into a latent codebook (.npz)")
    add_codebook_arguments(codebook)
    codebook.set_defaults(handler=run_codebook)


def add_animate_command(commands) -> None:
    from .animate import add_animate_arguments, run_animate

    animate = commands.add_parser("animate", help="animate a still image (Algorithm 1) into an MP4 or GIF")
    add_animate_arguments(animate)
    animate.set_defaults(handler=run_animate)


def add_evaluate_command(commands) -> None:
    from .evaluate import add_evaluate_arguments, run_evaluate

    evaluate = commands.add_parser("evaluate", help="the paper's protocol on a release's test split (Table 2)",
                                   description="Masked PSNR / SSIM, LPIPS, FID, FVD; checkpoints side by side.")
    add_evaluate_arguments(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


def add_demo_command(commands) -> None:
    from .demo import add_demo_arguments, run_demo_command

    demo = commands.add_parser("demo", help="the model half of make demo: train, codebook, animate, evaluate, report",
                               description="On the demo release: resumable training, codebook, animations, "
                                           "evaluation and WORK/report.html.")
    add_demo_arguments(demo)
    demo.set_defaults(handler=run_demo_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgla", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_train_command, add_codebook_command, add_animate_command, add_evaluate_command,
                add_demo_command):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"fgla: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
