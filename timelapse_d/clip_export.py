"""``clips export``: one browser-playable H.264 mp4 per clip, for people to watch (labelling).

A clip is a frame range of its video; this cuts exactly frames ``[start_frame, end_frame)`` of
``WORK/<videos.path>`` into ``WORK/clips/<clip_id>.mp4`` with the ffmpeg binary of the
imageio-ffmpeg wheel (yuv420p, even sizes, ``+faststart``). Frame-folder videos (Sky Time-lapse:
``<video>_frames_XXXXXXXX.jpg`` in numbered subfolders) are encoded from the frames of the range.
Writes are atomic; existing files are kept (``overwrite=True`` redoes them).

Use (on a work directory with clips)::

    results = export_clips("work/demo")   # results[0]["path"]: "clips/<clip_id>.mp4"
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from timelapse_d.atomic import atomic_path, remove_stale_temporaries, write_json_atomic
from timelapse_d.frame_reader import frame_files
from timelapse_d.manifest import read_rows
from timelapse_d.media import VideoProbeError, ffmpeg_exe, probe_video

CLIPS_DIR = "clips"
FRAME_FOLDER_FPS = 10.0  # frame folders carry no frame rate
_X264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-preset", "veryfast",
         "-movflags", "+faststart", "-an", "-map_metadata", "-1"]
_EVEN = "scale=trunc(iw/2)*2:trunc(ih/2)*2"


def clip_video_path(clip_id: str) -> str:
    """Where a clip's mp4 lives, relative to WORK."""
    return f"{CLIPS_DIR}/{clip_id}.mp4"


def _cut_video(source: Path, start: int, end: int, target: Path) -> None:
    command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
               "-vf", f"trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS,{_EVEN}",
               *_X264, "-f", "mp4", str(target)]
    _run(command, source)


def _encode_frames(folder: Path, start: int, end: int, fps: float, target: Path) -> None:
    frames = frame_files(folder, start, end)
    if len(frames) != end - start:
        raise VideoProbeError(f"{folder}: {len(frames)} frames in [{start}, {end}), expected {end - start}")
    listing = target.with_name(target.name + ".txt")
    try:
        listing.write_text("".join(f"file '{path.resolve()}'\nduration {1 / fps:.6f}\n" for path in frames)
                           + f"file '{frames[-1].resolve()}'\n")
        command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                   "-i", str(listing), "-vf", _EVEN, "-r", f"{fps:g}", "-frames:v", str(len(frames)), *_X264, "-f", "mp4", str(target)]
        _run(command, folder)
    finally:
        listing.unlink(missing_ok=True)


def _run(command: list[str], source: Path) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise VideoProbeError(f"{source}: ffmpeg failed ({result.returncode}): {result.stderr.strip()[-500:]}")


def export_clip(work: Path, clip: dict, video: dict, overwrite: bool = False) -> dict:
    """Write one clip's mp4; a result row (clip_id, path, status ok / skipped / failed, error)."""
    relative = clip_video_path(clip["clip_id"])
    target = work / relative
    result = {"clip_id": clip["clip_id"], "path": relative, "status": "ok", "error": ""}
    if target.exists() and not overwrite:
        return {**result, "status": "skipped"}
    start, end = clip["start_frame"], clip["end_frame"]
    source = work / video["path"]
    try:
        with atomic_path(target) as tmp:
            if source.is_dir():
                _encode_frames(source, start, end, video.get("fps") or FRAME_FOLDER_FPS, tmp)
            else:
                _cut_video(source, start, end, tmp)
            frames = probe_video(tmp).frames
            if frames != end - start:
                raise VideoProbeError(f"{source}: exported {frames} frames for [{start}, {end}), "
                                      f"expected {end - start}")
    except (OSError, VideoProbeError) as error:
        return {**result, "status": "failed", "error": str(error)}
    return result


def export_clips(work: str | Path, clip_ids: list[str] | None = None, overwrite: bool = False) -> list[dict]:
    """Export the ok clips (all, or those named); write ``WORK/stats/clips_export.json``."""
    work = Path(work)
    began = time.monotonic()
    videos = {row["video_id"]: row for row in read_rows(work, "videos")}
    clips = [row for row in read_rows(work, "clips") if row["status"] == "ok"]
    if clip_ids is not None:
        known = {clip["clip_id"] for clip in clips}
        missing = sorted(set(clip_ids) - known)
        if missing:
            raise ValueError(f"no ok clip(s) {missing} in {work}/manifests/clips.parquet")
        wanted = set(clip_ids)
        clips = [clip for clip in clips if clip["clip_id"] in wanted]
    (work / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(work / CLIPS_DIR)
    results = [export_clip(work, clip, videos[clip["video_id"]], overwrite) for clip in clips]
    counts = {status: sum(r["status"] == status for r in results) for status in ("ok", "skipped", "failed")}
    write_json_atomic(work / "stats" / "clips_export.json",
                      {"counts": counts, "seconds": round(time.monotonic() - began, 3),
                       "failed": [r for r in results if r["status"] == "failed"]})
    return results
