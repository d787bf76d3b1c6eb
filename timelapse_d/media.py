"""Video files: write H.264 mp4 with the ffmpeg of the imageio-ffmpeg wheel, probe with OpenCV.

    >>> import numpy as np
    >>> frames = [np.full((64, 96, 3), i * 20, np.uint8) for i in range(8)]
    >>> write_video("/tmp/grey.mp4", frames, fps=8)
    >>> probe_video("/tmp/grey.mp4").frames
    8
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np


class VideoProbeError(ValueError):
    """The file is not a decodable video."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # counted by decoding, not read from the container header
    duration: float  # seconds
    codec: str  # FourCC as OpenCV reports it, e.g. "h264"


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> None:
    """Encode RGB uint8 frames (H, W, 3), H and W even, as browser-playable H.264 mp4.

    Single-threaded x264 with bit-exact flags, so the same frames always give the same bytes.
    """
    import imageio_ffmpeg

    writer = None
    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"write_video({path}): frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if writer is None:
            height, width = frame.shape[:2]
            if height % 2 or width % 2:
                raise ValueError(f"write_video({path}): H.264 needs even sizes, got {width}x{height}")
            writer = imageio_ffmpeg.write_frames(
                str(path), (width, height), fps=fps, codec="libx264", quality=None,
                macro_block_size=1, ffmpeg_log_level="error",
                output_params=["-crf", str(crf), "-preset", "medium", "-threads", "1",
                               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
                               "-movflags", "+faststart"],
            )
            writer.send(None)
        writer.send(np.ascontiguousarray(frame))
    if writer is None:
        raise ValueError(f"write_video({path}): no frames")
    writer.close()


def probe_video(path: str | Path) -> VideoInfo:
    """Open and fully decode a video; raise VideoProbeError naming the file if that fails."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoProbeError(f"{path}: not a decodable video (OpenCV cannot open it)")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
        frames = 0
        while capture.grab():
            frames += 1
    finally:
        capture.release()
    if frames == 0 or width <= 0 or height <= 0:
        raise VideoProbeError(f"{path}: not a decodable video (no frame could be decoded)")
    if not fps > 0:
        raise VideoProbeError(f"{path}: the container reports no frame rate")
    return VideoInfo(width=width, height=height, fps=fps, frames=frames, duration=frames / fps, codec=codec)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
