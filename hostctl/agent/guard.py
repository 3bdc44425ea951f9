"""Slow clients must not hold the agent: uvicorn's HTTP/1.1 protocol (h11) with a
deadline for a request's headers and a cap on the connections one client address may
hold open. uvicorn has neither: 100 connections trickling headers filled its concurrency
limit, and every later request got 503. (The webhook handler has its own deadline for
the body; other routes never read one, and uvicorn's keep-alive timeout closes them.)"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hostctl.agent.events import event

HEADER_SECONDS = 5.0  # GitHub, Caddy and curl send their headers at once
CONNECTIONS_PER_CLIENT = 20
# Every delivery through the tunnel reaches the agent from the edge on this address: a cap
# on it would let 20 slow senders on the internet lock out GitHub. Its connections still
# get the header deadline (and the webhook handler's body deadline).
EDGE_ADDRESS = "127.0.0.1"
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\nContent-Length: 30\r\n\r\ntoo many connections from you\r\n"
)


def guarded_protocol() -> type[H11Protocol]:
    """A protocol class for one server: its connections share one count per client."""
    open_by_client: Counter[str] = Counter()

    class Guarded(H11Protocol):
        counted = False
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.peer = self.client[0] if self.client else ""
            if self.peer != EDGE_ADDRESS and open_by_client[self.peer] >= CONNECTIONS_PER_CLIENT:
                event("http-refused", logging.WARNING, client=self.peer, reason="connections")
                transport.write(REFUSED)
                transport.close()
                return
            open_by_client[self.peer] += 1
            self.counted = True
            self.arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            if self.counted:
                self.counted = False
                open_by_client[self.peer] -= 1
                if open_by_client[self.peer] <= 0:
                    del open_by_client[self.peer]
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in
                self.disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.arm()  # a kept-alive connection's next request

        def arm(self) -> None:
            self.disarm()
            self.deadline = self.loop.call_later(HEADER_SECONDS, self.too_slow)

        def disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def too_slow(self) -> None:
            self.deadline = None
            if not self.transport.is_closing():
                event("http-refused", logging.WARNING, client=self.peer, reason="slow headers")
                self.transport.close()

    return Guarded


def server_options() -> dict[str, Any]:
    """uvicorn.Config options for the guarded protocol."""
    return {"http": guarded_protocol()}
