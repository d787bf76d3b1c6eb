"""A loopback file server that misbehaves on request: for the tests of pulling and streaming releases.

    with FaultyFileServer(directory) as server:
        server.fail("/demo/1.0.0/shards/train-000000.tar", "reset", "500")  # its next two GETs go wrong
        ...
        server.gets("/demo/1.0.0/shards/train-000000.tar")  # the Range header of every GET of it

Faults, one per GET of the path, in order: "500" (an error status), "reset" (half the body, then
a TCP reset), "truncate" (the full Content-Length announced, half the body sent, the connection
closed cleanly), "corrupt" (the whole body with one byte flipped).
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict, deque

from timelapse_d.net.serve import FileHandler, LocalFileServer


class _FaultyHandler(FileHandler):
    server_faults: "FaultyFileServer"

    def do_GET(self) -> None:
        faults = self.server_faults
        with faults.lock:
            faults.log[self.path].append(self.headers.get("Range"))
            self.fault = faults.pending[self.path].popleft() if faults.pending[self.path] else None
        if self.fault == "500":
            self.send_error(500, "injected fault")
            return None
        return super().do_GET()

    def send_body(self, stream, length: int) -> None:
        if self.fault is None:
            return super().send_body(stream, length)
        body = stream.read(length)
        if self.fault == "corrupt":
            self.wfile.write(body[:length // 2] + bytes([body[length // 2] ^ 0xFF]) + body[length // 2 + 1:])
            return None
        self.wfile.write(body[:length // 2])
        self.wfile.flush()
        time.sleep(0.2)  # the client reads what was sent (a reset discards what it has not read yet)
        if self.fault == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR) if self.fault == "truncate" else self.connection.close()
        return None


class FaultyFileServer(LocalFileServer):
    def __init__(self, root):
        super().__init__(root)
        self.lock = threading.Lock()
        self.pending: dict[str, deque] = defaultdict(deque)
        self.log: dict[str, list] = defaultdict(list)
        self.handler = type("Handler", (_FaultyHandler,), {"server_faults": self})

    def fail(self, path: str, *faults: str) -> None:
        with self.lock:
            self.pending[path].extend(faults)

    def gets(self, path: str) -> list:
        with self.lock:
            return list(self.log[path])
