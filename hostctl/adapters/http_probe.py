"""The health probe's HTTP: one GET to an app container, with one deadline for the whole
request (connect, headers, body) and at most a few KiB of the body read, so an app can
neither slow nor bloat hostctl. h11 parses; every read waits only for the time left."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

MAX_BODY = 4096  # enough to find an expected word on a health page
READ_SIZE = 4096


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # at most MAX_BODY bytes of the body, decoded leniently


class ProbeError(Exception):
    """The app did not answer (refused, reset, too slow, not HTTP); the message says how."""


@contextmanager
def health_probe(deadline_seconds: float = 5.0) -> Iterator[Callable[[str], Answer]]:
    """``probe(url)`` for the length of the block; each call has its own deadline."""
    yield lambda url: get(url, deadline_seconds)


def get(url: str, deadline_seconds: float) -> Answer:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ProbeError(f"not a probe URL: {url}")
    deadline = time.monotonic() + deadline_seconds

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"TimeoutError: no whole answer within {deadline_seconds:g}s")
        return remaining

    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=left()) as sock:
            return exchange(sock, parts.hostname, parts.path or "/", left)
    except ProbeError:
        raise
    except TimeoutError as exc:
        raise ProbeError(f"TimeoutError: no whole answer within {deadline_seconds:g}s") from exc
    except ConnectionRefusedError as exc:
        raise ProbeError("ConnectError: connection refused") from exc
    except (OSError, h11.ProtocolError) as exc:
        raise ProbeError(f"{type(exc).__name__}: {exc}") from exc


def exchange(sock: socket.socket, host: str, path: str, left: Callable[[], float]) -> Answer:
    connection = h11.Connection(h11.CLIENT)
    # identity: a compressed body could expand far beyond what was read
    headers = [("Host", host), ("Accept-Encoding", "identity"), ("Connection", "close")]
    request = h11.Request(method="GET", target=path, headers=headers)
    sock.sendall(connection.send(request) + connection.send(h11.EndOfMessage()))
    status, body = None, b""
    while len(body) < MAX_BODY:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            try:
                sock.settimeout(left())
                connection.receive_data(sock.recv(READ_SIZE))
            except (ProbeError, TimeoutError):
                if status is None:
                    raise
                break  # answered in time; the rest of a slow body is not waited for
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if status is None:
        raise ProbeError("RemoteProtocolError: the connection closed before an answer")
    return Answer(status, body[:MAX_BODY].decode(errors="replace"))
