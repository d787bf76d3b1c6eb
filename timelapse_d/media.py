"""Video files: write H.264 mp4 with the ffmpeg of the imageio-ffmpeg wheel, probe with OpenCV and that ffmpeg.

    >>> import numpy as np
    >>> frames = [np.full((64, 96, 3), i * 20, np.uint8) for i in range(8)]
    >>> write_video("/tmp/grey.mp4", frames, fps=8)
    >>> probe_video("/tmp/grey.mp4").frames
    8
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np


class VideoProbeError(ValueError):
    """The file is not a decodable video."""


MIN_FPS, MAX_FPS = 1.0, 480.0  # plausible frame rates; outside them the container's timing is broken
_IMAGE_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


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
    """Open and fully decode a video; raise VideoProbeError naming the file if that fails.

    A file cut short is a VideoProbeError too, even when its beginning decodes: for mp4 / mov
    (ISO-BMFF) when a top-level box runs past the end of the file (e.g. a cut ``mdat``); for other
    containers when clearly fewer frames decode than the container declares. (An mp4's declared
    count is its number of samples, which an edit list may legitimately trim, so it is not used.)
    So are a still image (PNG, JPEG, BMP, TIFF, WebP, or a GIF of one frame), whatever its name,
    a frame rate outside [MIN_FPS, MAX_FPS] (a zero or absurd time base), and any error ffmpeg's
    decoder reports for the video stream (corrupt data mid-file, a stream cut inside a frame).
    """
    import cv2

    image = _still_image_kind(path)
    if image:
        raise VideoProbeError(f"{path}: a still image ({image}), not a video")
    cut = _isobmff_cut(path)
    capture = cv2.VideoCapture(str(path))
    opened, declared, frames = capture.isOpened(), 0, 0
    try:
        if opened:
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            declared = max(int(round(capture.get(cv2.CAP_PROP_FRAME_COUNT))), 0)
            fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
            codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
            while capture.grab():
                frames += 1
    finally:
        capture.release()
    of_declared = f"{declared}" if declared else "an unknown number of"
    if cut:
        raise VideoProbeError(f"{path}: truncated video (decoded {frames} of {of_declared} frames; {cut})")
    if not opened:
        raise VideoProbeError(f"{path}: not a decodable video (OpenCV cannot open it)")
    if frames == 0 or width <= 0 or height <= 0:
        raise VideoProbeError(f"{path}: not a decodable video (no frame could be decoded)")
    if cut is None and frames < declared - max(1, declared // 50):  # not ISO-BMFF: the count is an estimate
        raise VideoProbeError(f"{path}: truncated video (decoded {frames} of {declared} frames)")
    if not fps > 0:
        raise VideoProbeError(f"{path}: the container reports no frame rate")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise VideoProbeError(f"{path}: implausible timing: {fps:.6g} frames per second for {frames} frames "
                              f"(accepted: {MIN_FPS:g} to {MAX_FPS:g})")
    if frames == 1 and codec.lower() == "gif":
        raise VideoProbeError(f"{path}: a still image (GIF of one frame), not a video")
    if codec.lower() == "ansi":  # FFmpeg's tty demuxer renders any .txt file as frames of text
        raise VideoProbeError(f"{path}: a text file, not a video")
    complaint = _decoder_complaint(path)
    if complaint:
        raise VideoProbeError(f"{path}: corrupt data after {frames / fps:.1f} s: {frames} of {of_declared} frames "
                              f"decode; the decoder reports {complaint!r}")
    return VideoInfo(width=width, height=height, fps=fps, frames=frames, duration=frames / fps, codec=codec)


def _decoder_complaint(path: str | Path) -> str:
    """The first error ffmpeg's decoder reports for the file's video stream ("" for none): OpenCV stops
    quietly at a bad packet, so corrupt data in the middle of a file would pass as a shorter video.
    (Part of probe_video.)"""
    result = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "null",
                             "-"], capture_output=True, text=True, errors="replace")
    lines = [re.sub(r"^\[[^\]]*\] ", "", line).strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode and not lines:
        lines = [f"ffmpeg exit status {result.returncode}"]
    return lines[0][:200] if lines else ""


def _still_image_kind(path: str | Path) -> str:
    """The image format whose signature starts the file ("" for none). (Part of probe_video.)"""
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _IMAGE_MAGIC.items() if head.startswith(magic)), "")


def container_extension(path: str | Path) -> str:
    """The file extension of the container the file's first bytes show (".mp4", ".mov", ".mkv", ".webm",
    ".gif", ".ts", ".avi", ".flv"), whatever its name says; "" when none is recognised."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[4:8] in _ISOBMFF_FIRST_BOXES:
        return ".mov" if head[4:8] == b"ftyp" and head[8:12] == b"qt  " else ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML
        return ".webm" if b"webm" in head[:64] else ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG-TS sync bytes, 188-byte packets
        return ".ts"
    return {b"GIF8": ".gif", b"FLV\x01": ".flv"}.get(head[:4], "")


_ISOBMFF_FIRST_BOXES = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}


def _isobmff_cut(path: str | Path) -> str | None:
    """For an ISO-BMFF file: "" when its top-level boxes fit in the file, else which box is cut.
    None for other files. (Part of probe_video.)"""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size < 8 or handle.read(8)[4:8] not in _ISOBMFF_FIRST_BOXES:
            return None
        offset = 0
        while size - offset >= 8:  # fewer trailing bytes than a box header: padding, not a cut
            handle.seek(offset)
            header = handle.read(16)
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) == 16:  # 64-bit size follows
                box_size = struct.unpack(">Q", header[8:16])[0]
            if box_size == 0:
                return ""  # the last box runs to the end of the file by definition
            if box_size < 8:
                return ""  # malformed sizes are left to the decoder
            if offset + box_size > size:
                return (f"the file ends inside its {kind.decode('latin-1')!r} box, "
                        f"{size - offset} of {box_size} bytes present")
            offset += box_size
    return ""


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
