"""How the agent lets Docker's events change the edge: bursts of events make one refresh,
and each app's route changes at most once every ROUTE_EVERY seconds. Every config Caddy
loads restarts its server, which (before Caddy 2.7) closes the WebSockets of every app:
a crash-looping app must not do that to the others every second."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from hostctl.adapters.caddy import Route
from hostctl.agent.events import event

COALESCE_SECONDS = 0.3  # events this close together make one refresh
ROUTE_EVERY = 10.0  # an app's route changes at most this often


@dataclass
class Pace:
    changed: float = float("-inf")  # when the agent last changed the app's route
    dropping: float | None = None  # since when the app's containers have been fewer
    held: bool = False  # a change is waiting (logged once)


class Governor:
    """Decides which route changes go to the edge now; the rest wait their turn."""

    def __init__(self) -> None:
        self.paces: dict[str, Pace] = {}

    def table(
        self, wanted: list[Route], served: dict[str, tuple[str, ...]], now: float
    ) -> tuple[list[Route], float | None]:
        """The routes to serve now (a held app keeps what Caddy serves), and when to look
        again for the held ones (None: nothing is held).

        A container at an address the app is not routed to yet (deployed elsewhere, back
        from a restart with another address) is routed at once, unless the app's route
        changed in the last ROUTE_EVERY seconds. An address whose container went away is
        dropped only after ROUTE_EVERY seconds: a restart policy mostly brings it back at
        the same address, and meanwhile Caddy retries the request (try_duration)."""
        result = []
        due: list[float] = []
        for route in wanted:
            if route.app not in served:  # new to the edge, or Caddy is down: no churn
                result.append(route)
                continue
            pace = self.paces.setdefault(route.app, Pace())
            loaded = served[route.app]
            if set(route.upstreams) == set(loaded):
                pace.dropping, pace.held = None, False
                result.append(route)
                continue
            ready = pace.changed + ROUTE_EVERY
            if set(route.upstreams) < set(loaded):
                pace.dropping = now if pace.dropping is None else pace.dropping
                ready = max(ready, pace.dropping + ROUTE_EVERY)
            if now >= ready:
                pace.changed, pace.dropping, pace.held = now, None, False
                result.append(route)
                continue
            if not pace.held:
                pace.held = True
                event(
                    "route-held",
                    logging.WARNING if pace.dropping is None else logging.INFO,
                    app=route.app,
                    serving=",".join(loaded) or "none",
                    wanted=",".join(route.upstreams) or "none",
                    seconds=round(ready - now, 1),
                )
            result.append(replace(route, upstreams=loaded))
            due.append(ready)
        for gone in self.paces.keys() - {r.app for r in wanted}:
            del self.paces[gone]
        return result, min(due, default=None)
