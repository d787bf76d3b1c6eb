"""``download``: fetch each source's video with yt-dlp's Python API, probe and hash it into ``videos``.

    [[stages]]
    stage = "download"
    max_height = 720     # prefer mp4 up to 720p
    retries = 3
    max_per_host = 2

Links are Flickr pages (``https://www.flickr.com/photos/<owner>/<id>``, yt-dlp's Flickr extractor)
or direct media links (its generic extractor); no other extractor is loaded. Each attempt lands in
a fresh folder under ``WORK/videos/.partial/`` and the file moves to ``WORK/videos/<video_id>.<ext>``
only once it has been probed as a whole, decodable video, so a partial, truncated or non-video file
never counts as downloaded. The archive of what is done is the ``videos`` manifest itself, keyed by
``source_id``: nothing yt-dlp could keep (download archive, cache, ``.part`` files) outlives an
attempt. At most ``max_per_host`` downloads per host run at once across all workers on the machine
(``timelapse_d.hostlimit``). Failures are rows naming the link and the reason in plain words; HTTP 429
and errors yt-dlp does not retry itself (5xx or a dropped connection while extracting) are retried
here, waiting ``Retry-After`` when the server sends one. Details: docs/download.md.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from timelapse_d.hostlimit import host_key, host_slot, is_loopback
from timelapse_d.media import VideoProbeError, container_extension, ffmpeg_exe, probe_video, sha256_file
from timelapse_d.retry_after import retry_after_seconds
from timelapse_d.sources import SOURCES
from timelapse_d.stages.base import Stage, StageContext

VIDEOS_DIR = Path("videos")  # relative to WORK
PARTIAL_DIR = VIDEOS_DIR / ".partial"
EXTRACTORS = ("flickr", "generic")  # yt-dlp extractors allowed to run (IE names, matched whole)
# Flickr's stream types carry no height in yt-dlp's formats; these are their heights. "orig" (the
# uploaded file, any size) is never preferred.
FLICKR_STREAM_HEIGHTS = {"1080p": 1080, "720p": 720, "appletv": 720, "360p": 360, "iphone_wifi": 360, "288p": 288}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_URL = re.compile(r"https?://[^\s'\"<>()]+")


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

    def __post_init__(self) -> None:
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


class _YtDlpLog:
    """yt-dlp's logger: keeps error messages for the manifest, drops chatter; also its match filter."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.rejected = ""

    def debug(self, message: str) -> None:
        pass

    info = warning = debug

    def error(self, message: str) -> None:
        self.errors.append(message)

    def reject_live(self, info: dict, *, incomplete: bool = False) -> str | None:
        """A live stream has no end: never download one (it would also need ffmpeg as downloader)."""
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            self.rejected = "a live stream, not a video file"
            return self.rejected
        return None


@dataclass(frozen=True)
class _Failure:
    reason: str  # plain words, for the manifest
    retry: bool  # worth a new attempt: yt-dlp has not retried it already
    retry_after: float | None = None  # seconds the server asked us to wait (HTTP 429 / 503)
    tries: int = 1  # requests yt-dlp made before giving up


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

    def ydl_options(self, target_dir: Path, log: _YtDlpLog | None = None, sleep_requests: float | None = None) -> dict:
        """The yt-dlp options of one attempt, downloading into ``target_dir`` (a fresh folder)."""
        config, log = self.config, log or _YtDlpLog()

        def backoff(n: int) -> float:  # yt-dlp calls it with the retry number as ``n``
            return config.backoff(n)

        return {
            # 1. what: one video per link, through the Flickr or the generic extractor only
            "format": config.format_selector,
            "noplaylist": True,
            "allowed_extractors": list(EXTRACTORS),
            "match_filter": log.reject_live,
            # 2. where: a fresh folder per attempt; nothing is kept between attempts or sources
            "outtmpl": {"default": str(target_dir / "media.%(ext)s")},
            "paths": {},
            "cachedir": False,
            "download_archive": None,
            "continuedl": False,
            "overwrites": True,
            "updatetime": False,
            # 3. how hard, how fast
            "retries": config.retries,
            "fragment_retries": config.fragment_retries,
            "extractor_retries": config.retries,
            "retry_sleep_functions": {"http": backoff, "fragment": backoff, "extractor": backoff},
            "socket_timeout": config.socket_timeout,
            "ratelimit": config.rate_limit,
            "sleep_interval_requests": config.sleep_requests if sleep_requests is None else sleep_requests,
            # 4. safety: no credentials, no commands, no post-processing, native downloaders only
            "cookiefile": None,
            "cookiesfrombrowser": None,
            "usenetrc": False,
            "netrc_cmd": None,
            "username": None,
            "password": None,
            "videopassword": None,
            "client_certificate": None,
            "postprocessors": [],
            "post_hooks": [],
            "progress_hooks": [],
            "postprocessor_hooks": [],
            "fixup": "never",
            "external_downloader": {"default": "native"},
            "js_runtimes": {},
            "remote_components": [],
            "geo_bypass": False,
            "writeinfojson": False,
            "writethumbnail": False,
            "writesubtitles": False,
            "writeautomaticsub": False,
            "writedescription": False,
            "getcomments": False,
            "ffmpeg_location": ffmpeg_exe(),  # only for a user `format` that merges streams ("a+b")
            # 5. quiet: errors go to the manifest through the logger
            "ignoreerrors": False,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "color": "no_color",
            "logger": log,
        }

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
        shown = redact_url(url)
        host = host_key(url)
        # Politeness is for other people's servers: no pauses for this machine's own (the synthetic source).
        gap = 0.0 if is_loopback(host) else self.config.sleep_requests
        (Path(ctx.work) / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        # one folder per item, one subfolder per attempt: a worker orphaned by a killed run may still
        # be fetching the same video
        item_dir = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=Path(ctx.work) / PARTIAL_DIR))
        try:
            # 1. download, holding one of the host's slots
            with host_slot(ctx.work, host, self.config.max_per_host, min_interval=gap):
                media, reason = self._download(url, item_dir, gap)
            if media is None:
                return [{**row, "status": "failed", "error": f"download of {shown} failed: {reason}"}]
            # 2. probe: a whole, decodable video, or a failed row
            try:
                info = probe_video(media)
            except VideoProbeError as error:
                reason = str(error).removeprefix(f"{media}: ")
                return [{**row, "status": "failed", "error": f"download of {shown} failed: {reason}"}]
            # 3. hash, then move into place, named by the container the bytes show (not the link's name)
            relative = VIDEOS_DIR / f"{video_id}{container_extension(media) or media.suffix}"
            digest, size = sha256_file(media), media.stat().st_size
            media.replace(Path(ctx.work) / relative)
        finally:
            shutil.rmtree(item_dir, ignore_errors=True)
        return [{**row, "status": "ok", "error": "", "path": str(relative), "sha256": digest, "bytes": size,
                 "width": info.width, "height": info.height, "fps": info.fps, "frames": info.frames,
                 "duration": info.duration, "codec": info.codec}]

    def _download(self, url: str, item_dir: Path, gap: float) -> tuple[Path | None, str]:
        """(the downloaded file, "") or (None, the reason it failed), after up to 1 + retries attempts."""
        from yt_dlp import YoutubeDL
        from yt_dlp.utils import YoutubeDLError

        config = self.config
        for attempt in range(config.retries + 1):
            attempt_dir = item_dir / f"attempt-{attempt}"
            attempt_dir.mkdir()
            log = _YtDlpLog()
            try:
                with YoutubeDL(self.ydl_options(attempt_dir, log, gap)) as ydl:
                    ydl.extract_info(url, download=True)
            except YoutubeDLError as error:  # DownloadError, or one raised past yt-dlp's own handling (RequestError)
                failure = describe_failure(error, log.errors, config.socket_timeout)
                if not failure.retry or attempt == config.retries:
                    tries = attempt + failure.tries
                    return None, failure.reason + (f" (gave up after {tries} attempts)" if tries > 1 else "")
                wait = config.backoff(attempt) if failure.retry_after is None else failure.retry_after
                if wait > config.max_retry_wait:
                    return None, (f"{failure.reason}; the server asks to wait {wait:g} s, "
                                  f"more than max_retry_wait {config.max_retry_wait:g} s")
                time.sleep(wait)
                continue
            files = [path for path in attempt_dir.iterdir() if path.suffix not in (".part", ".ytdl")]
            if len(files) == 1:
                return files[0], ""
            if not files:
                return None, log.rejected or "yt-dlp produced no file"
            return None, f"yt-dlp left {len(files)} files, expected one: {sorted(path.name for path in files)}"
        raise AssertionError("unreachable: the last attempt returns")


def redact_url(url: str) -> str:
    """A URL fit for error text: no user name or password, no query string or fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


def describe_failure(error: Exception, messages: list[str], socket_timeout: float) -> _Failure:
    """Plain words for a yt-dlp error (DownloadError, RequestError), and whether a new attempt may help.

    Errors of extraction (the first request, the Flickr API) arrive with their cause; yt-dlp does
    not retry those, so HTTP 429, 408, 5xx and dropped connections get a new attempt. Errors of
    the download itself arrive as text once yt-dlp's own ``retries`` are spent: they are final,
    except HTTP 429, which yt-dlp never retries.
    """
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import UnsupportedError

    cause = (getattr(error, "exc_info", None) or (None, None))[1]
    text = _clean(messages[-1] if messages else str(error))
    tries = int(match.group(1)) + 1 if (match := re.search(r"Giving up after (\d+) retries", text)) else 1
    text = re.sub(r"^Got error: |\.* ?Giving up after \d+ retries$", "", text)
    found = f"{text} {cause or ''}"
    if match := re.search(r"No connection adapters were found for '([^']*)'", found):  # a redirect off http(s)
        return _Failure(f"the link leads off http(s), to {redact_url(match.group(1))}; refused", retry=False)
    if isinstance(cause, UnsupportedError) or "Unsupported URL" in found:
        return _Failure("not a video: the link serves a web page in which yt-dlp finds no video", retry=False)
    if isinstance(cause, HTTPError) or (match := re.search(r"HTTP Error (\d{3}):? ?([A-Za-z' -]*)", found)):
        status = cause.status if isinstance(cause, HTTPError) else int(match.group(1))
        phrase = (cause.reason if isinstance(cause, HTTPError) else match.group(2)) or ""
        headers = cause.response.headers if isinstance(cause, HTTPError) else {}
        retry_after = retry_after_seconds(headers.get("Retry-After")) if status in (429, 503) else None
        reason = f"HTTP {status} {phrase.strip()}".strip()
        if retry_after is not None:
            reason += f" (Retry-After {retry_after:g} s)"
        transient = status in (408, 429) or 500 <= status < 600
        return _Failure(reason, status == 429 or (transient and cause is not None), retry_after, tries)
    retry = isinstance(cause, TransportError)  # while extracting: yt-dlp has not retried it
    if match := re.search(r"(\d+) bytes read, (\d+) more expected", found):
        got, missing = int(match.group(1)), int(match.group(2))
        return _Failure(f"incomplete body (got {got} of {got + missing} bytes)", retry, tries=tries)
    if match := re.search(r"Downloaded (\d+) bytes, expected (\d+) bytes", found):
        return _Failure(f"incomplete body (got {match.group(1)} of {match.group(2)} bytes)", retry, tries=tries)
    if re.search(r"reset by peer|ConnectionReset|Connection reset", found, re.I):
        return _Failure("connection reset", retry, tries=tries)
    if re.search(r"timed? ?out", found, re.I):
        return _Failure(f"timed out after {socket_timeout:g} s", retry, tries=tries)
    if re.search(r"Connection refused", found, re.I):
        return _Failure("connection refused", retry, tries=tries)
    if "Requested format is not available" in found:
        return _Failure("no format matches the format selector", retry=False)
    return _Failure(text[:300] or type(error).__name__, retry, tries=tries)


def _clean(message: str) -> str:
    """A yt-dlp message without colours, carriage returns, log prefixes or URL secrets."""
    message = _ANSI.sub("", message).replace("\r", "")
    message = re.sub(r"^(ERROR: )?(\[[\w:]+\] )*", "", message.strip())
    message = re.sub(r"\s*\(caused by <[^>]*>\)", "", message)
    return _URL.sub(lambda match: redact_url(match.group(0)), message)

