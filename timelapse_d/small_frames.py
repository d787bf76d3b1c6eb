"""Small copies of a decoded video frame (PyAV) for split's work on every frame: scene detection,
and the camera-motion and category analysis of sampled pairs.

Decoding is the floor of split's cost (a 1080p frame takes about 3 ms to decode on one core), so the
whole picture is never converted to RGB: for yuv420p, by far the most common format, the copies are
read straight from the decoder's planes.

- ``detection_frame``: every ``step``-th pixel, converted to BGR (OpenCV's BT.601 limited-range
  I420 conversion, as FFmpeg's default). PySceneDetect's own downscale is a bilinear resize, which
  at these factors reads the same few pixels: no anti-aliasing either way.
- ``analysis_grey`` and ``analysis_grey_and_colour``: the planes area-averaged to ``ANALYSIS_WIDTH``
  pixels wide, brought to full range and, for colour, converted with BT.601 as FFmpeg's default
  conversion does: within 1-2 grey levels (mean) of converting the whole frame first.

Other pixel formats (10-bit, full-range "yuvj", RGB GIFs, palettes) go through FFmpeg's swscale.

    >>> import av, numpy as np
    >>> frame = av.VideoFrame.from_ndarray(np.full((720, 1280, 3), 128, np.uint8), format="rgb24").reformat(format="yuv420p")
    >>> detection_frame(frame, 5).shape, [copy.shape for copy in analysis_grey_and_colour(frame)]
    ((144, 256, 3), [(144, 256), (144, 256, 3)])
"""
from __future__ import annotations

import cv2
import numpy as np

from timelapse_d.camera_motion import analysis_size

_FULL_RANGE = 2  # AVColorRange: AVCOL_RANGE_JPEG
_LUMA_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)  # 16-235 -> 0-255
_CHROMA_TO_FULL = np.clip(np.round((np.arange(256) - 128) * 255 / 224 + 128), 0, 255).astype(np.uint8)  # 16-240


def detection_frame(frame, step: int) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(ceil(H / step), ceil(W / step), 3) uint8 BGR, rounded down to even sizes: every ``step``-th pixel."""
    height, width = -(-frame.height // step) // 2 * 2, -(-frame.width // step) // 2 * 2
    if not _plain_yuv420p(frame) or min(height, width) < 2:
        return frame.reformat(width=max(2, width), height=max(2, height), format="bgr24",
                              interpolation="POINT").to_ndarray()
    i420 = np.empty((height * 3 // 2, width), np.uint8)  # Y, then U and V at half the size each way
    i420[:height] = _plane(frame, 0)[::step, ::step][:height, :width]
    quarter = height * width // 4
    for index, chroma in enumerate(i420[height:].reshape(2, quarter), start=1):
        chroma.reshape(height // 2, width // 2)[:] = _plane(frame, index)[::step, ::step][:height // 2, :width // 2]
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def analysis_grey(frame) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(h, ANALYSIS_WIDTH) uint8 grey, aspect kept."""
    size = analysis_size(frame.width, frame.height)
    if not _plain_yuv420p(frame):
        return frame.reformat(width=size[0], height=size[1], format="gray", interpolation="AREA").to_ndarray()
    return cv2.LUT(_area(_plane(frame, 0), size), _LUMA_TO_FULL)


def analysis_grey_and_colour(frame) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - av.VideoFrame
    """``analysis_grey(frame)``, and (h, ANALYSIS_WIDTH, 3) uint8 RGB of the same size. Averaged, not
    sampled: small bright points (stars) dim, as they should, rather than vanish or stay as a
    sampled pixel misses or hits them."""
    size = analysis_size(frame.width, frame.height)
    if not _plain_yuv420p(frame):
        colour = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
        return cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), colour
    grey = analysis_grey(frame)
    blue, red = (cv2.LUT(_area(_plane(frame, index), size), _CHROMA_TO_FULL) for index in (1, 2))
    return grey, cv2.cvtColor(cv2.merge([grey, red, blue]), cv2.COLOR_YCrCb2RGB)  # full-range BT.601, as JPEG


def _area(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The plane area-averaged to ``size`` (width, height): first by the largest whole factor that
    divides both its sides (OpenCV's fast path for whole factors: 1280x720 goes to 256x144 in one
    step, 1920x1080 by 6, then 1.25), then the rest of the way."""
    height, width = plane.shape
    factor = max(f for f in range(1, max(1, width // size[0]) + 1) if width % f == 0 and height % f == 0)
    if factor > 1:
        plane = cv2.resize(plane, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    return plane if plane.shape[::-1] == size else cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def _plain_yuv420p(frame) -> bool:  # noqa: ANN001 - av.VideoFrame
    """8-bit 4:2:0 YUV in limited range, the format read from planes here."""
    return frame.format.name == "yuv420p" and frame.color_range != _FULL_RANGE


def _plane(frame, index: int) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(height, width) uint8 view of one of the frame's planes, without copying."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
