"""The health probe's HTTP: one GET to an app container, with a deadline for the whole
request and at most a few KiB of the body read, so an app cannot slow or bloat hostctl."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

MAX_BODY = 4096  # enough to find an expected word on a health page


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # at most MAX_BODY bytes of the body, decoded leniently


class ProbeError(Exception):
    """The app did not answer (refused, reset, timed out); the message says how."""


@contextmanager
def health_probe(deadline_seconds: float = 5.0) -> Iterator[Callable[[str], Answer]]:
    """``get(url)`` for the length of the block, over one connection pool."""
    with httpx.Client(timeout=deadline_seconds) as client:
        yield lambda url: get(client, url, deadline_seconds)


def get(client: httpx.Client, url: str, deadline_seconds: float) -> Answer:
    deadline = time.monotonic() + deadline_seconds
    body = b""
    try:
        # identity: a compressed body could expand far beyond what was read
        headers = {"Accept-Encoding": "identity"}
        with client.stream("GET", url, headers=headers) as response:
            for chunk in response.iter_raw():  # each read as it comes
                body += chunk
                if len(body) >= MAX_BODY or time.monotonic() > deadline:
                    break
            return Answer(response.status_code, body[:MAX_BODY].decode(errors="replace"))
    except httpx.HTTPError as exc:
        raise ProbeError(type(exc).__name__) from exc
