"""The health probe's HTTP: one GET to an app container, with a deadline for the whole
request and at most a few KiB of the body read, so an app cannot slow or bloat hostctl."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

import httpx

MAX_BODY = 4096  # enough to find an expected word on a health page


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # at most MAX_BODY bytes of the body, decoded leniently


class ProbeError(Exception):
    """The app did not answer (refused, reset, timed out); the message says how."""


class HealthProbe:
    def __init__(self, deadline_seconds: float = 5.0) -> None:
        self.deadline_seconds = deadline_seconds
        self.client = httpx.Client(timeout=deadline_seconds)

    def __enter__(self) -> HealthProbe:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.client.close()

    def get(self, url: str) -> Answer:
        deadline = time.monotonic() + self.deadline_seconds
        body = b""
        try:
            # identity: a compressed body could expand far beyond what was read
            headers = {"Accept-Encoding": "identity"}
            with self.client.stream("GET", url, headers=headers) as response:
                for chunk in response.iter_raw():  # each read as it comes
                    body += chunk
                    if len(body) >= MAX_BODY or time.monotonic() > deadline:
                        break
                return Answer(response.status_code, body[:MAX_BODY].decode(errors="replace"))
        except httpx.HTTPError as exc:
            raise ProbeError(type(exc).__name__) from exc
