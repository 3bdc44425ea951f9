"""The edge's owner: the route table (every app's hostnames and where they go, plus the
agent's webhook route), where Caddy listens, the edge lock, and "refresh the edge".
Nothing else changes Caddy's routes, so a route is never lost between two writers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hostctl.adapters.caddy import ALL_INTERFACES, NO_RELEASE, NO_WEB, Route
from hostctl.core.errors import HostctlError
from hostctl.core.locks import file_lock
from hostctl.credentials.cloudflare import load_connection
from hostctl.host import Host
from hostctl.hostnames import webhook_hostname
from hostctl.server_config import EDGE_EVERYWHERE, EDGE_TUNNEL
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import App

WEBHOOKS_ROUTE = "_webhooks"  # not an app name: those start with a letter
LOOPBACK = "127.0.0.1"


@contextmanager
def edge_locked(host: Host) -> Iterator[None]:
    """One writer of the route table at a time (CLI commands, deploys, the agent)."""
    with file_lock(host.settings.paths.lock("edge")):
        yield


def refresh_edge(host: Host, table: list[Route] | None = None) -> None:
    """Make Caddy serve the route table, or ``table`` (starting it if it is down). Hold the
    edge lock. Caddy is sent a config only when it differs from the one it serves: each
    load restarts its server, which closes every app's WebSockets before Caddy 2.7."""
    host.caddy.ensure_running(routes(host) if table is None else table, listen_addresses(host))


def routed(host: Host) -> dict[str, tuple[str, ...]]:
    """Each app's addresses as the edge serves them now; none while Caddy is down."""
    return host.caddy.routed() if host.caddy.running() else {}


def routes(host: Host) -> list[Route]:
    """The webhook route first, so no app's hostname can take the agent's deliveries."""
    found = []
    hostname = webhook_hostname(host)
    if hostname:
        agent = host.settings.server.agent.listen[0]
        found.append(Route(WEBHOOKS_ROUTE, (hostname,), (agent,), path="/hooks/*"))
    found += [
        Route(app.name, app.hostnames, upstreams(host, app), idle=idle(app))
        for app in host.store.apps()
    ]
    return found


def listen_addresses(host: Host) -> tuple[str, ...]:
    """Where Caddy listens: `edge/listen` in hostctl.yml; else, with a tunnel connected,
    loopback and the address cloudflared reaches the host on only (so nothing reaches
    the apps by the box's public IP, around Cloudflare); else every interface."""
    wanted = host.settings.server.edge.listen
    if wanted is None:
        connected = load_connection(host.settings) is not None
        wanted = (LOOPBACK, EDGE_TUNNEL) if connected else (EDGE_EVERYWHERE,)
    found = [
        tunnel_address(host) if a == EDGE_TUNNEL else ALL_INTERFACES if a == EDGE_EVERYWHERE else a
        for a in wanted
    ]
    return tuple(dict.fromkeys(found))


def shared_network_needed(host: Host) -> bool:
    """Whether hostctl's own network is in use: cloudflared runs on it, and the edge may
    listen on its gateway. Apps have networks of their own."""
    connected = load_connection(host.settings) is not None
    wanted = host.settings.server.edge.listen or ()
    return connected or EDGE_TUNNEL in wanted


def tunnel_address(host: Host) -> str:
    """The host's address on hostctl's network: cloudflared, a container on it, reaches
    the edge there (as host.docker.internal)."""
    host.docker.ensure_network(host.network, host.labels())
    gateway = host.docker.network_gateway(host.network)
    if gateway is None:
        raise HostctlError(
            f"the Docker network {host.network} has no gateway address for the edge to listen on",
            f"see `docker network inspect {host.network}`; or set edge/listen in "
            f"{host.settings.paths.server_config}",
        )
    return gateway


def idle(app: App) -> str:
    return NO_WEB if app.current_release is not None else NO_RELEASE


def upstreams(host: Host, app: App) -> tuple[str, ...]:
    """The addresses of the app's serving web containers that are up."""
    if app.current_release is None or not app.serving:
        return ()
    release = host.store.release(app.name, app.current_release)
    if release.spec is None:
        return ()
    port = RuntimeSpec.from_json(release.spec).port
    found = []
    for name in app.serving:
        state = host.docker.state(name, host.app_network(app.name))
        if state is not None and state.ip is not None:
            found.append(f"{state.ip}:{port}")
    return tuple(found)


def switch_route(host: Host, app: str, addresses: list[str]) -> list[str]:
    """Send the app's hostnames to ``addresses`` in one change (hold the edge lock);
    returns the addresses it served before, parked to drain."""
    return host.caddy.switch(app, addresses)


def in_flight(host: Host, address: str) -> int:
    """Requests the edge still has in flight to ``address``."""
    return host.caddy.in_flight(address)
