"""A static file server on 127.0.0.1 (ephemeral port), started and stopped by the code that needs it.
Files are served with byte ranges (``Range: bytes=N-`` / ``N-M``), so readers can resume.

    >>> with LocalFileServer("/tmp") as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
"""
from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class FileHandler(SimpleHTTPRequestHandler):
    """Static files with single byte ranges; directories and errors as the standard library serves them."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return super().do_GET()
        size = os.path.getsize(path)
        first, last = self.byte_range(size)
        if first is None:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(206 if self.headers.get("Range") else 200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Length", str(last + 1 - first))
        self.send_header("Accept-Ranges", "bytes")
        if self.headers.get("Range"):
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        with open(path, "rb") as stream:
            stream.seek(first)
            self.send_body(stream, last + 1 - first)
        return None

    def byte_range(self, size: int) -> tuple[int | None, int]:
        """(first, last) byte asked for; (None, 0) when the range cannot be served."""
        match = _RANGE.match(self.headers.get("Range") or "bytes=0-")
        if not match:
            return 0, size - 1  # a range form we do not serve: the whole file, as RFC 9110 allows
        first, last = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        return (first, last) if first < size or size == 0 else (None, 0)

    def send_body(self, stream, length: int) -> None:
        while length > 0 and (chunk := stream.read(min(length, 1 << 20))):
            self.wfile.write(chunk)
            length -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            return  # the client hung up mid-body (yt-dlp's first request does): not a server fault
        logging.getLogger(__name__).exception("error serving %s to %s", self.server_address, client_address)


class LocalFileServer:
    """Serves the files under ``root`` over HTTP on loopback, in a background thread."""

    handler = FileHandler

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalFileServer":
        if not self.root.is_dir():
            raise FileNotFoundError(f"cannot serve {self.root}: not a directory")
        handler = functools.partial(self.handler, directory=str(self.root))
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-file-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> "LocalFileServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
