"""Compact, lossy-with-a-bound storage of one flow field, for shards.

Format (little-endian): a 12-byte header ``b"TLFL", version u8, mode u8, scale u16, height u16,
width u16``, then a zlib (level 1) payload.

- mode 0, quantised (the normal case): each component is stored as round(v * 64), int16, i.e.
  1/64 px steps as in KITTI, so **|decode(encode(F)) - F| <= 1/128 px** for every finite value in
  the range |v| <= 32767/64 = 511.98 px. NaN (the synthetic ground truth across cuts) is stored as
  the reserved code -32768 and decodes to NaN. The x plane then the y plane, each row stored as
  differences from its left neighbour (mod 2^16) before zlib: flows are smooth, so this halves the size.
- mode 1, float32 fallback: if any finite value is outside that range the field is stored losslessly
  as float32 (about 10x bigger). Nothing is clipped; ``encoded_mode(blob)`` tells a writer which mode
  it got so it can count fallbacks. Inf is rejected.

Measured on 256x256 fields (docs/flow.md): mean 16 kB (2.7-27 kB) for analytic synthetic flows,
41 kB (37-48 kB) for DIS estimates, against 256 kB for float16 and 512 kB for float32.

    >>> import numpy as np
    >>> from timelapse_d.flow.codec import decode, encode
    >>> flow = np.random.default_rng(0).normal(0, 3, (8, 8, 2)).astype(np.float32)
    >>> bool(np.abs(decode(encode(flow)) - flow).max() <= 1 / 128)
    True
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

MAGIC = b"TLFL"
VERSION = 1
SCALE = 64  # quantisation steps per pixel
MAX_ERROR_PX = 0.5 / SCALE  # 1/128 px, for finite values within RANGE_PX
NAN_CODE = -32768
RANGE_PX = 32767 / SCALE  # 511.98 px
MODES = {0: "quantised", 1: "float32"}
_HEADER = struct.Struct("<4sBBHHH")
ZLIB_LEVEL = 1  # level 9 is a quarter smaller and 70x slower (130 ms per 256x256 DIS field)


def encode(flow: np.ndarray) -> bytes:
    """(H, W, 2) float flow -> bytes. Error <= 1/128 px within +-511.98 px, lossless float32 beyond."""
    if not isinstance(flow, np.ndarray) or flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be an (H, W, 2) array, got {getattr(flow, 'shape', type(flow).__name__)}")
    h, w = flow.shape[:2]
    if not (0 < h < 65536 and 0 < w < 65536):
        raise ValueError(f"flow height and width must be in 1..65535, got {h}x{w}")
    if np.isinf(flow).any():
        raise ValueError(f"flow has {int(np.isinf(flow).sum())} infinite values; only finite values and NaN are stored")
    planes = np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)  # (2, H, W)
    nan = np.isnan(planes)
    if np.abs(planes[~nan]).max(initial=0.0) > RANGE_PX:
        return _HEADER.pack(MAGIC, VERSION, 1, SCALE, h, w) + zlib.compress(planes.tobytes(), ZLIB_LEVEL)
    codes = np.where(nan, NAN_CODE, np.rint(np.where(nan, 0.0, planes) * SCALE)).astype(np.int16).view(np.uint16)
    deltas = np.diff(codes, axis=2, prepend=np.uint16(0))  # (2, H, W) uint16, wraps mod 2^16
    return _HEADER.pack(MAGIC, VERSION, 0, SCALE, h, w) + zlib.compress(deltas.astype("<u2").tobytes(), ZLIB_LEVEL)


def _header(blob: bytes) -> tuple[int, int, int, int]:
    if len(blob) < _HEADER.size:
        raise ValueError(f"flow blob too short: {len(blob)} bytes")
    magic, version, mode, scale, h, w = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION or mode not in MODES:
        raise ValueError(f"not a flow blob of version {VERSION}: magic {magic!r}, version {version}, mode {mode}")
    return mode, scale, h, w


def encoded_mode(blob: bytes) -> str:
    """"quantised" or "float32" (the out-of-range fallback)."""
    return MODES[_header(blob)[0]]


def decode(blob: bytes) -> np.ndarray:
    """bytes from ``encode`` -> (H, W, 2) float32 flow (NaN where the input was NaN)."""
    mode, scale, h, w = _header(blob)
    payload = zlib.decompress(blob[_HEADER.size:])
    if mode == 1:
        planes = np.frombuffer(payload, "<f4").reshape(2, h, w)
    else:
        codes = np.cumsum(np.frombuffer(payload, "<u2").reshape(2, h, w), axis=2, dtype=np.uint16).view(np.int16)
        planes = np.where(codes == NAN_CODE, np.float32(np.nan), codes.astype(np.float32) / scale)
    return np.ascontiguousarray(planes.transpose(1, 2, 0), dtype=np.float32)  # (H, W, 2)
