"""``download``: fetch each source's video with yt-dlp's Python API, hash and probe it into ``videos``.

A download lands in a fresh folder under ``WORK/videos/.partial/`` and is moved to
``WORK/videos/<video_id>.<ext>`` only after it has been probed as a decodable video, so a partial
or corrupt file never counts as downloaded. A killed download starts over from an empty folder;
folders left by killed runs are removed when the stage starts.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from timelapse_d.media import VideoProbeError, ffmpeg_exe, probe_video, sha256_file
from timelapse_d.sources import SOURCES
from timelapse_d.stages.base import Stage, StageContext

VIDEOS_DIR = Path("videos")  # relative to WORK
PARTIAL_DIR = VIDEOS_DIR / ".partial"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class DownloadConfig:
    # mp4 up to 1080p preferred; anything else only when no such format exists.
    format: str = "b[ext=mp4][height<=?1080]/bv*[ext=mp4][height<=?1080]/b[height<=?1080]/b"
    retries: int = 3
    socket_timeout: float = 30.0
    rate_limit: int | None = None  # bytes per second, None for no limit
    sleep_requests: float = 0.0  # seconds between requests

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.socket_timeout <= 0:
            raise ValueError(f"socket_timeout must be > 0, got {self.socket_timeout}")


class _ErrorCollector:
    """yt-dlp logger that keeps errors for the manifest and drops chatter."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, message: str) -> None:
        pass

    info = warning = debug

    def error(self, message: str) -> None:
        self.errors.append(_ANSI.sub("", message))


class DownloadStage(Stage):
    name = "download"
    input_table = "sources"
    output_table = "videos"
    input_key = "source_id"
    Config = DownloadConfig

    @contextlib.contextmanager
    def services(self, work: str, items: list[dict]) -> Iterator[dict[str, str]]:
        shutil.rmtree(Path(work) / PARTIAL_DIR, ignore_errors=True)  # left by killed runs
        with contextlib.ExitStack() as stack:
            services: dict[str, str] = {}
            for kind in sorted({item["source_kind"] for item in items}):
                services.update(stack.enter_context(SOURCES.get(kind).serve(work)))
            yield services

    def _ydl_options(self, target_dir: Path, logger: _ErrorCollector) -> dict:
        config = self.config
        return {
            "outtmpl": {"default": str(target_dir / "media.%(ext)s")},
            "format": config.format,
            "retries": config.retries,
            "fragment_retries": config.retries,
            "socket_timeout": config.socket_timeout,
            "ratelimit": config.rate_limit,
            "sleep_interval_requests": config.sleep_requests,
            "noplaylist": True,
            "cachedir": False,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": logger,
            "ffmpeg_location": ffmpeg_exe(),
        }

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        from yt_dlp import YoutubeDL
        from yt_dlp.utils import DownloadError

        video_id = item["source_id"]
        row = {"video_id": video_id, "source_id": video_id, "downloaded_at": datetime.now(timezone.utc)}
        url = SOURCES.get(item["source_kind"]).media_url(item, ctx.services)
        (Path(ctx.work) / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        # one folder per attempt: a worker orphaned by a killed run may still be fetching the same video
        partial_dir = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=Path(ctx.work) / PARTIAL_DIR))
        try:
            logger = _ErrorCollector()
            try:
                with YoutubeDL(self._ydl_options(partial_dir, logger)) as ydl:
                    ydl.extract_info(url, download=True)
            except DownloadError as error:
                reason = logger.errors[-1] if logger.errors else _ANSI.sub("", str(error))
                return [{**row, "status": "failed", "error": f"download of {url} failed: {reason}"}]
            files = [path for path in partial_dir.iterdir() if path.suffix not in (".part", ".ytdl")]
            if len(files) != 1:
                return [{**row, "status": "failed",
                         "error": f"download of {url} left {len(files)} files, expected one: {sorted(p.name for p in files)}"}]
            try:
                info = probe_video(files[0])
            except VideoProbeError as error:
                return [{**row, "status": "failed", "error": f"download of {url}: {error}"}]
            relative = VIDEOS_DIR / f"{video_id}{files[0].suffix}"
            digest, size = sha256_file(files[0]), files[0].stat().st_size
            files[0].replace(Path(ctx.work) / relative)
        finally:
            shutil.rmtree(partial_dir, ignore_errors=True)
        return [{**row, "status": "ok", "error": "", "path": str(relative), "sha256": digest, "bytes": size,
                 "width": info.width, "height": info.height, "fps": info.fps, "frames": info.frames,
                 "duration": info.duration, "codec": info.codec}]
