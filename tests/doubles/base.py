"""What the API doubles share: a quiet HTTP/1.1 handler that hands every verb to
``handle_call`` and reads a request as (path without the API prefix, query, raw body)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any
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
