"""Small copies of a decoded video frame (PyAV) for split's work on every frame: scene detection,
and the camera-motion and category analysis of sampled pairs.

Decoding is the floor of split's cost (a 1080p frame takes about 3 ms to decode on one core), so the
whole picture is never converted to RGB: for 8-bit 4:2:0 YUV in limited range with the BT.601 or
BT.709 matrix (or none declared: BT.601, as FFmpeg assumes), by far the most common case, the
copies are read straight from the decoder's planes and converted once small.

- ``detection_frame``: every ``step``-th pixel (PySceneDetect's own downscale is a bilinear
  resize, which at these factors reads the same few pixels: no anti-aliasing either way),
  converted with OpenCV's I420 conversion.
- ``analysis_grey`` and ``analysis_grey_and_colour``: the planes area-averaged to
  ``ANALYSIS_WIDTH`` pixels wide (within 1-2 grey levels, mean, of converting the whole frame
  first; a star dims instead of vanishing).

Other formats (10-bit, full-range "yuvj", RGB GIFs, palettes, other matrices) go through FFmpeg's
swscale. Every copy is turned upright by the frame's display rotation (a phone's portrait video is
stored sideways), as OpenCV's reader, and so precompute, turns its frames.

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
_MATRICES = {1: (0.2126, 0.0722), 2: (0.299, 0.114), 5: (0.299, 0.114), 6: (0.299, 0.114)}  # AVColorSpace -> Kr, Kb
_LUMA_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)  # 16-235 -> 0-255


def upright_size(frame) -> tuple[int, int]:  # noqa: ANN001 - av.VideoFrame
    """(width, height) of the frame as displayed: turned by its rotation."""
    return (frame.height, frame.width) if _quarter_turns(frame) % 2 else (frame.width, frame.height)


def detection_frame(frame, step: int) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(h, w, 3) uint8 BGR, upright: every ``step``-th pixel of the frame, sizes rounded down to even.
    Converted with BT.601 whatever the frame declares: the detector compares consecutive frames."""
    height, width = -(-frame.height // step) // 2 * 2, -(-frame.width // step) // 2 * 2
    if not _limited_420(frame) or min(height, width) < 2:
        small = frame.reformat(width=max(2, width), height=max(2, height), format="bgr24",
                               interpolation="POINT").to_ndarray()
        return _upright(small, frame)
    i420 = np.empty((height * 3 // 2, width), np.uint8)  # Y, then U and V at half the size each way
    i420[:height] = _every_step(_plane(frame, 0), step, height, width)
    for index, chroma in enumerate(i420[height:].reshape(2, height * width // 4), start=1):
        chroma.reshape(height // 2, width // 2)[:] = _every_step(_plane(frame, index), step, height // 2, width // 2)
    return _upright(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), frame)


def _every_step(plane: np.ndarray, step: int, height: int, width: int) -> np.ndarray:
    """(height, width): every ``step``-th pixel of every ``step``-th row. The rows are copied whole
    first (a run of memory each), then thinned: a quarter cheaper than gathering single pixels
    across a frame the decoder wrote a few frames ago, which is out of the CPU's near caches."""
    return np.ascontiguousarray(plane[::step][:height])[:, ::step][:, :width]


def analysis_grey(frame) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(h, ANALYSIS_WIDTH) uint8 grey, upright, aspect kept."""
    if _rgb_matrix(frame) is None:
        return analysis_grey_and_colour(frame)[0]
    return _upright(cv2.LUT(_area(_plane(frame, 0), _stored_size(frame)), _LUMA_TO_FULL), frame)


def analysis_grey_and_colour(frame) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - av.VideoFrame
    """``analysis_grey(frame)``, and (h, ANALYSIS_WIDTH, 3) uint8 RGB of the same size."""
    size, matrix = _stored_size(frame), _rgb_matrix(frame)
    if matrix is None:
        colour = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
        return _upright(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), frame), _upright(colour, frame)
    luma, blue, red = (_area(_plane(frame, index), size) for index in range(3))
    colour = cv2.transform(cv2.merge([luma, blue, red]), matrix)
    return _upright(cv2.LUT(luma, _LUMA_TO_FULL), frame), _upright(colour, frame)


def _yuv_to_rgb(kr: float, kb: float) -> np.ndarray:
    """The (3, 4) affine map from limited-range (Y, U, V) to full-range (R, G, B) for a matrix's Kr, Kb."""
    kg, luma, chroma = 1 - kr - kb, 255 / 219, 255 / 224
    rgb = np.array([[luma, 0.0, chroma * 2 * (1 - kr)],
                    [luma, -chroma * 2 * (1 - kb) * kb / kg, -chroma * 2 * (1 - kr) * kr / kg],
                    [luma, chroma * 2 * (1 - kb), 0.0]])  # rows R, G, B; columns Y, U, V
    return np.hstack([rgb, -(rgb @ np.array([[16.0], [128.0], [128.0]]))])


_YUV_TO_RGB = {space: _yuv_to_rgb(kr, kb) for space, (kr, kb) in _MATRICES.items()}


def _limited_420(frame) -> bool:  # noqa: ANN001 - av.VideoFrame
    """8-bit 4:2:0 YUV in limited range: the planes read here."""
    return frame.format.name == "yuv420p" and frame.color_range != _FULL_RANGE


def _rgb_matrix(frame) -> np.ndarray | None:  # noqa: ANN001 - av.VideoFrame
    """``_YUV_TO_RGB`` for the frame's matrix; None where its planes are not read here."""
    return _YUV_TO_RGB.get(frame.colorspace) if _limited_420(frame) else None


def _stored_size(frame) -> tuple[int, int]:  # noqa: ANN001 - av.VideoFrame
    """(width, height) of the analysis copy as the frame is stored, before turning it upright."""
    width, height = analysis_size(*upright_size(frame))
    return (height, width) if _quarter_turns(frame) % 2 else (width, height)


def _area(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The plane area-averaged to ``size`` (width, height): first by the largest whole factor that
    divides both its sides (1280x720 goes to 256x144 in one step, 1920x1080 by 6, then 1.25), then
    the rest of the way with OpenCV's area resize."""
    height, width = plane.shape
    factor = max(f for f in range(1, max(1, width // size[0]) + 1) if width % f == 0 and height % f == 0)
    if factor > 1:
        plane = _block_mean(plane, factor)
    return plane if plane.shape[::-1] == size else cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def _block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """(h / factor, w / factor) uint8: the rounded mean of each factor x factor block, the same
    bytes as OpenCV's area resize by a whole factor. OpenCV has a vector path for a factor of 2
    only; from 3 up, summing rows then columns in NumPy takes 55-90 % of its time (0.24 ms instead
    of 0.39 for a 720p luma plane by 5)."""
    if factor == 2 or factor * factor * 255 > np.iinfo(np.uint16).max:
        return cv2.resize(plane, (plane.shape[1] // factor, plane.shape[0] // factor), interpolation=cv2.INTER_AREA)
    height, width = plane.shape
    rows = np.add.reduce(plane.reshape(height // factor, factor, width), axis=1, dtype=np.uint16)  # (h / f, w)
    sums = rows[:, ::factor].copy()  # (h / f, w / f)
    for column in range(1, factor):
        sums += rows[:, column::factor]
    return cv2.convertScaleAbs(sums, alpha=1 / factor ** 2)


def _quarter_turns(frame) -> int:  # noqa: ANN001 - av.VideoFrame
    """Counter-clockwise quarter turns that make the frame upright (its display rotation)."""
    return round((frame.rotation or 0) / 90) % 4


def _upright(image: np.ndarray, frame) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _plane(frame, index: int) -> np.ndarray:  # noqa: ANN001 - av.VideoFrame
    """(height, width) uint8 view of one of the frame's planes, without copying."""
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
