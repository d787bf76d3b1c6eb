"""A fault-injecting HTTP file server on 127.0.0.1 for download tests and benchmarks.

    >>> with FaultServer({"clip.mp4": b"..."}) as server:
    ...     url = f"{server.url}/flaky500/a/clip.mp4"  # 500 once, then the file

The first path segment picks a behaviour, the last names the served file; segments between them
only make distinct paths (faults that happen once are counted per path, over GET and HEAD alike):

| behaviour     | response |
|---------------|----------|
| `ok`          | the file, `video/mp4`, with its Content-Length |
| `slow`        | waits `slow_seconds` before answering, then the file |
| `status500`   | always 500 |
| `flaky500`    | 500 for the first request of the path, then the file |
| `status429`   | 429 with `Retry-After: <retry_after>` (or the query's `?retry_after=N`) once, then the file |
| `status429dl` | the file for the first request (yt-dlp's extractor probe), 429 for the second, then the file |
| `reset`       | headers and half of the body, then a TCP reset (SO_LINGER 0) |
| `stall`       | headers and 1 KiB of body, then silence for `stall_seconds` (cut short by `stop()`) |
| `short`       | a Content-Length larger than what is sent: two thirds of the body, then the connection closes |
| `html`        | 200, `text/html`, a web page |
| `htmlmp4`     | the same web page, labelled `video/mp4` |
| `truncated`   | the first `truncate_fraction` of the file, served as complete (matching Content-Length) |
| `tofile`      | 302 to `file:///etc/passwd`: a redirect that leaves http(s) |
| `toftp`       | 302 to `ftp://127.0.0.1/clip.mp4`: another scheme |
| `toloopback`  | 302 to the same file on this server's port at 127.0.0.2 (another loopback address) |
| `tometadata`  | 302 to `http://169.254.169.254/latest/meta-data/` (the cloud metadata address) |

Every request is recorded (method, path, the name in its Host header, start and end times);
``max_in_flight(prefix, host)`` is the most of those requests the server was handling at once.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEHAVIOURS = ("ok", "slow", "status500", "flaky500", "status429", "status429dl", "reset", "stall", "short",
              "html", "htmlmp4", "truncated", "tofile", "toftp", "toloopback", "tometadata")
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sorry</title></head><body><p>This video is private.</p></body></html>"


@dataclass
class Request:
    method: str
    path: str
    host: str  # the name in the request's Host header, port dropped
    start: float  # time.monotonic()
    end: float | None  # None while being handled


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        fault = self.server.fault
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        record = fault._begin(self.command, self.path, host)
        try:
            self._respond(fault, body)
        except (ConnectionError, TimeoutError):
            pass  # the client hung up (yt-dlp's extractor reads headers only): not a server fault
        finally:
            fault._end(record)

    def _respond(self, fault: "FaultServer", body: bool) -> None:
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        options = dict(item.partition("=")[::2] for item in query.split("&") if item)
        behaviour, name = parts[0], parts[-1]
        if behaviour not in BEHAVIOURS or len(parts) < 2 or name not in fault.files:
            return self._send(404, b"not found", "text/plain", body)
        data = fault.files[name]
        count = fault._count(self.path)  # requests of this path so far, this one included
        if behaviour == "slow":
            fault._stop.wait(fault.slow_seconds)
        if behaviour == "status500" or (behaviour == "flaky500" and count == 1):
            return self._send(500, b"internal server error", "text/plain", body)
        if (behaviour == "status429" and count == 1) or (behaviour == "status429dl" and count == 2):
            return self._send(429, b"too many requests", "text/plain", body,
                              {"Retry-After": options.get("retry_after", str(fault.retry_after))})
        redirects = {"tofile": "file:///etc/passwd", "toftp": f"ftp://127.0.0.1/{name}",
                     "toloopback": f"http://127.0.0.2:{self.server.server_address[1]}/ok/{'/'.join(parts[1:])}",
                     "tometadata": "http://169.254.169.254/latest/meta-data/"}
        if behaviour in redirects:
            return self._send(302, b"", "text/plain", body, {"Location": redirects[behaviour]})
        if behaviour == "html":
            return self._send(200, HTML_PAGE, "text/html; charset=utf-8", body)
        if behaviour == "htmlmp4":
            return self._send(200, HTML_PAGE, "video/mp4", body)
        if behaviour == "truncated":
            return self._send(200, data[: int(len(data) * fault.truncate_fraction)], "video/mp4", body)
        if behaviour in ("reset", "stall", "short"):
            declared = len(data) + (4096 if behaviour == "short" else 0)
            self._headers(200, "video/mp4", declared, {"Connection": "close"})
            if not body:
                return
            if behaviour == "reset":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                # SO_LINGER on, 0 s: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif behaviour == "stall":
                self.wfile.write(data[:1024])
                self.wfile.flush()
                fault._stop.wait(fault.stall_seconds)
            else:
                self.wfile.write(data[: 2 * len(data) // 3])
                self.wfile.flush()
            self.close_connection = True
            return
        return self._send(200, data, "video/mp4", body)

    def _headers(self, status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, status: int, payload: bytes, content_type: str, body: bool,
              extra: dict[str, str] | None = None) -> None:
        self._headers(status, content_type, len(payload), extra)
        if body:
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fault: "FaultServer"

    def handle_error(self, request: object, client_address: tuple) -> None:
        pass  # resets and hang-ups are what this server is for


class FaultServer:
    """Serves ``files`` (name -> bytes) with injected faults on 127.0.0.1 (ephemeral port), in a thread."""

    def __init__(self, files: dict[str, bytes], retry_after: int = 1, stall_seconds: float = 10.0,
                 slow_seconds: float = 0.25, truncate_fraction: float = 0.6):
        self.files = dict(files)
        self.retry_after, self.stall_seconds = retry_after, stall_seconds
        self.slow_seconds, self.truncate_fraction = slow_seconds, truncate_fraction
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counts: dict[str, int] = {}
        self.requests: list[Request] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def max_in_flight(self, prefix: str = "/", host: str | None = None) -> int:
        """The most requests whose path starts with ``prefix`` (and from ``host``) handled at once."""
        with self._lock:
            chosen = [r for r in self.requests if r.path.startswith(prefix) and host in (None, r.host)]
        events = sorted([(r.start, 1) for r in chosen] + [(r.end or float("inf"), -1) for r in chosen])
        most = now = 0
        for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
            now += step
            most = max(most, now)
        return most

    def _count(self, path: str) -> int:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            return self._counts[path]

    def _begin(self, method: str, path: str, host: str) -> Request:
        record = Request(method, path, host, time.monotonic(), None)
        with self._lock:
            self.requests.append(record)
        return record

    def _end(self, record: Request) -> None:
        record.end = time.monotonic()

    def start(self) -> "FaultServer":
        self._stop.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fault = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stop.set()  # wakes stalled and slow handlers
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
