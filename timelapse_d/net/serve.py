"""A static file server on 127.0.0.1 (ephemeral port), started and stopped by the code that needs it.

    >>> with LocalFileServer("/tmp") as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
"""
from __future__ import annotations

import functools
import logging
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            return  # the client hung up mid-body (yt-dlp's first request does): not a server fault
        logging.getLogger(__name__).exception("error serving %s to %s", self.server_address, client_address)


class LocalFileServer:
    """Serves the files under ``root`` over HTTP on loopback, in a background thread."""

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
        handler = functools.partial(_QuietHandler, directory=str(self.root))
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
