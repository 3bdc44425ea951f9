"""Which of Docker's route changes the agent sends to the edge at once, and which wait."""

from __future__ import annotations

from hostctl.adapters.caddy import Route
from hostctl.agent.routing import ROUTE_EVERY, Governor


def route(*upstreams: str) -> list[Route]:
    return [Route("blog", ("blog.example.com",), upstreams)]


def served(*upstreams: str) -> dict[str, tuple[str, ...]]:
    return {"blog": upstreams}


def test_a_new_address_is_routed_at_once_and_the_next_change_waits_its_turn(caplog):
    governor = Governor()
    table, again = governor.table(route("10.0.0.3:5000"), served("10.0.0.2:5000"), 100.0)
    assert (table, again) == (route("10.0.0.3:5000"), None)
    table, again = governor.table(route("10.0.0.4:5000"), served("10.0.0.3:5000"), 103.0)
    assert (table, again) == (route("10.0.0.3:5000"), 100.0 + ROUTE_EVERY)
    assert "event=route-held app=blog" in caplog.text
    table, again = governor.table(route("10.0.0.4:5000"), served("10.0.0.3:5000"), 110.0)
    assert (table, again) == (route("10.0.0.4:5000"), None)


def test_a_gone_address_is_dropped_only_when_it_stays_gone():
    governor = Governor()
    table, again = governor.table(route(), served("10.0.0.2:5000"), 100.0)
    assert (table, again) == (route("10.0.0.2:5000"), 100.0 + ROUTE_EVERY)
    # back at the same address (a restart policy): nothing to change, the drop is forgotten
    assert governor.table(route("10.0.0.2:5000"), served("10.0.0.2:5000"), 101.0)[1] is None
    table, again = governor.table(route(), served("10.0.0.2:5000"), 105.0)
    assert (table, again) == (route("10.0.0.2:5000"), 105.0 + ROUTE_EVERY)
    assert governor.table(route(), served("10.0.0.2:5000"), 115.0) == (route(), None)


def test_an_app_new_to_the_edge_is_routed_at_once():
    assert Governor().table(route("10.0.0.2:5000"), {}, 100.0) == (route("10.0.0.2:5000"), None)
