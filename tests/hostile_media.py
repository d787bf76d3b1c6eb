"""A corpus of good, unusual and broken media, made in the test with the imageio-ffmpeg binary (small:
64x48, 24 frames at 12 fps, a few kB each), and the row the download stage must give each.

    corpus = make_corpus(tmp_path)   # {kind: Medium}
    corpus["corrupt_mp4"].served     # the file name it is served under (its bytes: .path)

``Medium.reason`` is a regular expression the videos row's whole error must match after
``download of <link> failed: `` ("" for an ok row); digits stand for byte counts and frame counts
that depend on the encoder's output. Download decodes a few frames only, so damage further in is
split's to find (its one full decode): ``Medium.split_reason`` is the regex of the failed clips
row's error after ``decoding <path> failed: `` ("" where split makes clips).
"""
from __future__ import annotations

import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timelapse_d.media import ffmpeg_exe, write_video

FRAMES, FPS, SIZE = 24, 12, (48, 64)  # 2.0 s of video
N = r"\d+"  # a count that depends on the encoder's bytes
KINDS = (  # every kind make_corpus writes: ok ones, then failed ones
    "mp4", "mov_named_mp4", "mkv", "mpeg_ts", "avi_mpeg4", "webm_av1", "animated_gif", "edit_list_mp4",
    "mp4_with_longer_audio", "variable_frame_rate", "corrupt_mp4_past_the_probe", "frame_size_changes_mid_video",
    "truncated_mp4", "truncated_mp4_moov_last", "truncated_mkv", "ts_cut_inside_a_packet", "corrupt_mp4",
    "corrupt_mkv", "corrupt_ts", "png_named_mp4", "jpeg_named_mp4", "gif_of_one_frame", "mp4_of_one_frame",
    "text_file", "html_named_mp4", "random_bytes", "empty_file", "audio_only", "time_base_stretched",
    "thousand_fps", "time_scale_zero")


@dataclass(frozen=True)
class Medium:
    path: Path  # the bytes to serve
    served: str  # the name they are served under
    reason: str  # regex of the whole failure reason; "" for ok
    container: str = ""  # ok rows: the container the row records
    frames: int = FRAMES  # ok rows: decoded frames
    size: tuple[int, int] = (SIZE[1], SIZE[0])  # ok rows: width, height
    split_reason: str = ""  # ok rows: regex of split's failure reason; "" when split makes clips


def frames(count: int = FRAMES, cut_at: int | None = None) -> list[np.ndarray]:
    """A bright bar sweeping over a smooth gradient; after ``cut_at`` another scene (a hard cut)."""
    y, x = np.mgrid[0:SIZE[0], 0:SIZE[1]]
    out = []
    for i in range(count):
        frame = np.zeros((*SIZE, 3), np.uint8)
        if cut_at is None or i < cut_at:
            frame[..., 2], frame[..., 1] = x * 3, 60
        else:
            frame[..., 0], frame[..., 1] = 200, y * 4
        left = (2 * i) % (SIZE[1] - 8)
        frame[20:28, left:left + 8] = 255
        out.append(frame)
    return out


def ffmpeg(*args: str | Path, data: bytes | None = None) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], input=data, check=True)


def write_vfr(path: Path, count: int, cut_at: int, slow: int) -> None:
    """H.264 mp4 whose first ``slow`` frames are 10 fps and the rest 30 fps, with a cut at ``cut_at``."""
    raw = b"".join(frame.tobytes() for frame in frames(count, cut_at))
    times = f"if(lt(N\\,{slow})\\,N/10\\,{slow}/10+(N-{slow})/30)/TB"
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE[1]}x{SIZE[0]}", "-r", "30", "-i", "-",
           "-vf", f"setpts={times}", "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-enc_time_base", "1/1000", "-threads", "1", path, data=raw)


def _overwrite(source: Path, target: Path, at: float, data: bytes) -> Path:
    """A copy of ``source`` with ``data`` written over it at fraction ``at`` of its length."""
    content = bytearray(source.read_bytes())
    start = int(len(content) * at)
    content[start:start + len(data)] = data
    target.write_bytes(bytes(content[:len(source.read_bytes())]))
    return target


def _cut(source: Path, target: Path, keep: int) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


def _timescale_zero(source: Path, target: Path) -> Path:
    """A copy of an mp4 with its video track's media time scale (``mdhd``) set to 0."""
    content = bytearray(source.read_bytes())
    at = content.find(b"mdhd")
    version = content[at + 4]
    offset = at + 4 + 4 + (16 if version == 1 else 8)  # box type, version+flags, creation/modification times
    content[offset:offset + 4] = struct.pack(">I", 0)
    target.write_bytes(bytes(content))
    return target


def make_corpus(root: Path) -> dict[str, Medium]:
    """Every kind, written under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    good = root / "good.mp4"
    write_video(good, frames(), fps=FPS)
    big = root / "noise.mp4"  # noise does not compress: damage lands in picture data
    rng = np.random.default_rng(0)
    write_video(big, [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(FRAMES)], fps=FPS)
    junk = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    made = {**_good_kinds(root, good), **_damaged_past_the_probe(root, good, big, junk),
            **_broken_kinds(root, good, big, junk), **_not_videos(root, good, junk), **_bad_timing(root, good)}
    assert tuple(made) == KINDS, "KINDS lists every kind, in order"
    return made


def _good_kinds(root: Path, good: Path) -> dict[str, Medium]:
    ffmpeg("-i", good, "-c", "copy", "-f", "mov", root / "good.mov")
    ffmpeg("-i", good, "-c", "copy", root / "good.mkv")
    ffmpeg("-i", good, "-c", "copy", root / "good.ts")
    ffmpeg("-i", good, "-c:v", "mpeg4", "-q:v", "5", root / "good.avi")
    ffmpeg("-i", good, "-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "40", "-threads", "1", root / "good.webm")
    ffmpeg("-i", good, root / "animated.gif")
    # a trim by stream copy makes an edit list; its 12 hidden frames outnumber those the probe decodes (8)
    ffmpeg("-ss", "1.0", "-i", good, "-c", "copy", root / "edit_list.mp4")
    ffmpeg("-i", good, "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:v", "copy", "-c:a", "aac",
           root / "with_audio.mp4")  # the audio runs a second past the video
    write_vfr(root / "vfr.mp4", 40, cut_at=30, slow=20)
    return {
        "mp4": Medium(good, "good.mp4", "", "mp4"),
        "mov_named_mp4": Medium(root / "good.mov", "mov.mp4", "", "mov"),
        "mkv": Medium(root / "good.mkv", "good.mkv", "", "mkv"),
        "mpeg_ts": Medium(root / "good.ts", "good.ts", "", "ts"),
        "avi_mpeg4": Medium(root / "good.avi", "good.avi", "", "avi"),
        "webm_av1": Medium(root / "good.webm", "good.webm", "", "webm"),
        "animated_gif": Medium(root / "animated.gif", "animated.gif", "", "gif"),
        "edit_list_mp4": Medium(root / "edit_list.mp4", "edit_list.mp4", "", "mp4", frames=12),
        "mp4_with_longer_audio": Medium(root / "with_audio.mp4", "with_audio.mp4", "", "mp4"),
        "variable_frame_rate": Medium(root / "vfr.mp4", "vfr.mp4", "", "mp4", frames=40),
    }


def _damaged_past_the_probe(root: Path, good: Path, big: Path, junk: bytes) -> dict[str, Medium]:
    """What only decoding finds, after the frames download decodes: damaged picture data, and a
    stream whose frame size changes half way (two H.264 streams joined, then muxed as one)."""
    corrupt = rf"corrupt data at 1\.\d s of 2\.0 s \({N} of 24 frames read\); FFmpeg reports '.+'"
    ffmpeg("-i", good, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", root / "first.h264")
    ffmpeg("-i", big, "-c:v", "libx264", "-threads", "1", "-f", "h264", root / "second.h264")
    (root / "joined.h264").write_bytes((root / "first.h264").read_bytes() + (root / "second.h264").read_bytes())
    ffmpeg("-r", str(FPS), "-f", "h264", "-i", root / "joined.h264", "-c", "copy", root / "two_sizes.mp4")
    return {
        "corrupt_mp4_past_the_probe": Medium(_overwrite(big, root / "corrupt_late.mp4", 0.85, junk), "late.mp4",
                                             "", "mp4", size=(128, 96), split_reason=corrupt),
        "frame_size_changes_mid_video": Medium(root / "two_sizes.mp4", "two_sizes.mp4", "", "mp4", frames=46,
                                               split_reason=rf"the frame size changes mid-video, from 64x48 to "
                                                            rf"128x96 at frame {N}"),
    }


def _broken_kinds(root: Path, good: Path, big: Path, junk: bytes) -> dict[str, Medium]:
    ffmpeg("-i", big, "-c", "copy", root / "noise.mkv")
    ffmpeg("-i", big, "-c", "copy", root / "noise.ts")
    ffmpeg("-i", big, "-c", "copy", "-movflags", "0", root / "moov_last.mp4")
    ts = (root / "noise.ts").read_bytes()
    mdat = r"the file ends inside its 'mdat' box, \d+ of \d+ bytes present"
    corrupt = rf"corrupt data at \d\.\d s of 2\.0 s \({N} of %s frames read\); FFmpeg reports '.+'"
    return {
        "truncated_mp4": Medium(_cut(good, root / "cut.mp4", good.stat().st_size * 6 // 10), "cut.mp4",
                                rf"truncated video \(read {N} of 24 frames; {mdat}\)"),
        "truncated_mp4_moov_last": Medium(_cut(root / "moov_last.mp4", root / "cut_moov_last.mp4",
                                               (root / "moov_last.mp4").stat().st_size // 2),
                                          "cut_moov_last.mp4", rf"truncated video \({mdat}\)"),
        "truncated_mkv": Medium(_cut(root / "noise.mkv", root / "cut.mkv", (root / "noise.mkv").stat().st_size // 2),
                                "cut.mkv", rf"truncated video \(read {N} of an unknown number of frames; FFmpeg "
                                           r"reports 'File ended prematurely'\)"),
        "ts_cut_inside_a_packet": Medium(_cut(root / "noise.ts", root / "cut.ts", len(ts) // 2 // 188 * 188 + 100),
                                         "cut.ts", rf"truncated video \(read {N} of an unknown number of frames; "
                                                   r"the file ends inside an MPEG-TS packet, 100 of 188 bytes present\)"),
        "corrupt_mp4": Medium(_overwrite(big, root / "corrupt.mp4", 0.5, junk), "corrupt.mp4", corrupt % "24"),
        "corrupt_mkv": Medium(_overwrite(root / "noise.mkv", root / "corrupt.mkv", 0.5, bytes(4000)), "corrupt.mkv",
                              corrupt % "an unknown number of"),
        "corrupt_ts": Medium(_overwrite(root / "noise.ts", root / "corrupt.ts", 0.5, b"\xff" * 4000), "corrupt.ts",
                             corrupt % "an unknown number of"),
    }


def _not_videos(root: Path, good: Path, junk: bytes) -> dict[str, Medium]:
    import cv2

    frame = frames(1)[0]
    (root / "still.png").write_bytes(cv2.imencode(".png", frame)[1].tobytes())
    (root / "still.jpg").write_bytes(cv2.imencode(".jpg", frame)[1].tobytes())
    ffmpeg("-i", good, "-frames:v", "1", root / "one.gif")
    write_video(root / "one.mp4", frames(1), fps=FPS)
    (root / "notes.txt").write_text("a text file: FFmpeg's tty demuxer renders it as frames\n" * 20)
    (root / "page.html").write_text("<!DOCTYPE html><html><body><p>This video is private.</p></body></html>")
    (root / "junk.bin").write_bytes(junk)
    (root / "empty.mp4").write_bytes(b"")
    with wave.open(str(root / "tone.wav"), "wb") as audio:
        audio.setnchannels(1), audio.setsampwidth(2), audio.setframerate(8000)
        audio.writeframes((np.sin(np.arange(8000) / 3) * 8000).astype("<i2").tobytes())
    cannot_open = r"not a decodable video \(FFmpeg cannot open it: Invalid data found when processing input\)"
    return {
        "png_named_mp4": Medium(root / "still.png", "png.mp4", r"a still image \(PNG\), not a video"),
        "jpeg_named_mp4": Medium(root / "still.jpg", "jpeg.mp4", r"a still image \(JPEG\), not a video"),
        "gif_of_one_frame": Medium(root / "one.gif", "one.gif", r"a still image \(GIF of one frame\), not a video"),
        "mp4_of_one_frame": Medium(root / "one.mp4", "one.mp4", r"a still image \(H264 of one frame\), not a video"),
        "text_file": Medium(root / "notes.txt", "notes.txt", "a text file, not a video"),
        "html_named_mp4": Medium(root / "page.html", "page.mp4", r"a web page \(HTML\), not a video"),
        "random_bytes": Medium(root / "junk.bin", "junk.mp4", cannot_open),
        "empty_file": Medium(root / "empty.mp4", "empty.mp4", "the server sent an empty body"),
        "audio_only": Medium(root / "tone.wav", "tone.mp4", r"not a video: the file has no video stream \(audio only\)"),
    }


def _bad_timing(root: Path, good: Path) -> dict[str, Medium]:
    ffmpeg("-itsscale", "5000", "-i", good, "-c", "copy", root / "slow.mp4")  # 24 frames over 2.8 hours
    write_video(root / "fast.mp4", frames(), fps=1000)
    timing = r"implausible timing: the container declares %s frames per second for 24 frames \(accepted: 1 to 480\)"
    return {
        "time_base_stretched": Medium(root / "slow.mp4", "slow.mp4", timing % r"0\.0025\d*"),
        "thousand_fps": Medium(root / "fast.mp4", "fast.mp4", timing % "1000"),
        "time_scale_zero": Medium(_timescale_zero(good, root / "timescale0.mp4"), "timescale0.mp4",
                                  r"implausible timing: the container declares 0\.000976562 frames per second for "
                                  r"1 frame \(accepted: 1 to 480\)"),
    }
