"""A local stand-in for Flickr's REST endpoint: ``flickr.photos.search`` over a generated catalogue.

Real HTTP on 127.0.0.1 (an ephemeral port, a ThreadingHTTPServer in a thread), answering the real
flickrapi package in Flickr's JSON shape (``format=json&nojsoncallback=1``)::

    {"photos": {"page": 1, "pages": 13, "perpage": 500, "total": 6350, "photo": [{...}, ...]}, "stat": "ok"}
    {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}

What it emulates:

- the search filters the flickr source uses: ``media`` (photos / videos / all), ``license`` (a comma
  list), ``min_upload_date`` / ``max_upload_date`` (unix seconds or MySQL datetimes, both
  inclusive, as Flickr documents them), ``tags`` with ``tag_mode`` any / all, ``text`` (title and
  tags), ``sort`` (date-posted-asc / -desc, default desc), ``per_page`` (default 100, at most 500),
  ``page``, and ``extras`` (only the requested extra fields are in the answer, named as Flickr
  names them: ``ownername``, ``dateupload``, ``o_width``, ``pathalias``...);
- the 4,000 cap: ``total`` and ``pages`` count every match, but only the first ``cap`` results can
  be paged to. A page that starts past the cap repeats the first page (one of the two behaviours
  reported for the real API; the other is an empty page): a client that pages past the cap gets
  duplicates and misses the rest;
- the credentials: the API key from the OAuth ``Authorization`` header (what flickrapi sends) or an
  ``api_key`` parameter; a missing or unknown key is ``stat: fail`` code 100, and an OAuth
  HMAC-SHA1 signature that does not verify with the secret is code 96;
- faults, injected per request: an HTTP status (500, 503, or 429 with ``Retry-After``), a
  ``stat: fail`` answer, a dropped connection, or a body that is not JSON; either for the next K
  requests (``inject``) or for every request after the first N (``fail_after``);
- a log of every request (``requests``: parameters without the OAuth ones, and what was answered),
  so that tests can count queries and check what was asked.

    with FlickrTestServer(make_catalogue(9000), api_key="k" * 32, api_secret="s" * 16) as server:
        ...  # FlickrConfig(rest_url=server.url, ...)
"""
from __future__ import annotations

import json
import math
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

FLICKR_ERRORS = {
    96: "Invalid signature",
    100: "Invalid API Key (Key has invalid format)",
    105: "Service currently unavailable",
    111: 'Format "{}" not found',
    112: 'Method "{}" not found',
}
EXTRA_FIELDS = {  # extras name -> the fields Flickr adds to each photo
    "license": ("license",),
    "owner_name": ("ownername",),
    "realname": ("realname",),
    "date_upload": ("dateupload",),
    "date_taken": ("datetaken", "datetakengranularity", "datetakenunknown"),
    "tags": ("tags",),
    "media": ("media", "media_status"),
    "o_dims": ("o_width", "o_height"),
    "path_alias": ("pathalias",),
}
BASE_FIELDS = ("id", "owner", "secret", "server", "farm", "title", "ispublic", "isfriend", "isfamily")
WORDS = ("clouds", "sunset", "harbour", "stars", "milky way", "traffic", "waterfall", "fog", "aurora",
         "city lights", "moonrise", "storm", "tide", "forest", "desert", "snow")


def make_catalogue(videos: int, photos: int = 0, years: int = 10, start: str = "2012-01-01",
                   seed: int = 0, licenses: tuple[str, ...] | None = None, burst: float = 0.15) -> list[dict]:
    """``videos`` videos and ``photos`` photos, uploads spread over ``years`` years: their density
    grows linearly with time, and a ``burst`` share of them falls within three days, so that
    slicing by upload date has dense and sparse regions. Licenses are drawn uniformly from
    ``licenses`` (default all of 0-16). 90% carry the tag ``timelapse``, the rest ``time-lapse``."""
    rng = random.Random(seed)
    t0 = int(datetime.fromisoformat(start).replace(tzinfo=timezone.utc).timestamp())
    span = int(years * 365.25 * 86400)
    burst_at = t0 + int(0.7 * span)
    licenses = licenses or tuple(str(i) for i in range(17))
    owners = [(f"{10000000 + 7919 * i}@N0{i % 9}", f"user{i:03d}", f"Photographer {i:03d}" if i % 3 else "")
              for i in range(60)]
    catalogue = []
    for index in range(videos + photos):
        uploaded = (burst_at + rng.randrange(3 * 86400) if rng.random() < burst
                    else t0 + int(span * math.sqrt(rng.random())))
        nsid, username, realname = owners[rng.randrange(len(owners))]
        taken = uploaded - rng.randrange(30 * 86400)
        width, height = rng.choice(((1280, 720), (1920, 1080), (640, 360), (3840, 2160)))
        catalogue.append({
            "id": str(5_000_000_000 + index * 37 + rng.randrange(37)), "owner": nsid,
            "secret": f"{rng.getrandbits(40):010x}", "server": str(1000 + rng.randrange(9000)), "farm": 66,
            "title": f"{rng.choice(WORDS).title()} time-lapse #{index}" if rng.random() > 0.05 else "",
            "ispublic": 1, "isfriend": 0, "isfamily": 0,
            "license": rng.choice(licenses), "ownername": username, "realname": realname,
            "dateupload": str(uploaded),
            "datetaken": datetime.fromtimestamp(taken, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "datetakengranularity": 0, "datetakenunknown": "1" if rng.random() < 0.02 else "0",
            "tags": " ".join(["timelapse" if rng.random() < 0.9 else "time-lapse",
                              *rng.sample(["sky", "clouds", "night", "city", "sea", "nature"], 2)]),
            "media": "video" if index < videos else "photo", "media_status": "ready",
            "o_width": str(width), "o_height": str(height), "pathalias": username if rng.random() < 0.5 else "",
        })
    rng.shuffle(catalogue)
    return catalogue


@dataclass(frozen=True)
class Fault:
    """What to answer instead of the search: ``kind`` is "http" (``status``, with ``retry_after``
    when set; ``echo_auth`` puts the request's Authorization header in the body), "stat" (a
    ``stat: fail`` answer with ``code``), "drop" (close the connection) or "garbage" (a 200 whose
    body is not JSON)."""
    kind: str
    status: int = 500
    retry_after: str | None = None
    code: int = 105
    echo_auth: bool = False


def matches(photo: dict, params: dict) -> bool:
    media = params.get("media", "all")
    if media in ("photos", "videos") and photo["media"] != media[:-1]:
        return False
    if params.get("license") and photo["license"] not in params["license"].split(","):
        return False
    tags = [tag.strip().lower() for tag in params.get("tags", "").split(",") if tag.strip()]
    if tags:
        have = set(photo["tags"].split())
        found = [tag in have for tag in tags]
        if not (all(found) if params.get("tag_mode") == "all" else any(found)):
            return False
    text = params.get("text", "").strip().lower()
    return not text or text in photo["title"].lower() or text in photo["tags"]


def _timestamp(value: str) -> int:
    """Flickr takes unix seconds or a MySQL datetime (read as UTC)."""
    if value.strip().isdigit():
        return int(value)
    text = value.strip() if len(value.strip()) > 10 else value.strip() + " 00:00:00"
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


class FlickrTestServer:
    def __init__(self, catalogue: list[dict], api_key: str, api_secret: str, cap: int = 4000,
                 ignore_license_filter: bool = False, delay: float = 0.0):
        self.catalogue = sorted(catalogue, key=lambda photo: (int(photo["dateupload"]), photo["id"]))
        self.api_key, self.api_secret, self.cap = api_key, api_secret, cap
        self.ignore_license_filter = ignore_license_filter  # to emulate an answer that breaks the filter
        self.delay = delay  # seconds before each answer
        self.requests: list[dict] = []
        self._faults: deque[Fault] = deque()
        self._fail_after: tuple[int, Fault] | None = None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/services/rest/"

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault``."""
        with self._lock:
            self._faults.extend([fault] * times)

    def fail_after(self, count: int | None, fault: Fault = Fault("http", 500)) -> None:
        """Answer every request after the first ``count`` ones (counted from now) with ``fault``;
        None heals the server."""
        with self._lock:
            self._fail_after = None if count is None else (len(self.requests) + count, fault)

    def searches(self) -> list[dict]:
        """The logged requests that were answered with search results."""
        return [entry for entry in self.requests if entry["answer"] == "ok"]

    def expected(self, **params: str) -> list[dict]:
        """The catalogue entries a search with these parameters should find (no cap), in upload order."""
        return self._matching(params)

    def __enter__(self) -> "FlickrTestServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stalls)

            def do_GET(self) -> None:
                server._handle(self, "GET", b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server._handle(self, "POST", body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- answering -------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        split = urlsplit(handler.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        if method == "POST":
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        with self._lock:
            number = len(self.requests) + 1
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._fail_after is not None and number > self._fail_after[0]:
                fault = self._fail_after[1]
            entry = {"number": number, "params": {k: v for k, v in params.items() if not k.startswith("oauth_")}}
            self.requests.append(entry)
        if self.delay:
            time.sleep(self.delay)
        if fault is not None:
            entry["answer"] = f"fault {fault.kind} {fault.status if fault.kind == 'http' else fault.code}"
            return self._fault(handler, fault)
        error = self._check_request(handler, method, split.path, body, params)
        if error is not None:
            entry["answer"] = f"stat fail {error[0]}"
            return self._send(handler, 200, {"stat": "fail", "code": error[0], "message": error[1]})
        photos = self._search(params)
        entry.update(answer="ok", total=photos["total"], page=photos["page"], returned=len(photos["photo"]))
        self._send(handler, 200, {"photos": photos, "stat": "ok"})

    def _check_request(self, handler: BaseHTTPRequestHandler, method: str, path: str, body: bytes,
                       params: dict) -> tuple[int, str] | None:
        auth = handler.headers.get("Authorization", "")
        oauth = _oauth_params(auth)
        key = params.get("api_key") or oauth.get("oauth_consumer_key", "")
        if not key:
            return 100, FLICKR_ERRORS[100]
        if key != self.api_key:
            return 100, "Invalid API Key (Key not found)"
        if oauth and not self._signature_ok(handler, method, path, body, auth):
            return 96, FLICKR_ERRORS[96]
        if params.get("method") != "flickr.photos.search":
            return 112, FLICKR_ERRORS[112].format(params.get("method", ""))
        if params.get("format") != "json":
            return 111, FLICKR_ERRORS[111].format(params.get("format", ""))
        return None

    def _signature_ok(self, handler: BaseHTTPRequestHandler, method: str, path: str, body: bytes,
                      auth: str) -> bool:
        from oauthlib.oauth1.rfc5849 import signature

        query = urlsplit(handler.path).query
        collected = signature.collect_parameters(uri_query=query, body=body.decode(),
                                                 headers={"Authorization": auth}, exclude_oauth_signature=True)
        base = signature.signature_base_string(
            method, signature.base_string_uri(f"http://{handler.headers['Host']}{path}"),
            signature.normalize_parameters(collected))
        client = SimpleNamespace(client_secret=self.api_secret, resource_owner_secret=None)
        return signature.sign_hmac_sha1_with_client(base, client) == _oauth_params(auth).get("oauth_signature")

    def _matching(self, params: dict) -> list[dict]:
        lo = _timestamp(params["min_upload_date"]) if params.get("min_upload_date") else None
        hi = _timestamp(params["max_upload_date"]) if params.get("max_upload_date") else None
        return [photo for photo in self.catalogue
                if (lo is None or int(photo["dateupload"]) >= lo) and (hi is None or int(photo["dateupload"]) <= hi)
                and matches(photo, params)]

    def _search(self, params: dict) -> dict:
        filters = dict(params)
        if self.ignore_license_filter:
            filters.pop("license", None)
        found = self._matching(filters)
        if params.get("sort", "date-posted-desc") == "date-posted-desc":
            found.reverse()
        per_page = min(max(int(params.get("per_page") or 100), 1), 500)
        page = max(int(params.get("page") or 1), 1)
        start = (page - 1) * per_page
        if start >= self.cap:
            start = 0  # past the cap: the first page again
        window = found[start:min(start + per_page, self.cap)]
        extras = [extra.strip() for extra in params.get("extras", "").split(",") if extra.strip()]
        fields = BASE_FIELDS + tuple(field for extra in extras for field in EXTRA_FIELDS.get(extra, ()))
        return {"page": page, "pages": math.ceil(len(found) / per_page), "perpage": per_page,
                "total": len(found), "photo": [{field: photo[field] for field in fields} for photo in window]}

    def _fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.kind == "drop":
            handler.close_connection = True
            handler.connection.close()
        elif fault.kind == "stat":
            self._send(handler, 200, {"stat": "fail", "code": fault.code,
                                      "message": FLICKR_ERRORS.get(fault.code, "Unknown error")})
        elif fault.kind == "garbage":
            self._send_bytes(handler, 200, b"<html>Gateway says hello</html>", "text/html")
        else:
            body = handler.headers.get("Authorization", "") if fault.echo_auth else "Internal error"
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send_bytes(handler, fault.status, f"<html>{body}</html>".encode(), "text/html", headers)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, obj: dict) -> None:
        self._send_bytes(handler, status, json.dumps(obj).encode(), "application/json")

    @staticmethod
    def _send_bytes(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str,
                    headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):  # a killed client is expected
            super().handle_error(request, client_address)


def _oauth_params(auth: str) -> dict[str, str]:
    if not auth.startswith("OAuth "):
        return {}
    from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape

    return {name: unescape(value) for name, value in parse_authorization_header(auth)}
