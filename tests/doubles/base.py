"""What the API doubles share: a quiet HTTP/1.1 handler that hands every verb to
``handle_call`` and reads a request as (path without the API prefix, query, raw body)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one write: no Nagle delay on keep-alive

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_call("GET")

    def do_POST(self) -> None:
        self.handle_call("POST")

    def do_PUT(self) -> None:
        self.handle_call("PUT")

    def do_PATCH(self) -> None:
        self.handle_call("PATCH")

    def do_DELETE(self) -> None:
        self.handle_call("DELETE")

    def handle_call(self, method: str) -> None:
        raise NotImplementedError

    def read_call(self, prefix: str) -> tuple[str, dict[str, str], bytes]:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return split.path.removeprefix(prefix), query, raw


class Loopback:
    """A double's HTTP server on a free loopback port, served from a daemon thread."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    def listen(self, handler: type[ApiHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
