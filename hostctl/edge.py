"""The edge's owner: the route table (every app's hostnames and where they go, plus the
agent's webhook route), the edge lock, and "refresh the edge". Nothing else changes
Caddy's routes, so a route is never lost between two writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hostctl.adapters.caddy import Route
from hostctl.core.locks import file_lock
from hostctl.host import Host
from hostctl.hostnames import webhook_hostname
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import App

WEBHOOKS_ROUTE = "_webhooks"  # not an app name: those start with a letter


@contextmanager
def edge_locked(host: Host) -> Iterator[None]:
    """One writer of the route table at a time (CLI commands, deploys, the agent)."""
    with file_lock(host.settings.paths.lock("edge")):
        yield


def refresh_edge(host: Host) -> None:
    """Make Caddy serve the route table (starting it if it is down). Hold the edge lock."""
    host.caddy.ensure_running(routes(host))


def routes(host: Host) -> list[Route]:
    found = [Route(app.name, app.hostnames, upstream(host, app)) for app in host.store.apps()]
    hostname = webhook_hostname(host)
    if hostname:
        agent = host.settings.server.agent.listen[0]
        found.append(Route(WEBHOOKS_ROUTE, (hostname,), agent, path="/hooks/*"))
    return found


def upstream(host: Host, app: App) -> str | None:
    if app.current_release is None or app.web_container is None:
        return None
    release = host.store.release(app.name, app.current_release)
    state = host.docker.state(app.web_container, host.network)
    if release.spec is None or state is None or state.ip is None:
        return None
    return f"{state.ip}:{RuntimeSpec.from_json(release.spec).port}"
