"""yt-dlp as a downloader: one link into one fresh folder, under the host policy, failures in plain words.

    downloader = YtDlpDownloader(config)        # a download stage's DownloadConfig
    path = downloader.fetch(url, attempts_dir)  # or DownloadFailed("HTTP 404 Not Found")

Only yt-dlp's Flickr and generic extractors run, with no credentials, post-processing or external
programs, and nothing kept between attempts (no archive, cache or ``.part`` resume). yt-dlp retries
the download itself ``retries`` times; ``fetch`` adds new attempts only for what yt-dlp does not
retry (errors while extracting, HTTP 429), waiting ``Retry-After`` when the server sends one. Every
yt-dlp error ends in a DownloadFailed whose reason comes from one table, ``FAILURES``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit, urlunsplit

from timelapse_d.media import ffmpeg_exe
from timelapse_d.net.hostpolicy import REFUSED, HostPolicy, enforced
from timelapse_d.net.retry_after import retry_after_seconds

if TYPE_CHECKING:
    from timelapse_d.stages.download import DownloadConfig

EXTRACTORS = ("flickr", "generic")  # yt-dlp extractors allowed to run (IE names, matched whole)
NO, YES, IF_UNRETRIED = "no", "yes", "if yt-dlp has not retried it"  # is a new attempt worth it?

# (pattern, reason, retry): the first pattern found in yt-dlp's message (and its cause) gives the
# reason, a format string over the match's groups ({1}, {2}; {timeout}) or a function of them, and
# whether a new attempt may help. IF_UNRETRIED: yes for an error while extracting (it comes with its
# cause; yt-dlp does not retry those), no for one of the download itself (yt-dlp has spent its own
# ``retries`` on it).
FAILURES: tuple[tuple[str, str | Callable[..., str], str], ...] = (
    (rf"(\S+ (?:is|resolves to \S+,) [^;]*; {REFUSED} \(allow_hosts\))", "{1}", NO),
    (r"No connection adapters were found for '([^']*)'", "the link leads off http(s), to {1}; refused", NO),
    (r"Unsupported URL", "not a video: the link serves a web page in which yt-dlp finds no video", NO),
    (r"HTTP Error (429):? ?([A-Za-z' -]*)", "HTTP {1} {2}", YES),  # yt-dlp never retries a 429
    (r"HTTP Error (408|5\d\d):? ?([A-Za-z' -]*)", "HTTP {1} {2}", IF_UNRETRIED),
    (r"HTTP Error (\d{3}):? ?([A-Za-z' -]*)", "HTTP {1} {2}", NO),
    (r"(\d+) bytes read, (\d+) more expected",
     lambda got, more: f"incomplete body (got {got} of {int(got) + int(more)} bytes)", IF_UNRETRIED),
    (r"Downloaded (\d+) bytes, expected (\d+) bytes", "incomplete body (got {1} of {2} bytes)", IF_UNRETRIED),
    (r"(?i)reset by peer|ConnectionReset|Connection reset", "connection reset", IF_UNRETRIED),
    (r"(?i)timed? ?out", "timed out after {timeout} s", IF_UNRETRIED),
    (r"(?i)Connection refused", "connection refused", IF_UNRETRIED),
    (r"Requested format is not available", "no format matches the format selector", NO),
    (r"Did not get any data blocks", "the server sent an empty body", NO),
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>()]+", re.I)


class DownloadFailed(Exception):
    """A link that gave no file; the text is the reason, for the manifest."""


@dataclass(frozen=True)
class Failure:
    reason: str  # plain words, for the manifest
    retry: bool  # worth a new attempt
    retry_after: float | None = None  # seconds the server asked us to wait (HTTP 429 / 503)
    tries: int = 1  # requests yt-dlp made before giving up


class YtDlpDownloader:
    def __init__(self, config: "DownloadConfig", sleep_requests: float | None = None):
        self.config = config
        self.policy = HostPolicy(tuple(config.allow_hosts))
        self.sleep_requests = config.sleep_requests if sleep_requests is None else sleep_requests

    def fetch(self, url: str, attempts_dir: Path) -> Path:
        """The one file the link gives, downloaded into a fresh ``attempts_dir/attempt-<n>/``,
        after up to 1 + ``retries`` attempts; DownloadFailed with the reason otherwise."""
        config = self.config
        for attempt in range(config.retries + 1):
            try:
                return self._attempt(url, attempts_dir / f"attempt-{attempt}")
            except _AttemptFailed as error:
                failure = error.failure
            if not failure.retry or attempt == config.retries:
                tries = attempt + failure.tries
                raise DownloadFailed(failure.reason + (f" (gave up after {tries} attempts)" if tries > 1 else ""))
            wait = config.backoff(attempt) if failure.retry_after is None else failure.retry_after
            if wait > config.max_retry_wait:
                raise DownloadFailed(f"{failure.reason}; the server asks to wait {wait:g} s, "
                                     f"more than max_retry_wait {config.max_retry_wait:g} s")
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    def _attempt(self, url: str, target_dir: Path) -> Path:
        from yt_dlp import YoutubeDL
        from yt_dlp.utils import YoutubeDLError

        target_dir.mkdir()
        log = _YtDlpLog()
        try:
            with enforced(self.policy), YoutubeDL(self.options(target_dir, log)) as ydl:
                ydl.extract_info(url, download=True)
        except YoutubeDLError as error:  # DownloadError, or one raised past yt-dlp's own handling
            raise _AttemptFailed(describe_failure(error, log.errors, self.config.socket_timeout)) from None
        files = [path for path in target_dir.iterdir() if path.suffix not in (".part", ".ytdl")]
        if len(files) == 1:
            return files[0]
        reason = (log.rejected or "yt-dlp produced no file" if not files
                  else f"yt-dlp left {len(files)} files, expected one: {sorted(path.name for path in files)}")
        raise DownloadFailed(reason)

    def options(self, target_dir: Path, log: "_YtDlpLog | None" = None) -> dict:
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
            "sleep_interval_requests": self.sleep_requests,
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


class _AttemptFailed(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.reason)
        self.failure = failure


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


def describe_failure(error: Exception, messages: list[str], socket_timeout: float) -> Failure:
    """Plain words for a yt-dlp error (DownloadError, RequestError, ...) from ``FAILURES``, and
    whether a new attempt may help; an error no pattern knows is kept as yt-dlp's cleaned text."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    cause = (getattr(error, "exc_info", None) or (None, None))[1]
    text = _clean(messages[-1] if messages else str(error))
    tries = int(match.group(1)) + 1 if (match := re.search(r"Giving up after (\d+) retries", text)) else 1
    text = re.sub(r"^Got error: |\.* ?Giving up after \d+ retries$", "", text)
    said = (text, _clean(str(cause))) if cause else (text,)
    unretried = isinstance(cause, (HTTPError, TransportError))  # raised while extracting: yt-dlp did not retry
    for pattern, reason, retry in FAILURES:
        if match := next(filter(None, (re.search(pattern, words) for words in said)), None):
            groups = [group or "" for group in match.groups()]
            words = (reason(*groups) if callable(reason)
                     else reason.format(match.group(0), *groups, timeout=f"{socket_timeout:g}").strip())
            wait = _retry_after(cause)
            if wait is not None:
                words += f" (Retry-After {wait:g} s)"
            return Failure(words, retry == YES or (retry == IF_UNRETRIED and unretried), wait, tries)
    return Failure(text[:300] or type(error).__name__, unretried, tries=tries)


def _retry_after(cause: BaseException | None) -> float | None:
    from yt_dlp.networking.exceptions import HTTPError

    if not isinstance(cause, HTTPError) or cause.status not in (429, 503):
        return None
    return retry_after_seconds(cause.response.headers.get("Retry-After"))


def redact_url(url: str) -> str:
    """A URL fit for error text: no user name or password, no query string or fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


def _clean(message: str) -> str:
    """A yt-dlp message without colours, carriage returns, log prefixes or URL secrets."""
    message = _ANSI.sub("", message).replace("\r", "")
    message = re.sub(r"^(ERROR: )?(\[[\w:]+\] )*", "", message.strip())
    message = re.sub(r"\s*\(caused by <[^>]*>\)", "", message)
    return _URL.sub(lambda match: redact_url(match.group(0)), message)
