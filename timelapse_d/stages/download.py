"""``download``: fetch each source's video with yt-dlp's Python API, probe and hash it into ``videos``.

    [[stages]]
    stage = "download"
    max_height = 720     # prefer mp4 up to 720p
    retries = 3
    max_per_host = 2
    allow_hosts = ["127.0.0.1"]   # non-public hosts this pipeline may fetch from (none by default)

Links are Flickr pages (``https://www.flickr.com/photos/<owner>/<id>``, yt-dlp's Flickr extractor)
or direct media links (its generic extractor); no other extractor is loaded. Each attempt lands in
a fresh folder under ``WORK/videos/.partial/`` and the file moves to ``WORK/videos/<video_id>.<ext>``
only once it has been probed as a whole, decodable video, so a partial, truncated or non-video file
never counts as downloaded. The archive of what is done is the ``videos`` manifest itself, keyed by
``source_id``: nothing yt-dlp could keep (download archive, cache, ``.part`` files) outlives an
attempt. At most ``max_per_host`` downloads per host run at once across all workers on the machine
(``timelapse_d.net.hostlimit``). Failures are rows naming the link and the reason in plain words; HTTP 429
and errors yt-dlp does not retry itself (5xx or a dropped connection while extracting) are retried
here, waiting ``Retry-After`` when the server sends one (``timelapse_d.net.ytdlp``). Every host name is
checked as it is resolved, redirects included: private, link-local, loopback and other non-public
addresses are refused unless ``allow_hosts`` names them (``timelapse_d.net.hostpolicy``). An item goes
slot -> fetch -> probe -> hash -> row. Details: docs/download.md.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from timelapse_d.media import VideoInfo, VideoProbeError, container_extension, probe_video, sha256_file
from timelapse_d.net.hostlimit import host_key, host_slot, is_loopback
from timelapse_d.net.hostpolicy import HostPolicy
from timelapse_d.net.ytdlp import DownloadFailed, YtDlpDownloader, redact_url
from timelapse_d.sources import SOURCES
from timelapse_d.stages.base import Stage, StageContext

VIDEOS_DIR = Path("videos")  # relative to WORK
PARTIAL_DIR = VIDEOS_DIR / ".partial"
# Flickr's stream types carry no height in yt-dlp's formats; these are their heights. "orig" (the
# uploaded file, any size) is never preferred.
FLICKR_STREAM_HEIGHTS = {"1080p": 1080, "720p": 720, "appletv": 720, "360p": 360, "iphone_wifi": 360, "288p": 288}


@dataclass(frozen=True)
class DownloadConfig:
    format: str = ""  # yt-dlp format selector; "" = mp4 up to max_height preferred, then fallbacks
    max_height: int = 1080  # used by the default format only
    retries: int = 3  # yt-dlp's retries of a download, and our retries of a whole attempt
    fragment_retries: int = 3  # per fragment of segmented (HLS / DASH) formats
    socket_timeout: float = 30.0  # seconds without data before a request fails
    sleep_requests: float = 1.0  # seconds between downloads from a host slot, and between extraction requests
    rate_limit: int | None = None  # bytes per second per download, None for no limit
    max_per_host: int = 2  # downloads at once from one host, across all workers on this machine
    retry_backoff: float = 2.0  # seconds before the first retry, doubled for each next one
    max_retry_wait: float = 120.0  # longest single wait; a longer Retry-After fails the item instead
    allow_hosts: tuple[str, ...] = ()  # non-public hosts that may be fetched: names, *.suffixes, addresses, ranges

    def __post_init__(self) -> None:
        if not isinstance(self.allow_hosts, (list, tuple)):
            raise ValueError(f"allow_hosts must be a list of host names, addresses or ranges, got {self.allow_hosts!r}")
        object.__setattr__(self, "allow_hosts", tuple(self.allow_hosts))
        HostPolicy(self.allow_hosts)  # raises ValueError naming a bad entry
        if not isinstance(self.format, str) or self.format != self.format.strip():
            raise ValueError(f"format must be a yt-dlp format selector (or \"\" for the default), got {self.format!r}")
        if self.rate_limit is not None and not (_is_int(self.rate_limit) and self.rate_limit > 0):
            raise ValueError(f"rate_limit must be bytes per second (an integer > 0) or None, got {self.rate_limit!r}")
        for name, integer, least, strict in (("max_height", True, 1, False), ("retries", True, 0, False),
                                             ("fragment_retries", True, 0, False), ("max_per_host", True, 1, False),
                                             ("socket_timeout", False, 0, True), ("sleep_requests", False, 0, False),
                                             ("retry_backoff", False, 0, False), ("max_retry_wait", False, 0, False)):
            value = getattr(self, name)
            if not (_is_int(value) if integer else _is_number(value)):
                raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
            if value < least or (strict and value == least):
                raise ValueError(f"{name} must be {'>' if strict else '>='} {least}, got {value!r}")

    @property
    def format_selector(self) -> str:
        """The yt-dlp format selector: ``format``; or by default mp4 up to ``max_height``, then Flickr's
        stream types up to it (tallest first; their formats carry no height), then any container up
        to it, then the smallest format above it."""
        if self.format:
            return self.format
        h, not_orig = self.max_height, "[format_id!=orig]"  # quoted ids: [format_id=1080p] reads as a number
        flickr = sorted(FLICKR_STREAM_HEIGHTS.items(), key=lambda item: (-item[1], item[0]))
        flickr_ids = ([name for name, height in flickr if height <= h]
                      + [name for name, height in flickr[::-1] if height > h])
        return "/".join([f"b[ext=mp4][height<=?{h}]{not_orig}", f"bv*[ext=mp4][height<=?{h}]{not_orig}",
                         *(f"b[format_id='{name}']" for name in flickr_ids),
                         f"b[height<=?{h}]{not_orig}", f"bv*[height<=?{h}]{not_orig}", "wv*"])

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first)."""
        return min(self.retry_backoff * 2 ** retry, self.max_retry_wait)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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

    def process(self, item: dict, ctx: StageContext) -> list[dict]:
        video_id = item["source_id"]
        row = {"video_id": video_id, "source_id": video_id, "downloaded_at": datetime.now(timezone.utc)}
        source = SOURCES.get(item["source_kind"])
        try:
            local = source.fetch_local(item, ctx.work)  # media already on this machine (sky-timelapse)
        except VideoProbeError as error:
            return [{**row, "status": "failed", "error": str(error)}]
        if local is not None:
            return [{**row, "status": "ok", "error": "", **local}]
        url = source.media_url(item, ctx.services)
        (Path(ctx.work) / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        # one folder per item, one subfolder per attempt: a worker orphaned by a killed run may still
        # be fetching the same video
        item_dir = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=Path(ctx.work) / PARTIAL_DIR))
        try:
            media = self._fetch(url, ctx.work, item_dir)  # 1. slot, 2. fetch
            info = _probe(media)  # 3. probe: a whole, decodable video
            # 4. hash, then move into place, named by the container the bytes show (not the link's name)
            container = container_extension(media)
            relative = VIDEOS_DIR / f"{video_id}{container or media.suffix}"
            digest, size = sha256_file(media), media.stat().st_size
            media.replace(Path(ctx.work) / relative)
        except DownloadFailed as error:
            return [{**row, "status": "failed", "error": f"download of {redact_url(url)} failed: {error}"}]
        finally:
            shutil.rmtree(item_dir, ignore_errors=True)
        # 5. the row
        return [{**row, "status": "ok", "error": "", "path": str(relative), "sha256": digest, "bytes": size,
                 "width": info.width, "height": info.height, "fps": info.fps, "frames": info.frames,
                 "duration": info.duration, "codec": info.codec, "container": container.lstrip(".") or None}]

    def _fetch(self, url: str, work: str, item_dir: Path) -> Path:
        """The link's file, downloaded into ``item_dir`` while holding one of its host's slots."""
        host = host_key(url)
        # Politeness is for other people's servers: no pauses for this machine's own (the synthetic source).
        gap = 0.0 if is_loopback(host) else self.config.sleep_requests
        with host_slot(work, host, self.config.max_per_host, min_interval=gap):
            return YtDlpDownloader(self.config, sleep_requests=gap).fetch(url, item_dir)


def _probe(media: Path) -> VideoInfo:
    try:
        return probe_video(media)
    except VideoProbeError as error:
        raise DownloadFailed(str(error).removeprefix(f"{media}: ")) from None
