"""Animation speed: seconds to animate 32 frames at 256x256 and at 1920x1080 with the paper-size model
(``FGLAConfig()`` defaults, random weights), and what writing the H.264 MP4 adds.

    .venv/bin/python benchmarks/animate_speed.py [--frames 32] [--device cpu] [--threads 2] [--repeats 3]

Goal (issue 7): 1080p <= 1.5x the 256x256 time (the generator always runs at 256; only the flow
upsampling and the warp of the photo grow with its size).

The photo is the real 1280x720 still ``3dcine_pitons_mountains_sea.jpg`` resized to each size; its
masks are the top half sky, the bottom half water, both moving (two fixed latents). Timed: the
whole ``animate`` generator, frames converted to uint8 numpy arrays (best of ``--repeats``, the two
sizes interleaved); then ``write_animation`` to an MP4 on top, once.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STILL = ROOT.parent / "shared" / "assets" / "images" / "stills" / "3dcine_pitons_mountains_sea.jpg"
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fgla_model.animate import animate, read_image  # noqa: E402
from fgla_model.model import FGLA, FGLAConfig  # noqa: E402
from fgla_model.render import write_animation  # noqa: E402
from timelapse_d.resize import fit_frame  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FGLA(FGLAConfig()).to(args.device).eval()
    latents = {"sky": torch.tensor([0.8, -0.3]), "water": torch.tensor([-0.5, 0.6])}
    still = read_image(STILL)
    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.frames} frames, paper-size model")
    sizes = ((256, 256), (1920, 1080))
    inputs = {}
    for width, height in sizes:
        groups = np.full((height, width), 3, np.uint8)  # water below
        groups[: height // 2] = 0  # sky above
        inputs[width, height] = fit_frame(still, (width, height)), groups
        list(animate(model, *inputs[width, height], latents, 2))  # warm-up
    seconds, frames = {size: float("inf") for size in sizes}, {}
    for _ in range(args.repeats):  # sizes interleaved, best of the repeats: other load on the machine hurts both
        for size in sizes:
            start = time.perf_counter()
            frames[size] = [step.frame for step in animate(model, *inputs[size], latents, args.frames)]
            seconds[size] = min(seconds[size], time.perf_counter() - start)
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_animation(f"{tmp}/out.mp4", frames[size], fps=8)
            encode = time.perf_counter() - start
        per_frame = seconds[size] / args.frames * 1000
        print(f"{size[0]}x{size[1]}: animate {seconds[size]:.2f} s ({per_frame:.0f} ms/frame), + MP4 writing {encode:.2f} s")
    ratio = seconds[1920, 1080] / seconds[256, 256]
    print(f"1080p / 256: {ratio:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
