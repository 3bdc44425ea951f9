"""What the API doubles share: a quiet HTTP/1.1 handler that hands every verb to
``handle_call``, reads a request as (path without the API prefix, query, raw body) and
sends JSON; error answers (``Reply``); injected faults; and bearer-token authentication."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


class Reply(Exception):
    """An error answer: HTTP ``status`` with the API's ``code``/``errors`` and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        code: int = 0,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.errors = errors


@dataclass
class Fault:
    """The next ``times`` requests of ``method`` whose path matches fail with ``status``.

    ``delay`` seconds pass before the answer (a slow API). With ``applied`` the request is
    carried out first and the fault is the answer: a reply lost after the change was made.
    """

    method: str
    path: re.Pattern[str]
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    code: int = 0
    applied: bool = False
    delay: float = 0.0

    def reply(self) -> Reply:
        message = self.message or f"injected HTTP {self.status}"
        return Reply(self.status, message, self.headers, code=self.code)


def injected(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The fault this request meets: raised now, or returned to answer after the change."""
    for fault in faults:
        if fault.times > 0 and fault.method == method and fault.path.search(path):
            fault.times -= 1
            time.sleep(fault.delay)
            if not fault.applied:
                raise fault.reply()
            return fault
    return None


def authenticate(
    tokens: dict[str, frozenset[str]], header: str, refusal: Callable[[], Reply]
) -> frozenset[str]:
    """The permissions of the ``Authorization: Bearer`` token; ``refusal()`` if unknown."""
    token = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or token not in tokens:
        raise refusal()
    return tokens[token]


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one write: no Nagle delay on keep-alive
    content_type = "application/json"
    extra_headers: dict[str, str] = {}

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

    def send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        """``data`` as JSON (no body for 204), with the double's own headers."""
        payload = b"" if status == 204 else json.dumps(data).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in {**self.extra_headers, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


class Loopback:
    """A double's HTTP server on a free loopback port, served from a daemon thread; or on
    another address (one a container reaches), with TLS when given a server context."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    scheme = "http"

    def listen(
        self,
        handler: type[ApiHandler],
        address: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.server = ThreadingHTTPServer((address, 0), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        address, port = self.server.server_address[:2]
        return f"{self.scheme}://{address}:{port}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
