"""Writing animations (H.264 MP4 or GIF, by extension) and drawing flow on the standard colour wheel.

Flow colours follow the Middlebury colour wheel of Baker et al. (IJCV 2011), as in the common
``flow_vis`` / ``flowiz`` code: 55 hues (red -> yellow -> green -> cyan -> blue -> magenta -> red),
the hue from the vector's direction, the saturation from its length divided by ``max_magnitude``
(0 -> white, ``max_magnitude`` -> the full hue; longer vectors keep the full hue, darkened to
75 %). Flow pointing right (+x) is red, down (+y) yellow-orange, left cyan-blue, up blue-violet.

MP4: H.264 (yuv420p, ``+faststart``) written with PyAV's libx264 (``write_mp4``). Each frame is
handed to one encoder thread as soon as it is made, at most ``ENCODER_QUEUE`` frames behind, so
encoding overlaps the animation instead of following it; the file appears whole under its name or
not at all (``timelapse_d.atomic``). Quality is x264's constant rate factor, ``DEFAULT_CRF`` 18
(visually lossless), at ``DEFAULT_PRESET`` "veryfast", which encodes 1080p about 3x faster than
"medium" for ~0.9 dB less PSNR at the same CRF (docs/animation.md, "Speed"). Single-threaded x264, so
the same frames give the same bytes and the encoder takes one core from the generator, not both.

GIF: written with Pillow (each frame quantised to its own 256-colour palette, looping forever).
imageio's GIF writer is Pillow's plugin, so it would add nothing; Pillow is installed with
``label-studio-sdk`` (install_requires), imageio only with the dev extra. Pillow merges identical
consecutive frames into one, adding up their durations, so a still video plays the same but holds
fewer GIF frames.

    >>> import numpy as np
    >>> flow = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 0.0], [0.5, 0.0]]])
    >>> flow_to_color(flow, max_magnitude=1.0).tolist()   # right, down, left, up, zero, half right
    [[[255, 0, 0], [255, 229, 0], [0, 209, 255], [88, 0, 255], [255, 255, 255], [255, 127, 127]]]
"""
from __future__ import annotations

import collections
import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from timelapse_d.atomic import atomic_path
from timelapse_d.errors import UsageError
from timelapse_d.media import check_h264_frame

FORMATS = (".mp4", ".gif")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_CRF, DEFAULT_PRESET = 18, "veryfast"
ENCODER_QUEUE = 2  # frames waiting for the encoder thread: memory stays bounded (6 MB a 1080p frame)


def colour_wheel() -> np.ndarray:
    """(55, 3) float64 RGB in [0, 255]: the Middlebury wheel, hue segments RY 15, YG 6, GC 4, CB 11, BM 13, MR 6."""
    segments = [(15, 0, 1, +1), (6, 1, 0, -1), (4, 1, 2, +1), (11, 2, 1, -1), (13, 2, 0, +1), (6, 0, 2, -1)]
    rows = []
    for n, full, ramp, direction in segments:  # one channel full, another ramping up (+1) or down (-1)
        block = np.zeros((n, 3))
        block[:, full] = 255
        steps = np.floor(255 * np.arange(n) / n)
        block[:, ramp] = steps if direction > 0 else 255 - steps
        rows.append(block)
    return np.concatenate(rows)  # (55, 3)


def flow_to_color(flow: np.ndarray, max_magnitude: float) -> np.ndarray:
    """(H, W, 2) flow (x right, y down, any unit) -> (H, W, 3) uint8 RGB, lengths divided by ``max_magnitude``."""
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if not max_magnitude > 0:
        raise ValueError(f"max_magnitude must be > 0, got {max_magnitude}")
    wheel = colour_wheel()
    n = len(wheel)
    u, v = flow[..., 0] / max_magnitude, flow[..., 1] / max_magnitude  # (H, W) each
    radius = np.sqrt(u * u + v * v)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (n - 1)  # (H, W) in [0, n - 1]
    k0 = np.floor(position).astype(np.int64)
    k1 = (k0 + 1) % n
    f = (position - k0)[..., None]  # (H, W, 1)
    colour = ((1 - f) * wheel[k0] + f * wheel[k1]) / 255  # (H, W, 3) in [0, 1]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    return np.floor(255 * colour).astype(np.uint8)


def wheel_legend(size: int) -> np.ndarray:
    """(size, size, 3) uint8: the colour wheel itself, a disk of radius max_magnitude on white."""
    c = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    flow = np.stack(np.meshgrid(c, c, indexing="xy"), axis=-1)  # (size, size, 2): each pixel's own position
    legend = flow_to_color(flow, 1.0)
    legend[np.hypot(flow[..., 0], flow[..., 1]) > 1] = 255
    return legend


def side_by_side(frame: np.ndarray, flow: np.ndarray, max_magnitude: float) -> np.ndarray:
    """frame (H, W, 3) uint8 and flow (h, w, 2) -> (H, 2W, 3) uint8: the frame, then the flow coloured at
    H x W (nearest) with the wheel legend in its top-left corner (side min(H, W) // 5)."""
    import cv2

    H, W = frame.shape[:2]
    panel = cv2.resize(flow_to_color(flow, max_magnitude), (W, H), interpolation=cv2.INTER_NEAREST)  # (H, W, 3)
    side = min(H, W) // 5
    if side > 0:
        panel[:side, :side] = wheel_legend(side)
    return np.concatenate([frame, panel], axis=1)  # (H, 2W, 3)


def check_output_path(path: str | Path) -> str:
    """The output's format (".mp4" or ".gif"), from its extension; UsageError naming the path otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"output {path}: the extension must be one of {FORMATS}, got {suffix or 'none'!r}")
    return suffix


def write_gif(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> None:
    """RGB uint8 frames (H, W, 3) -> a looping GIF, 1000 / fps ms per frame (GIF counts in 10 ms)."""
    from PIL import Image

    images = (Image.fromarray(np.ascontiguousarray(frame)) for frame in frames)
    first = next(images, None)
    if first is None:
        raise ValueError(f"write_gif({path}): no frames")
    first.save(path, format="GIF", save_all=True, append_images=images, duration=round(1000 / fps), loop=0)


def check_x264(crf: int, preset: str) -> None:
    """Raise UsageError naming the value when ``crf`` is not 0..51 or ``preset`` not one of ``X264_PRESETS``."""
    if not (isinstance(crf, int) and 0 <= crf <= 51):
        raise UsageError(f"--crf must be an integer 0..51 (x264's constant rate factor, lower is better), got {crf!r}")
    if preset not in X264_PRESETS:
        raise UsageError(f"--preset must be one of the x264 presets {', '.join(X264_PRESETS)}, got {preset!r}")


def _encode(container, stream, frame) -> None:  # noqa: ANN001 - PyAV's container, stream and VideoFrame
    """Encode one frame (None: flush the encoder) and mux its packets; runs on the encoder thread."""
    for packet in stream.encode(frame):
        container.mux(packet)


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = DEFAULT_CRF,
              preset: str = DEFAULT_PRESET) -> None:
    """RGB uint8 frames (H, W, 3), H and W even -> H.264 MP4, each frame encoded while the next is made.

    The frames are consumed here; each is copied into a PyAV frame and encoded (RGB -> yuv420p, x264
    at ``crf`` and ``preset``) on one background thread, at most ``ENCODER_QUEUE`` frames behind. An
    error in ``frames`` or in the encoder is raised here once the thread has stopped, and leaves no
    file at ``path``.
    """
    import av

    check_x264(crf, preset)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"write_mp4({path}): no frames")
    H, W = check_h264_frame(first, f"write_mp4({path})")
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1"}
        encoder = ThreadPoolExecutor(1, thread_name_prefix="mp4-encoder")
        pending: collections.deque[Future] = collections.deque()
        try:
            for frame in itertools.chain([first], frames):
                check_h264_frame(frame, f"write_mp4({path})", (H, W))
                rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")  # a copy, (H, W, 3)
                pending.append(encoder.submit(_encode, out, stream, rgb))
                if len(pending) > ENCODER_QUEUE:
                    pending.popleft().result()  # waits for the encoder; raises its error
            pending.append(encoder.submit(_encode, out, stream, None))
            while pending:
                pending.popleft().result()
        finally:
            encoder.shutdown(wait=True, cancel_futures=True)


def write_animation(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = DEFAULT_CRF,
                    preset: str = DEFAULT_PRESET) -> None:
    """Write RGB uint8 frames (H, W, 3) as H.264 MP4 (even H and W; ``write_mp4``, x264 ``crf`` and
    ``preset``) or GIF, chosen by ``path``'s extension."""
    if check_output_path(path) == ".mp4":
        write_mp4(path, frames, fps, crf, preset)
    else:
        write_gif(path, frames, fps)
