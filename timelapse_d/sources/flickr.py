"""The ``flickr`` source: every video one ``flickr.photos.search`` finds, through flickrapi.

    [[stages]]
    stage = "discover"
    source = "flickr"
    tags = ["timelapse", "time-lapse"]
    min_upload_date = "2010-01-01"

The API key and secret come from the environment (``FLICKR_API_KEY``, ``FLICKR_API_SECRET``),
only when discovering; they are not parameters, so they never reach a manifest, a stats file, the
work directory's copy of the pipeline, a log line or a release.

Flickr returns at most the first 4,000 results of any query. The search's upload-date range is
therefore bisected until every slice reports at most 4,000 results (the first page of a slice,
``per_page`` results, doubles as its count); each such slice is paged through in upload order.
Every finished slice is journaled under ``WORK/sources/flickr/<digest of the query>/``, so a killed
discovery resumes without querying finished slices again. Photos are deduplicated by id; each
becomes one ``sources`` row whose ``url`` is the photo page, what yt-dlp's Flickr extractor takes.

Politeness: at most ``max_queries_per_hour`` HTTP requests (retries included), evenly spaced;
HTTP 429 / 5xx, connection errors and Flickr's "service unavailable" (code 105) are retried with
exponential backoff, honouring ``Retry-After``. Any other ``stat: fail`` answer stops the search
with Flickr's code and message (the query becomes a failed row; ``--retry-failed`` resumes it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from timelapse_d.atomic import TMP_PREFIX, remove_stale_temporaries, write_json_atomic
from timelapse_d.keys import source_key
from timelapse_d.licenses import DEFAULT_FLICKR_LICENSES, FLICKR_LICENSES, flickr_license
from timelapse_d.net.retry_after import retry_after_seconds
from timelapse_d.sources.base import Source

log = logging.getLogger(__name__)

FLICKR_REST_URL = "https://api.flickr.com/services/rest/"
KEY_ENV, SECRET_ENV = "FLICKR_API_KEY", "FLICKR_API_SECRET"
RESULT_CAP = 4000  # Flickr returns at most this many results of one query
MAX_PER_PAGE = 500
EXTRAS = "license,owner_name,realname,date_upload,date_taken,tags,media,o_dims,path_alias"
RETRYABLE_CODES = frozenset({0, 105})  # "API not currently available", "Service currently unavailable"
MAX_BACKOFF = 300.0  # seconds between two attempts, at most
MAX_RETRY_AFTER = 900.0  # a longer Retry-After ends the search (rerun later; finished slices are kept)
JOURNAL_DIR = Path("sources") / "flickr"  # relative to WORK
_TAG_MODES = ("any", "all")


@dataclass(frozen=True)
class FlickrConfig:
    tags: tuple[str, ...] = ("timelapse",)  # Flickr tags, matched per tag_mode
    tag_mode: str = "any"  # "any" (OR) or "all" (AND)
    text: str = ""  # free text matched against title, description and tags
    licenses: tuple[str, ...] = DEFAULT_FLICKR_LICENSES  # Flickr license ids (timelapse_d.licenses)
    min_upload_date: str = "2004-01-01"  # ISO date, inclusive (UTC)
    max_upload_date: str = ""  # ISO date, inclusive (UTC); "" = the UTC day the search first ran
    per_page: int = 500  # results per request, 1-500
    max_queries_per_hour: int = 3600  # HTTP requests, retries included
    retries: int = 5  # attempts after the first, per request
    retry_backoff: float = 1.0  # seconds before the first retry; doubles with each further one
    rest_url: str = ""  # "" = Flickr's REST endpoint; another one for mirrors and tests
    timeout: float = 30.0  # seconds per HTTP request

    def __post_init__(self) -> None:
        for name in ("tags", "licenses"):  # a list given from Python becomes a tuple
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self._check("tags", all(isinstance(tag, str) and tag.strip() and "," not in tag for tag in self.tags),
                    "must be non-empty strings without commas")
        self._check("tags", bool(self.tags) or bool(self.text.strip()), "may be empty only when text is set")
        self._check("tag_mode", self.tag_mode in _TAG_MODES, f"must be one of {_TAG_MODES}")
        self._check("licenses", bool(self.licenses) and all(lic in FLICKR_LICENSES for lic in self.licenses),
                    f"must be a non-empty list of Flickr license ids {list(FLICKR_LICENSES)}")
        for name in ("min_upload_date", "max_upload_date"):
            value = getattr(self, name)
            self._check(name, (name == "max_upload_date" and value == "") or _is_iso_date(value),
                        "must be an ISO date YYYY-MM-DD" + (" or empty" if name == "max_upload_date" else ""))
        if self.max_upload_date:
            self._check("max_upload_date", self.max_upload_date >= self.min_upload_date,
                        f"must not be before min_upload_date {self.min_upload_date!r}")
        self._check("per_page", 1 <= self.per_page <= MAX_PER_PAGE, f"must be in 1..{MAX_PER_PAGE}")
        self._check("max_queries_per_hour", self.max_queries_per_hour >= 1, "must be >= 1")
        self._check("retries", self.retries >= 0, "must be >= 0")
        self._check("retry_backoff", self.retry_backoff >= 0, "must be >= 0")
        self._check("rest_url", self.rest_url == "" or re.match(r"https?://[^/]", self.rest_url) is not None,
                    "must be empty or an http(s) URL")
        self._check("timeout", self.timeout > 0, "must be > 0")

    def _check(self, name: str, ok: bool, rule: str) -> None:
        if not ok:
            raise ValueError(f"FlickrConfig.{name} {rule}, got {getattr(self, name)!r}")


def _is_iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and date.fromisoformat(value) is not None
    except ValueError:
        return False


def _day_start(iso_day: str | date) -> int:
    day = date.fromisoformat(iso_day) if isinstance(iso_day, str) else iso_day
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- errors -----------------------------------------------------------------------------------

class FlickrCredentialsError(RuntimeError):
    """FLICKR_API_KEY or FLICKR_API_SECRET is not set."""


class FlickrApiError(RuntimeError):
    """Flickr answered ``stat: fail``; the message has Flickr's code and message."""

    def __init__(self, code: int, message: str):
        super().__init__(f"Flickr answered stat=fail, code {code}: {message}")
        self.code, self.message = code, message


class FlickrHttpError(RuntimeError):
    """No usable answer: an HTTP error status, a broken connection, or a body that is not Flickr's."""


def credentials_from_env(environ: Any = None) -> tuple[str, str]:
    """(key, secret) from the environment; FlickrCredentialsError naming what to set if missing."""
    environ = os.environ if environ is None else environ
    missing = [name for name in (KEY_ENV, SECRET_ENV) if not environ.get(name, "").strip()]
    if missing:
        raise FlickrCredentialsError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export {KEY_ENV} and "
            f"{SECRET_ENV} (an API key and its secret, https://www.flickr.com/services/apps/create/) "
            "before running a flickr discovery; they are read from the environment only")
    return environ[KEY_ENV].strip(), environ[SECRET_ENV].strip()


class _Redactor(logging.Filter):
    """Removes the credentials from log records of the libraries a search goes through, and drops
    flickrapi's dump of error bodies (the client reports HTTP errors itself)."""

    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("flickrapi.auth") and record.levelno >= logging.ERROR:
            return False
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self.redact(message), None
        return True


_LIBRARY_LOGGERS = ("flickrapi.core", "flickrapi.auth.OAuthFlickrInterface", "oauthlib.oauth1.rfc5849",
                    "oauthlib.oauth1.rfc5849.signature", "requests_oauthlib.oauth1_auth",
                    "urllib3.connectionpool", __name__)


@contextlib.contextmanager
def _redacted_logs(redactor: _Redactor) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(redactor)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redactor)


# --- politeness -------------------------------------------------------------------------------

class RateLimiter:
    """At most ``per_hour`` calls an hour, evenly spaced: calls start >= 3600 / per_hour s apart.

        >>> limiter = RateLimiter(3600 * 1000)  # one call per millisecond
        >>> limiter.wait(); limiter.wait()
    """

    def __init__(self, per_hour: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_hour <= 0:
            raise ValueError(f"per_hour must be > 0, got {per_hour!r}")
        self.interval = 3600.0 / per_hour
        self.clock, self.sleep = clock, sleep
        self._next_at: float | None = None

    def wait(self) -> None:
        now = self.clock()
        if self._next_at is not None and now < self._next_at:
            self.sleep(self._next_at - now)
            now = max(self.clock(), self._next_at)
        self._next_at = now + self.interval


class FlickrClient:
    """``flickr.photos.search`` through flickrapi: rate-limited, retried, and credential-free in
    everything it raises. ``queries`` counts HTTP requests, retries included."""

    def __init__(self, config: FlickrConfig, api_key: str, api_secret: str,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        import flickrapi
        import requests

        self.config, self.sleep = config, sleep
        self.redactor = _Redactor((api_key, api_secret))
        self.limiter = RateLimiter(config.max_queries_per_hour, clock, sleep)
        self.queries = 0
        self._response = None
        self.api = flickrapi.FlickrAPI(api_key, api_secret, format="parsed-json", store_token=False,
                                       cache=False, timeout=config.timeout)
        self.api.REST_URL = config.rest_url or FLICKR_REST_URL  # this instance only
        # A session of our own (flickrapi shares one class-wide) whose hook keeps the last
        # response: flickrapi's error for an HTTP status has neither the status nor Retry-After.
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self.api.flickr_oauth.session = session

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._response = response

    def search(self, **params: Any) -> dict:
        """The ``photos`` object of one ``flickr.photos.search`` answer (page, pages, total, photo)."""
        import requests
        from flickrapi.exceptions import FlickrError

        for attempt in range(self.config.retries + 1):
            self.limiter.wait()
            self.queries += 1
            self._response, retry_after = None, None
            try:
                with _redacted_logs(self.redactor):
                    photos = self.api.photos.search(**params)["photos"]
                int(photos["total"]), list(photos["photo"])  # the shape we rely on
                return photos
            except FlickrError as error:
                response = self._response
                if response is not None and response.status_code != 200:
                    failure = FlickrHttpError(f"HTTP {response.status_code} {response.reason or ''}".strip())
                    retryable = response.status_code == 429 or response.status_code >= 500
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                elif error.code is not None:
                    message = re.sub(r"^Error: -?\d+: ", "", str(error))
                    failure = FlickrApiError(error.code, self.redactor.redact(message))
                    retryable = error.code in RETRYABLE_CODES
                else:
                    failure, retryable = FlickrHttpError(str(error)), False
            except requests.RequestException as error:
                failure, retryable = FlickrHttpError(f"{type(error).__name__}: {error}"), True
            except (ValueError, KeyError, TypeError) as error:  # a body that is not Flickr's JSON
                failure, retryable = FlickrHttpError(f"not a Flickr answer ({type(error).__name__}: {error})"), True
            failure.args = (self.redactor.redact(str(failure)),)
            if not retryable or attempt == self.config.retries:
                raise failure
            delay = retry_after if retry_after is not None else min(
                self.config.retry_backoff * 2 ** attempt, MAX_BACKOFF)
            if delay > MAX_RETRY_AFTER:
                raise FlickrHttpError(f"{failure}; Flickr asked to retry after {delay:.0f} s, more than the "
                                      f"{MAX_RETRY_AFTER:.0f} s a search waits: run again later")
            log.warning("flickr.photos.search: %s; retry %d/%d in %.3g s",
                        failure, attempt + 1, self.config.retries, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


# --- the journal of finished slices -----------------------------------------------------------

class SliceJournal:
    """One search's finished slices, one JSON file each, written atomically:
    ``WORK/sources/flickr/<digest>/search.json`` (the query and its frozen upload range) and
    ``slices/<min>-<max>.json`` (unix seconds, inclusive): either ``split`` (it reported more than
    4,000 results) or a leaf with its photo records."""

    def __init__(self, work: str | Path, query: str):
        self.dir = Path(work) / JOURNAL_DIR / hashlib.sha256(query.encode()).hexdigest()[:16]
        self.query = query

    def prepare(self) -> "SliceJournal":
        """Create the folder and clear what a killed run left half-written (before searching)."""
        (self.dir / "slices").mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.dir)
        remove_stale_temporaries(self.dir / "slices")
        return self

    def upload_range(self, lo: int, hi: int) -> tuple[int, int]:
        """The search's range: the one recorded by the first run of this query, else (lo, hi)."""
        path = self.dir / "search.json"
        if path.exists():
            recorded = json.loads(path.read_text())
            return int(recorded["min_upload"]), int(recorded["max_upload"])
        write_json_atomic(path, {"query": self.query, "min_upload": lo, "max_upload": hi,
                                 "range_utc": [_utc(lo), _utc(hi)]})
        return lo, hi

    def _path(self, lo: int, hi: int) -> Path:
        return self.dir / "slices" / f"{lo}-{hi}.json"

    def get(self, lo: int, hi: int) -> dict | None:
        try:
            return json.loads(self._path(lo, hi).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, record: dict) -> None:
        write_json_atomic(self._path(record["min_upload"], record["max_upload"]), record)

    def slices(self) -> list[dict]:
        paths = sorted((self.dir / "slices").glob("*.json"))
        return [json.loads(path.read_text()) for path in paths if not path.name.startswith(TMP_PREFIX)]


# --- the source -------------------------------------------------------------------------------

class FlickrSource(Source):
    name = "flickr"
    Config = FlickrConfig
    # Injectable for tests: the clock and sleep of the rate limiter and the retries.
    clock: Callable[[], float] = staticmethod(time.monotonic)
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def query(self) -> str:
        """The canonical description of the search: the discover stage resumes on it."""
        config = self.config
        tags = ",".join(sorted({tag.strip().lower() for tag in config.tags}))
        licenses = ",".join(sorted(set(config.licenses), key=int))
        return (f"flickr:photos.search?media=videos&tags={quote(tags, safe=',')}&tag_mode={config.tag_mode}"
                f"&text={quote(config.text.strip())}&license={licenses}"
                f"&upload={config.min_upload_date}..{config.max_upload_date or 'today'}")

    def plan(self, work: str) -> list[dict]:
        return [{"query": self.query()}]

    def upload_range(self, today: date | None = None) -> tuple[int, int]:
        """[min, max] upload time of the search in unix seconds, both inclusive, as Flickr takes them."""
        today = today or datetime.now(timezone.utc).date()
        last_day = date.fromisoformat(self.config.max_upload_date) if self.config.max_upload_date else today
        return _day_start(self.config.min_upload_date), _day_start(last_day + timedelta(days=1)) - 1

    def search_params(self, lo: int, hi: int) -> dict[str, Any]:
        config = self.config
        return {"media": "videos", "tags": ",".join(tag.strip() for tag in config.tags) or None,
                "tag_mode": config.tag_mode, "text": config.text.strip() or None,
                "license": ",".join(sorted(set(config.licenses), key=int)),
                "min_upload_date": lo, "max_upload_date": hi, "sort": "date-posted-asc", "extras": EXTRAS}

    def discover(self, item: dict, work: str) -> list[dict]:
        api_key, api_secret = credentials_from_env()
        journal = SliceJournal(work, item["query"]).prepare()
        lo, hi = journal.upload_range(*self.upload_range())
        client = FlickrClient(self.config, api_key, api_secret, clock=self.clock, sleep=self.sleep)
        try:
            leaves = self.search_slices(client, journal, lo, hi)
        except Exception as error:  # never let a credential travel in an error message
            if client.redactor.redact(str(error)) != str(error):
                raise RuntimeError(client.redactor.redact(f"{type(error).__name__}: {error}")) from None
            raise
        return self.rows(leaves, item["query"], (lo, hi))

    def search_slices(self, client: FlickrClient, journal: SliceJournal, lo: int, hi: int) -> list[dict]:
        """The leaf slices of [lo, hi] in upload order, from the journal or by querying Flickr."""
        leaves, stack = [], [(lo, hi)]
        while stack:
            lo, hi = stack.pop()
            record = journal.get(lo, hi) or self._query_slice(client, journal, lo, hi)
            if record["split"]:
                middle = lo + (hi - lo) // 2
                stack += [(middle + 1, hi), (lo, middle)]  # the earlier half first
            else:
                leaves.append(record)
        return leaves

    def _query_slice(self, client: FlickrClient, journal: SliceJournal, lo: int, hi: int) -> dict:
        params, per_page = self.search_params(lo, hi), self.config.per_page
        queries_before = client.queries
        first = client.search(page=1, per_page=per_page, **params)
        total = int(first["total"])
        record = {"min_upload": lo, "max_upload": hi, "range_utc": [_utc(lo), _utc(hi)], "total": total,
                  "split": total > RESULT_CAP and hi > lo}
        if not record["split"]:
            photos = {str(photo["id"]): photo for photo in first["photo"]}
            last_page = min(int(first["pages"]), math.ceil(RESULT_CAP / per_page))
            for page in range(2, last_page + 1):
                answer = client.search(page=page, per_page=per_page, **params)
                if not answer["photo"]:
                    break
                for photo in answer["photo"]:
                    photos.setdefault(str(photo["id"]), photo)
            record.update(truncated=total > RESULT_CAP, found=len(photos), photos=list(photos.values()))
            if record["truncated"]:
                log.warning("flickr: %d results uploaded in the same second %s; Flickr returns only %d of them",
                            total, _utc(lo), RESULT_CAP)
        record["queries"] = client.queries - queries_before
        journal.put(record)
        log.info("flickr: slice %s..%s reported %d results (%s, %d queries)", _utc(lo), _utc(hi), total,
                 "split" if record["split"] else f"{record['found']} found", record["queries"])
        return record

    def rows(self, leaves: list[dict], query: str, search_range: tuple[int, int]) -> list[dict]:
        """One ``sources`` row per distinct photo of the leaf slices (the first occurrence wins)."""
        now, rows, seen = datetime.now(timezone.utc), [], set()
        for leaf in leaves:
            for photo in leaf["photos"]:
                if str(photo["id"]) not in seen:
                    seen.add(str(photo["id"]))
                    rows.append(self._row(photo, leaf, query, search_range, now))
        if not rows:
            digest = hashlib.sha256(query.encode()).hexdigest()[:12]
            return [{"source_id": f"{self.name}-query-{digest}", "status": "dropped",
                     "error": "the search found no videos", "source_kind": self.name, "query": query,
                     "metadata": json.dumps({"search_upload_range": list(search_range)}), "discovered_at": now}]
        return rows

    def _row(self, photo: dict, leaf: dict, query: str, search_range: tuple[int, int], now: datetime) -> dict:
        photo_id, owner = str(photo["id"]), str(photo["owner"])
        page_url = f"https://www.flickr.com/photos/{owner}/{photo_id}"
        title = _text(photo.get("title"))
        owner_name = _text(photo.get("realname")) or _text(photo.get("ownername")) or owner
        row = {"source_id": source_key(self.name, photo_id), "status": "ok", "error": "",
               "source_kind": self.name, "url": page_url, "page_url": page_url, "title": title,
               "owner": owner, "owner_name": owner_name, "tags": _text(photo.get("tags")).split(),
               "date_uploaded": _from_unix(photo.get("dateupload")), "date_taken": _date_taken(photo),
               "query": query, "discovered_at": now}
        metadata = {"media": photo.get("media"), "media_status": photo.get("media_status"),
                    "width": _int(photo.get("o_width")), "height": _int(photo.get("o_height")),
                    "duration": _int(photo.get("duration")), "path_alias": photo.get("pathalias") or None,
                    "date_taken_raw": photo.get("datetaken"),
                    "date_taken_granularity": _int(photo.get("datetakengranularity")),
                    "slice": {"min_upload": leaf["min_upload"], "max_upload": leaf["max_upload"],
                              "total": leaf["total"], "truncated": leaf["truncated"]},
                    "search_upload_range": list(search_range)}
        try:
            lic = flickr_license(photo.get("license"))
        except KeyError as error:
            return {**row, "status": "dropped", "error": error.args[0], "license_id": str(photo.get("license")),
                    "metadata": json.dumps(metadata, sort_keys=True)}
        metadata.update(flickr_license=lic.flickr_name, spdx=lic.spdx)
        row.update(license_id=lic.id, license_name=lic.name, license_url=lic.url,
                   attribution=f'"{title or "Untitled"}" by {owner_name} on Flickr, {lic.name}, {page_url}',
                   metadata=json.dumps(metadata, sort_keys=True))
        if photo.get("media") != "video":
            row.update(status="dropped", error=f"media is {photo.get('media')!r}, not 'video'")
        elif lic.id not in self.config.licenses:
            row.update(status="dropped", error=f"license {lic.id} ({lic.name}) is not in the configured "
                                               f"licenses {list(self.config.licenses)}")
        return row


def _text(value: Any) -> str:
    """A Flickr text field: a string, or ``{"_content": ...}`` in some answers."""
    if isinstance(value, dict):
        value = value.get("_content", "")
    return str(value or "").strip()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _from_unix(value: Any) -> datetime | None:
    seconds = _int(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def _date_taken(photo: dict) -> datetime | None:
    """Flickr's ``datetaken`` (camera time, no zone; read as UTC); None when Flickr marks it unknown."""
    raw = photo.get("datetaken")
    if not raw or str(photo.get("datetakenunknown", "0")) == "1" or str(raw).startswith("0000"):
        return None
    try:
        return datetime.strptime(str(raw), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
