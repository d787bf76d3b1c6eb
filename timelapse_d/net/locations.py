"""Reading a file wherever it is: a local path, ``http(s)://`` (resumable, retried) or any fsspec URL
(``file://``, ``s3://``, ``gs://``, ... with the user's installed backend).

Releases are read through these: ``release pull`` and ``verify`` of a published release, and
training that streams its shards. Over HTTP a dropped connection, a truncated body or a 5xx / 429
answer is retried with a ``Range`` request from the byte reached (or, from a server that ignores
ranges, by skipping what was read), so a long stream survives a reset mid-shard.

    >>> is_url("https://example.org/r/1.0.0"), is_url("manifests/demo/1.0.0"), is_url("/data/x.tar")
    (True, False, False)
    >>> join("https://example.org/r/1.0.0/", "shards", "train-000000.tar")
    'https://example.org/r/1.0.0/shards/train-000000.tar'
    >>> join("manifests/demo/1.0.0", "release.json")
    'manifests/demo/1.0.0/release.json'
"""
from __future__ import annotations

import hashlib
import io
import re
import time
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3

from .retry_after import retry_after_seconds

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
ATTEMPTS = 5  # tries per stretch of a file over HTTP (a try that makes progress does not count)
TIMEOUT_S = 30.0
_RETRIED_STATUS = {408, 425, 429, 500, 502, 503, 504}
_BROKEN = (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


class LocationError(OSError):
    """A file that cannot be read at its location; the message names it and why."""


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and bool(_SCHEME.match(location))


def join(base: str | Path, *parts: str) -> str:
    if is_url(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return str(Path(base, *parts))


def open_read(location: str | Path) -> BinaryIO:
    """A binary stream of the file at ``location``. Raises FileNotFoundError if it is not there."""
    if is_url(location) and location.split("://", 1)[0].lower() in ("http", "https"):
        return io.BufferedReader(HttpReader(location), buffer_size=1 << 20)
    if is_url(location):
        import fsspec

        try:
            return fsspec.open(location, "rb").open()
        except (ImportError, ValueError) as error:  # no backend installed for the scheme
            raise LocationError(f"cannot open {location}: {error}") from None
    return open(location, "rb")


def read_bytes(location: str | Path) -> bytes:
    with open_read(location) as stream:
        return stream.read()


class HttpReader(io.RawIOBase):
    """A GET of ``url`` read as a stream, resumed with ``Range: bytes=N-`` after a broken connection,
    a short body or a retryable status. ``attempts`` tries per stretch without progress."""

    def __init__(self, url: str, attempts: int = ATTEMPTS, timeout_s: float = TIMEOUT_S):
        self.url, self.attempts, self.timeout_s = url, attempts, timeout_s
        self.position, self.length = 0, None  # bytes delivered; the whole file's size once known
        self._session = requests.Session()
        self._response = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        failures = 0
        while True:
            if self.length is not None and self.position >= self.length:
                return 0
            try:
                if self._response is None:
                    self._connect()
                    if self.length is not None and self.position >= self.length:
                        return 0
                chunk = self._response.raw.read1(len(buffer), decode_content=False)  # what has arrived
            except _BROKEN as error:
                chunk, why = b"", f"{type(error).__name__}: {error}"
            else:
                why = f"the body ended at byte {self.position} of {self.length}"
            if chunk:
                buffer[:len(chunk)] = chunk
                self.position += len(chunk)
                return len(chunk)
            if self.length is None and why.startswith("the body ended"):  # no length was given: this is the end
                return 0
            failures += 1
            self._drop()
            if failures >= self.attempts:
                raise LocationError(f"{self.url}: gave up after {failures} tries at byte {self.position}: {why}")
            time.sleep(min(0.2 * 2 ** failures, 5.0))

    def _connect(self) -> None:
        """Open the GET at ``position`` (retrying statuses the server may recover from)."""
        for attempt in range(self.attempts):
            headers = {"Accept-Encoding": "identity"}  # bytes as stored: sha256 and Range offsets hold
            if self.position:
                headers["Range"] = f"bytes={self.position}-"
            response = self._session.get(self.url, headers=headers, stream=True, timeout=self.timeout_s)
            if response.status_code == 404:
                response.close()
                raise FileNotFoundError(f"{self.url}: not found (HTTP 404)")
            if response.status_code == 416 and self.position and self.length in (None, self.position):
                response.close()  # nothing past the end
                self.length = self.position
                return
            if response.status_code in _RETRIED_STATUS and attempt + 1 < self.attempts:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                response.close()
                time.sleep(min(wait if wait is not None else 0.2 * 2 ** attempt, 30.0))
                continue
            if response.status_code not in (200, 206):
                response.close()
                raise LocationError(f"{self.url}: HTTP {response.status_code} {response.reason}")
            self._response = response
            self._set_length(response)
            return
        raise AssertionError("unreachable")

    def _set_length(self, response) -> None:
        if response.status_code == 206:
            span, _, total = response.headers.get("Content-Range", "").rpartition("/")
            if not span.startswith(f"bytes {self.position}-"):
                raise LocationError(f"{self.url}: asked for bytes from {self.position}, the server sent {span!r}")
            self.length = int(total) if total.isdigit() else self.length
            return
        size = response.headers.get("Content-Length")
        self.length = int(size) if size and size.isdigit() else None
        skip = self.position  # a server that ignores Range sends the file from its start
        while skip:
            dropped = response.raw.read(min(skip, 1 << 20), decode_content=False)
            if not dropped:
                raise requests.ConnectionError(f"the body ended while skipping to byte {self.position}")
            skip -= len(dropped)

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._drop()
        self._session.close()
        super().close()


def size_and_sha256(location: str | Path, on_bytes=None) -> tuple[int, str]:
    """Stream the file once: its size and sha256 (``on_bytes(n)`` after each chunk, for a progress bar)."""
    digest, size = hashlib.sha256(), 0
    with open_read(location) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return size, digest.hexdigest()
