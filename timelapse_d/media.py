"""Video files: write H.264 mp4 with the ffmpeg of the imageio-ffmpeg wheel; probe and decode with PyAV.

    >>> import numpy as np
    >>> frames = [np.full((64, 96, 3), i * 20, np.uint8) for i in range(8)]
    >>> write_video("/tmp/grey.mp4", frames, fps=8)
    >>> probe_video("/tmp/grey.mp4").frames
    8
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

if TYPE_CHECKING:
    import av


class VideoProbeError(ValueError):
    """The file is not a decodable video."""


MIN_FPS, MAX_FPS = 1.0, 480.0  # plausible frame rates; outside them the container's timing is broken
PROBE_FRAMES = 8  # frames the download probe decodes; it reads the rest of the stream without decoding
_IMAGE_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # counted packet by packet (or decoded), not read from the container header
    duration: float  # seconds the frames cover, by their own timestamps
    codec: str  # FFmpeg's name of the video codec, e.g. "h264"


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
        height, width = check_h264_frame(frame, f"write_video({path})")
        if writer is None:
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


def check_h264_frame(frame: np.ndarray, where: str, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """A frame's (H, W), after checking it is (H, W, 3) uint8 with even H and W, as H.264 needs (and
    ``size`` when given); ValueError starting with ``where`` otherwise."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{where}: frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"{where}: H.264 needs even sizes, got {width}x{height}")
    if size is not None and (height, width) != size:
        raise ValueError(f"{where}: a frame is {width}x{height}, the first was {size[1]}x{size[0]}")
    return height, width


def probe_video(path: str | Path) -> VideoInfo:
    """Check a video without decoding all of it; raise VideoProbeError naming the file and saying
    what is wrong with it. Every packet of its first video stream is read and counted (reading
    without decoding costs next to nothing) and its first PROBE_FRAMES frames are decoded; the
    split stage decodes the whole video once (``decode_frames``), with the same checks on what decodes.

    Refused: an empty file; a still image (PNG, JPEG, BMP, TIFF, WebP by its signature, or any
    single frame, e.g. a GIF of one frame), whatever its name; a text file (FFmpeg renders any text
    as frames); a file with no video stream; a file cut short (an ISO-BMFF box or an MPEG-TS packet
    running past the end of the file, fewer frames than the container declares, or frames that stop
    well before its declared duration); any error the demuxer reports, or the decoder on the frames
    it decodes (corrupt data mid-file, where OpenCV would stop quietly and the rest would be lost);
    and implausible timing (no time base, or a frame rate outside [MIN_FPS, MAX_FPS], by the
    container's claim or by the frames' own timestamps). Details and examples: docs/download.md.
    """
    path = Path(path)
    _refuse_by_bytes(path)
    cut = _isobmff_cut(path) or _ts_cut(path)
    try:
        with _opened(path) as (container, stream, info, claims):
            read = _read_packets(container, stream)
    except VideoProbeError:
        if cut:
            raise VideoProbeError(f"{path}: truncated video ({cut})") from None
        raise
    return _checked(path, info, claims, read, cut)


def decode_frames(path: str | Path,
                  codec_options: dict[str, str] | None = None) -> Iterator[tuple[float, "av.VideoFrame"]]:
    """``(seconds, frame)`` for every frame of the first video stream, decoded in order; ``seconds``
    from the stream's start by the frame's own timestamp (a frame without one: its index over the
    container's average rate). ``codec_options``: FFmpeg's decoder options (``ffmpeg -h decoder=h264``).

    After the last frame, what decoded is checked as ``probe_video`` checks a file: VideoProbeError
    (naming the file) for corrupt data FFmpeg reported on the way, or fewer frames or less time than
    the container declares; and at once for a frame whose size differs from the first's. A caller
    keeps nothing it made from the frames of a video that fails, and closes the generator when it
    stops early (``contextlib.closing``): it holds the file and FFmpeg's log capture.
    """
    import av

    path = Path(path)
    cut = _isobmff_cut(path) or _ts_cut(path)
    with _opened(path) as (container, stream, info, claims), _ffmpeg_log() as logs:
        read, start, size = _Read(), stream.start_time or 0, None
        stream.codec_context.options = dict(codec_options or {})
        try:
            for frame in container.decode(stream):
                read.add(frame.time, logs)
                size = size or (frame.width, frame.height)
                if (frame.width, frame.height) != size:
                    raise VideoProbeError(f"{path}: the frame size changes mid-video, from {size[0]}x{size[1]} to "
                                          f"{frame.width}x{frame.height} at frame {read.frames - 1}")
                yield (read.frames - 1) / (claims.rate or 1.0) if frame.pts is None \
                    else float((frame.pts - start) * stream.time_base), frame
        except av.error.FFmpegError as error:
            read.failed(error, logs)
        read.note(logs)
        read.sampled = read.frames
    _checked(path, info, claims, read, cut)


@dataclass(frozen=True)
class _Stream:
    codec: str
    width: int
    height: int


@dataclass(frozen=True)
class _Claims:
    """What the container says about its video stream (0 where it says nothing)."""
    frames: int
    duration: float  # seconds
    rate: float  # average frames per second
    time_base: float  # seconds per timestamp unit

    @property
    def of_declared(self) -> str:
        return f"{self.frames}" if self.frames else "an unknown number of"


@dataclass
class _Read:
    """What was read of a video stream: its frames (counted by packet in probe_video, decoded in
    decode_frames), their time span, and the first error FFmpeg reported."""
    frames: int = 0
    sampled: int = 0  # frames decoded
    first: float | None = None  # earliest timestamp, seconds
    last: float | None = None  # latest timestamp, seconds
    error: str = ""
    error_at: float = 0.0  # seconds into the video where it was reported
    scanned: int = 0  # FFmpeg messages looked at so far

    def add(self, time: float | None, logs: list) -> None:
        """One more frame at ``time``; an error logged so far is kept, with the time."""
        if time is not None:
            self.first = time if self.first is None else min(self.first, time)
            self.last = time if self.last is None else max(self.last, time)
        self.frames += 1
        self.note(logs)

    def note(self, logs: list) -> None:
        """Keep the first error among the messages logged since the last look."""
        text = _log_text(logs[self.scanned:]) if not self.error and len(logs) > self.scanned else ""
        if text:
            self.fail(text)
        self.scanned = len(logs)

    def fail(self, error: str) -> None:
        if not self.error:
            self.error, self.error_at = error, self.last or 0.0

    def failed(self, error: Exception, logs: list) -> None:
        """PyAV raised ``error``: keep what FFmpeg logged about it, else its own words."""
        self.fail(_log_text(logs) or error.strerror)

    @property
    def rate(self) -> float:
        """Frames per second by the frames' own timestamps (0 when fewer than two)."""
        span = (self.last or 0.0) - (self.first or 0.0)
        return (self.frames - 1) / span if self.frames > 1 and span > 0 else 0.0

    def covered(self, fps: float) -> float:
        """Seconds the frames cover: first to last timestamp, plus one frame."""
        if not self.frames:
            return 0.0
        return (self.last or 0.0) - (self.first or 0.0) + (1 / fps if fps > 0 else 0.0)


def _refuse_by_bytes(path: Path) -> None:
    """Checks of what the file's first bytes show. (Part of probe_video.)"""
    if path.stat().st_size == 0:
        raise VideoProbeError(f"{path}: an empty file, not a video")
    image = _still_image_kind(path)
    if image:
        raise VideoProbeError(f"{path}: a still image ({image}), not a video")
    text = _text_kind(path)
    if text:
        raise VideoProbeError(f"{path}: {text}, not a video")


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple]:
    """(container, its first video stream, _Stream, _Claims) of an open video."""
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise VideoProbeError(f"{path}: not a decodable video (FFmpeg cannot open it: {error.strerror})") from None
    with container:
        if not container.streams.video:
            audio = " (audio only)" if container.streams.audio else ""
            raise VideoProbeError(f"{path}: not a video: the file has no video stream{audio}")
        stream = container.streams.video[0]
        context = stream.codec_context
        yield container, stream, _Stream(context.name, context.width, context.height), _claims(container, stream)


@contextlib.contextmanager
def _ffmpeg_log() -> Iterator[list]:
    """FFmpeg's messages of warning level or worse, captured while the block runs (repeats too: by
    default PyAV drops a message equal to the one before, which may be another file's). The level
    and the repeat setting are process-wide and the capture is of this thread: one video is read
    at a time per worker process, as the executors run stages."""
    import av.logging

    level, skip_repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.WARNING)
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip_repeated)


def _read_packets(container, stream) -> _Read:  # noqa: ANN001 - PyAV's container and stream
    """Every packet of the stream counted by its timestamp, and the first PROBE_FRAMES frames decoded.
    (Part of probe_video.)"""
    import av

    read = _Read()
    with _ffmpeg_log() as logs:
        try:
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard:  # an edit list's discarded lead-in is no frame
                    timestamp = packet.pts if packet.pts is not None else packet.dts
                    read.add(None if timestamp is None else float(timestamp * packet.time_base), logs)
                if read.sampled < PROBE_FRAMES:  # on past errors and an edit list's discarded lead-in
                    try:
                        read.sampled += len(packet.decode())  # the last packet, empty, flushes the decoder
                    except av.error.FFmpegError as error:
                        read.failed(error, logs)
        except av.error.FFmpegError as error:
            read.failed(error, logs)
        read.note(logs)
    return read


def _claims(container, stream) -> _Claims:  # noqa: ANN001 - PyAV's container and stream
    time_base = float(stream.time_base or 0)
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    if not duration and container.duration and len(container.streams) == 1:
        duration = container.duration / 1_000_000  # av.time_base: microseconds
    rate = float(stream.average_rate) if stream.average_rate else 0.0
    return _Claims(frames=max(stream.frames, 0), duration=duration, rate=rate, time_base=time_base)


def _log_text(logs: list) -> str:
    """The first error FFmpeg logged ("" for none): at error level or worse, or a warning of corrupt
    data (the MPEG-TS demuxer drops a damaged packet with only a warning)."""
    import av.logging

    messages = [message.strip() for level, _, message in logs
                if level <= av.logging.ERROR or (level <= av.logging.WARNING and "corrupt" in message.lower())]
    return next((message[:200] for message in messages if message), "")


def _checked(path: Path, stream: _Stream, claims: _Claims, read: _Read, cut: str) -> VideoInfo:
    """The video's VideoInfo, once what was read passes every check."""
    if cut:
        raise VideoProbeError(f"{path}: truncated video (read {read.frames} of {claims.of_declared} frames; {cut})")
    _refuse_by_content(path, stream, claims, read)
    fps = claims.rate or read.rate
    return VideoInfo(width=stream.width, height=stream.height, fps=fps, frames=read.frames,
                     duration=round(read.covered(fps), 6), codec=stream.codec)


def _refuse_by_content(path: Path, stream: _Stream, claims: _Claims, read: _Read) -> None:
    """Checks of what was read against what the container claims. (Part of probe_video.)"""
    if stream.codec == "ansi":  # FFmpeg's tty demuxer renders text (any .txt file) as frames
        raise VideoProbeError(f"{path}: a text file, not a video")
    if (read.frames <= 1 and read.error) or not (read.sampled or read.error):
        raise VideoProbeError(f"{path}: not a decodable video (no frame could be decoded"
                              + (f"; FFmpeg reports {read.error!r})" if read.error else ")"))
    if read.error:
        _refuse_damaged(path, claims, read)
    if not claims.time_base:
        raise VideoProbeError(f"{path}: implausible timing: the container declares no time base")
    _refuse_implausible_rate(path, "the container declares", claims.rate, read.frames)
    if read.frames == 1:
        raise VideoProbeError(f"{path}: a still image ({stream.codec.upper()} of one frame), not a video")
    if not read.rate:
        raise VideoProbeError(f"{path}: implausible timing: all {read.frames} frames have the same timestamp")
    _refuse_implausible_rate(path, "the frames' timestamps give", read.rate, read.frames)
    _refuse_short(path, claims, read)


def _refuse_damaged(path: Path, claims: _Claims, read: _Read) -> None:
    """FFmpeg reported an error: a file that ends early, or corrupt data."""
    counted = f"{read.frames} of {claims.of_declared} frames"
    if re.search(r"ended prematurely|partial file|end of file", read.error, re.I):
        raise VideoProbeError(f"{path}: truncated video (read {counted}; FFmpeg reports {read.error!r})")
    at = read.error_at - (read.first or 0.0)
    of_duration = f" of {claims.duration:.1f} s" if claims.duration else ""
    raise VideoProbeError(f"{path}: corrupt data at {at:.1f} s{of_duration} ({counted} read); "
                          f"FFmpeg reports {read.error!r}")


def _refuse_implausible_rate(path: Path, said: str, fps: float, frames: int) -> None:
    if fps and not MIN_FPS <= fps <= MAX_FPS:
        raise VideoProbeError(f"{path}: implausible timing: {said} {fps:.6g} frames per second for {frames} "
                              f"frame{'s' if frames != 1 else ''} (accepted: {MIN_FPS:g} to {MAX_FPS:g})")


def _refuse_short(path: Path, claims: _Claims, read: _Read) -> None:
    """Fewer frames, or less time, than the container declares. An mp4's declared count is its
    number of samples, which an edit list may legitimately trim, so there time is compared instead."""
    isobmff = _isobmff_cut(path) is not None
    if not isobmff and claims.frames and read.frames < claims.frames - max(1, claims.frames // 50):
        raise VideoProbeError(f"{path}: truncated video (read {read.frames} of {claims.of_declared} frames)")
    fps = claims.rate or read.rate
    covered = read.covered(fps)
    if claims.duration and covered < claims.duration - max(2 / fps, claims.duration / 50):
        raise VideoProbeError(f"{path}: truncated video (its {read.frames} frames cover {covered:.1f} s of the "
                              f"{claims.duration:.1f} s the container declares)")


def _still_image_kind(path: str | Path) -> str:
    """The image format whose signature starts the file ("" for none). (Part of probe_video.)"""
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _IMAGE_MAGIC.items() if head.startswith(magic)), "")


def _text_kind(path: str | Path) -> str:
    """"a web page (HTML)" or "a text file" when the file's first 1 kB is text ("" otherwise).
    (Part of probe_video.)"""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # a byte that is not UTF-8, not a character cut at the 1 kB boundary
            return ""
        text = head[:error.start].decode("utf-8")
    if not text or any(not (char.isprintable() or char in "\t\r\n") for char in text):
        return ""
    return "a web page (HTML)" if re.match(r"\s*(<!doctype html|<html)", text, re.I) else "a text file"


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


def _ts_cut(path: str | Path) -> str:
    """For an MPEG-TS file whose size is not a whole number of 188-byte packets: where it is cut
    ("" otherwise). (Part of probe_video.)"""
    if container_extension(path) != ".ts":
        return ""
    extra = os.path.getsize(path) % 188
    return f"the file ends inside an MPEG-TS packet, {extra} of 188 bytes present" if extra else ""


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
