"""Animation speed: seconds to animate 32 frames at 256x256 and at 1920x1080 with the paper-size model
(``FGLAConfig()`` defaults, random weights), and what writing the H.264 MP4 adds at 1080p.

    .venv/bin/python benchmarks/animate_speed.py [--frames 32] [--device cpu] [--threads 2] [--repeats 3]
        [--crf 18] [--preset veryfast]

Goals: 1080p <= 1.5x the 256x256 time (issue 7: the generator always runs at 256; only the flow
upsampling and the warp of the photo grow with its size); writing the 1080p MP4 adds no more than
generating took ("encoding at output speed"), ideally nothing.

The photo is the real 1280x720 still ``3dcine_pitons_mountains_sea.jpg`` resized to each size; its
masks are the top half sky, the bottom half water, both moving (two fixed latents). The machine is
shared, so every figure is read against the floor measured in the same run, generation alone:

- generate: the whole ``animate`` generator, frames converted to uint8 numpy arrays;
- generate + write: ``write_animation`` fed straight from ``animate`` (what ``fgla animate`` does);
  "writing adds" is this minus generate;
(both best of ``--repeats``, interleaved with the 256x256 generation: other load hurts all alike)
- encoder alone: ``write_mp4`` of the stored 1080p frames, and the former writer (``media.write_video``:
  ffmpeg subprocess, x264 "medium", CRF 18) once, for before/after on the same machine at the same time;
- quality: PSNR (RGB, all frames) of each file decoded by PyAV against the generated frames, beside the
  ceiling of yuv420p itself (lossless x264, CRF 0: only the chroma halving and the colour conversion).
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

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from fgla_model.animate import animate, read_image  # noqa: E402
from fgla_model.model import FGLA, FGLAConfig  # noqa: E402
from fgla_model.render import DEFAULT_CRF, DEFAULT_PRESET, X264_PRESETS, write_animation, write_mp4  # noqa: E402
from timelapse_d.media import write_video  # noqa: E402
from timelapse_d.resize import fit_frame  # noqa: E402

SIZES = ((256, 256), (1920, 1080))
FPS = 8


def psnr(path: Path, frames: np.ndarray) -> float:
    """PSNR in dB of the video at ``path`` decoded to RGB against ``frames`` (T, H, W, 3) uint8."""
    with av.open(str(path)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])  # (T, H, W, 3)
    assert decoded.shape == frames.shape, (decoded.shape, frames.shape)
    mse = np.mean((decoded.astype(np.float64) - frames) ** 2)
    return 10 * np.log10(255**2 / mse)


def timed(work) -> float:
    """Seconds ``work()`` takes."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def time_generation(model, inputs, latents, args, out: Path) -> tuple[dict, float, dict]:
    """Best of ``args.repeats``, interleaved: generation alone per size -> seconds, the 1080p frames
    (T, H, W, 3); and generation streamed into ``write_animation`` at 1080p -> seconds."""
    generate, frames = {size: float("inf") for size in SIZES}, {}
    streamed = float("inf")
    hd = inputs[SIZES[1]]
    for _ in range(args.repeats):
        for size in SIZES:
            start = time.perf_counter()
            frames[size] = np.stack([step.frame for step in animate(model, *inputs[size], latents, args.frames)])
            generate[size] = min(generate[size], time.perf_counter() - start)
        steps = (step.frame for step in animate(model, *hd, latents, args.frames))
        streamed = min(streamed, timed(lambda: write_animation(out, steps, FPS, args.crf, args.preset)))
    return generate, frames[SIZES[1]], streamed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF)
    parser.add_argument("--preset", choices=X264_PRESETS, default=DEFAULT_PRESET)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FGLA(FGLAConfig()).to(args.device).eval()
    latents = {"sky": torch.tensor([0.8, -0.3]), "water": torch.tensor([-0.5, 0.6])}
    still = read_image(STILL)
    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.frames} frames, paper-size model, "
          f"x264 {args.preset} CRF {args.crf}")
    inputs = {}
    for width, height in SIZES:
        groups = np.full((height, width), 3, np.uint8)  # water below
        groups[: height // 2] = 0  # sky above
        inputs[width, height] = fit_frame(still, (width, height)), groups
        list(animate(model, *inputs[width, height], latents, 2))  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        new, old, ceiling = Path(tmp, "new.mp4"), Path(tmp, "old.mp4"), Path(tmp, "lossless.mp4")
        generate, frames, streamed = time_generation(model, inputs, latents, args, new)
        alone = timed(lambda: write_mp4(new, frames, FPS, args.crf, args.preset))
        former = timed(lambda: write_video(old, frames, FPS))
        write_mp4(ceiling, frames, FPS, crf=0, preset="ultrafast")
        size_mb, old_mb = new.stat().st_size / 1e6, old.stat().st_size / 1e6
        quality = {path: psnr(path, frames) for path in (new, old, ceiling)}
    for (width, height), seconds in generate.items():
        print(f"{width}x{height}: animate {seconds:.2f} s ({seconds / args.frames * 1000:.0f} ms/frame)")
    hd = generate[SIZES[1]]
    print(f"1080p / 256: {hd / generate[SIZES[0]]:.2f}x (goal <= 1.5x)")
    print(f"1080p generate + write MP4 streamed: {streamed:.2f} s; writing adds {streamed - hd:.2f} s "
          f"= {(streamed - hd) / hd:.2f}x generate (goal <= 1x)")
    print(f"1080p encoder alone: {alone:.2f} s = {alone / hd:.2f}x generate, {size_mb:.1f} MB, "
          f"PSNR {quality[new]:.2f} dB")
    print(f"1080p former writer alone (ffmpeg, medium, CRF 18): {former:.2f} s = {former / hd:.2f}x generate, "
          f"{old_mb:.1f} MB, PSNR {quality[old]:.2f} dB")
    print(f"yuv420p ceiling (lossless x264): PSNR {quality[ceiling]:.2f} dB")


if __name__ == "__main__":
    main()
