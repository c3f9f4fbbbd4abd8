"""A fault-injecting HTTP proxy in front of Azurite's Table endpoint (not a test module).

The app reaches Azurite through it exactly as it would reach Table Storage (the real SDK, real HTTP);
the proxy forwards every request and logs it, and for requests matching a fault rule it drops the
connection without an answer, as a stopped Azurite does. `down = True` drops everything."""

from __future__ import annotations

import http.client
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from hybridnet_dev.azurite import Azurite, connection_string

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    remaining: int | None  # None: every matching request
    after: bool = False  # forward it first (Azurite acts on it), then drop the answer


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    status: int | None  # None: dropped by a fault


class TableProxy:
    def __init__(self, azurite: Azurite) -> None:
        self._azurite = azurite
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.down = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _drop(self) -> None:
                with proxy._lock:
                    proxy.requests.append(Seen(self.command, self.path, None))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault(self.command, self.path)
                if fault is not None and not fault.after:
                    self._drop()
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy._azurite.table_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                finally:
                    upstream.close()
                if fault is not None:  # Azurite acted on it; the answer is lost on the way back
                    self._drop()
                    return
                with proxy._lock:
                    proxy.requests.append(Seen(self.command, self.path, response.status))
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def connection_string(self) -> str:
        """Azurite's connection string with the Table endpoint through the proxy."""
        return connection_string(self._azurite.blob_port, self._azurite.queue_port, self.port)

    def drop(self, method: str, path: str, *, count: int | None = None, after: bool = False) -> None:
        """Drop requests with this method whose path matches the regular expression `path` (with
        `after`, once Azurite has acted on them: the answer is what is lost)."""
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path), count, after))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.down = False

    def dropped(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.status is None and r.method == method and re.search(path, r.path)
            ]

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if self.down:
                return Fault(method, re.compile(""), None)
            for fault in self._faults:
                if fault.method == method and fault.path.search(path) and fault.remaining != 0:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
            return None

    def __enter__(self) -> TableProxy:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
