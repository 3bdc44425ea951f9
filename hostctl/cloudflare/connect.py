"""`hostctl cloudflare connect` and `status`: the zone, the box's tunnel and its connector.

The connector is cloudflared in a container on hostctl's private network, with the
tunnel's token in its environment (never in argv, where `ps` would show it). Caddy runs on
the host, so cloudflared reaches it as ``host.docker.internal``, mapped to the host's
address on that network, where the edge listens while a tunnel is connected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hostctl.adapters.cloudflare import ZONE_READ, CloudflareAPI, Tunnel, Zone
from hostctl.adapters.docker import ContainerSpec
from hostctl.adapters.system import hostname
from hostctl.cloudflare.sync import EDGE_HOST, SyncReport, api_for, edge_service, sync
from hostctl.core import labels
from hostctl.core.errors import HostctlError
from hostctl.core.names import check_hostname
from hostctl.credentials.cloudflare import Connection, load_connection, load_state, save_connection
from hostctl.edge import edge_locked, refresh_edge, tunnel_address
from hostctl.host import Host

IMAGE = "cloudflare/cloudflared:2024.12.2"
COMMAND = ["tunnel", "--no-autoupdate", "run"]


@dataclass
class ConnectResult:
    zone: str
    account_id: str
    tunnel: Tunnel
    tunnel_created: bool
    connector: str
    warnings: list[str] = field(default_factory=list)
    sync: SyncReport | None = None


def tunnel_name(host: Host) -> str:
    return f"hostctl-{host.settings.namespace}-{hostname()}"


# What is asked ("account" or "zone"), the question, the options as (ID, label); the ID
# picked.
Choose = Callable[[str, str, list[tuple[str, str]]], str]
ACCOUNT_NAMES = "--cloudflare-account or HOSTCTL_CLOUDFLARE_ACCOUNT"
ZONE_NAMES = "--cloudflare-zone or HOSTCTL_CLOUDFLARE_ZONE"


@dataclass(frozen=True)
class ZonePick:
    """Which zone, when the token sees the domain's zone more than once: the account (its
    ID or name) and the zone (its ID) given, else asked through ``choose`` (None: nobody
    to ask, and an ambiguity is an error naming the option)."""

    account: str | None = None
    zone: str | None = None
    choose: Choose | None = None


def connect(host: Host, token: str, domain: str, pick: ZonePick | None = None) -> ConnectResult:
    """Find the zone, create or reuse the tunnel, start cloudflared, sync. Idempotent."""
    domain = check_hostname(domain)
    token = token.strip()
    if not token:
        raise HostctlError("the API token is empty", "pass --token TOKEN")
    api = CloudflareAPI(token)
    api.verify_token()
    zones = api.find_zones(domain)
    if not zones:
        raise HostctlError(
            f"{domain} is not a zone in any Cloudflare account this token can see",
            "add the domain to your Cloudflare account, or give the token the permission "
            f"{ZONE_READ} on it (Zone Resources: include the zone)",
        )
    zone = pick_zone(domain, zones, pick or ZonePick())
    previous = load_connection(host.settings)
    tunnel = None
    if previous is not None and previous.account_id == zone.account_id:
        tunnel = api.tunnel(zone.account_id, previous.tunnel_id)
    name = previous.tunnel_name if previous and tunnel else tunnel_name(host)
    tunnel = tunnel or api.find_tunnel(zone.account_id, name)
    created = tunnel is None
    if tunnel is None:
        tunnel = api.create_tunnel(zone.account_id, name)
    connector_token = api.tunnel_token(zone.account_id, tunnel.id)
    connection = Connection(
        token=token,
        account_id=zone.account_id,
        zone_id=zone.id,
        zone=zone.name,
        domain=domain,
        tunnel_id=tunnel.id,
        tunnel_name=tunnel.name or name,
        api_url=api.base_url,
    )
    save_connection(host.settings, connection)
    host.store.audit("cloudflare:connect", None, f"zone {zone.name}, tunnel {tunnel.id}")
    with edge_locked(host):
        refresh_edge(host)  # from now on the edge listens where the tunnel reaches it only
    warnings: list[str] = []
    if host.settings.server.domain not in ("localhost", domain, zone.name):
        warnings.append(
            f"new apps get the default hostname APP.{host.settings.server.domain}, which is "
            f"not in {zone.name}: set `domain: {domain}` in {host.settings.etc}/hostctl.yml"
        )
    spec = connector_spec(host, connector_token, tunnel.id, tunnel_address(host))
    status = ensure_connector(host, spec, warnings)
    report = sync(host)
    return ConnectResult(zone.name, zone.account_id, tunnel, created, status, warnings, report)


def pick_zone(domain: str, zones: list[Zone], pick: ZonePick) -> Zone:
    """The account first (a tunnel lives in the zone's account), then the zone; a
    question only where more than one is left."""
    if pick.account:
        zones = given(zones, pick.account, "account")
    accounts = list(dict.fromkeys((z.account_id, shown_as(z, "account")) for z in zones))
    if len(accounts) > 1:
        question = f"The token sees {domain}'s zone in {len(accounts)} Cloudflare accounts"
        zones = given(zones, choose(pick, "account", question, accounts), "account")
    if pick.zone:
        zones = given(zones, pick.zone, "zone")
    if len(zones) > 1:
        options = [(z.id, shown_as(z, "zone")) for z in zones]
        zones = given(
            zones, choose(pick, "zone", f"{domain} matches {len(zones)} zones", options), "zone"
        )
    return zones[0]


def shown_as(zone: Zone, what: str) -> str:
    if what == "account":
        return f"{zone.account_name or '(no name)'} ({zone.account_id})"
    return f"{zone.name} ({zone.id})"


def given(zones: list[Zone], wanted: str, what: str) -> list[Zone]:
    """The zones in the account (ID or name) or with the zone ID ``wanted``."""

    def keys(zone: Zone) -> tuple[str, ...]:
        return (zone.account_id, zone.account_name) if what == "account" else (zone.id,)

    found = [z for z in zones if wanted in keys(z)]
    if not found:
        seen = ", ".join(dict.fromkeys(shown_as(z, what) for z in zones))
        raise HostctlError(
            f"no zone for {zones[0].name} in the {what} {wanted!r}; the token sees it in: {seen}",
            f"give one of those as {ACCOUNT_NAMES if what == 'account' else ZONE_NAMES}",
        )
    return found


def choose(pick: ZonePick, what: str, question: str, options: list[tuple[str, str]]) -> str:
    names = ACCOUNT_NAMES if what == "account" else ZONE_NAMES
    if pick.choose is None:
        raise HostctlError(
            f"{question}: {', '.join(label for _, label in options)}",
            f"say which {what} with {names} (its ID{' or name' if what == 'account' else ''})",
        )
    return pick.choose(what, question, options)


def connector_name(host: Host) -> str:
    return f"{host.settings.namespace}-cloudflared"


def connector_spec(host: Host, token: str, tunnel_id: str, edge: str) -> ContainerSpec:
    """cloudflared, reaching the edge at ``edge`` (the host's address on its network)."""
    return ContainerSpec(
        name=connector_name(host),
        image=IMAGE,
        labels=host.labels(component="cloudflared", tunnel=tunnel_id, edge=edge),
        network=host.network,
        command=list(COMMAND),
        env={"TUNNEL_TOKEN": token},
        memory=256 * 1024**2,
        pids=256,
        restart=True,
        extra_hosts={EDGE_HOST: edge},  # not host-gateway: that is docker0's address
    )


def ensure_connector(host: Host, spec: ContainerSpec, warnings: list[str]) -> str:
    """Start cloudflared unless it already runs for this tunnel and edge address; returns
    its state."""
    docker = host.docker
    current = docker.state(spec.name, host.network)
    if (
        current is not None
        and current.status == "running"
        and all(current.labels.get(key) == spec.labels[key] for key in (labels.TUNNEL, labels.EDGE))
    ):
        return "running"
    if not docker.image_exists(spec.image):
        problem = docker.pull(spec.image)
        if problem is not None:
            warnings.append(
                f"cloudflared was not started: the image {spec.image} cannot be pulled "
                f"({problem}). The tunnel, DNS and ingress are set up on Cloudflare; run "
                "`hostctl cloudflare connect` again once the image is available"
            )
            return "not started (image unavailable)"
    if current is not None:
        docker.remove(spec.name, timeout=10)
    docker.ensure_network(host.network, host.labels())
    docker.run(spec)
    return "started"


@dataclass
class Status:
    connected: bool
    domain: str | None = None
    zone: str | None = None
    tunnel_id: str | None = None
    tunnel_name: str | None = None
    tunnel_status: str | None = None
    connector: str | None = None
    ingress_service: str | None = None
    sync: str | None = None
    hostnames: dict[str, dict[str, str]] = field(default_factory=dict)


def status(host: Host) -> Status:
    connection = load_connection(host.settings)
    if connection is None:
        return Status(connected=False)
    try:
        tunnel = api_for(connection).tunnel(connection.account_id, connection.tunnel_id)
        tunnel_status = tunnel.status if tunnel else "deleted on Cloudflare: run connect again"
    except HostctlError as exc:
        tunnel_status = f"unknown ({exc.message})"
    container = host.docker.state(connector_name(host), host.network)
    if container is None:
        connector = "absent: run `hostctl cloudflare connect`"
    else:
        connector = container.status + (
            f" (restarted {container.restart_count} times)" if container.restart_count else ""
        )
    state = load_state(host.settings)
    if state.complete:
        synced = f"synced at {state.synced_at}"
    elif state.synced_at:
        synced = f"pending since {state.synced_at}: {state.error}"
    else:
        synced = "never synced"
    return Status(
        connected=True,
        domain=connection.domain,
        zone=connection.zone,
        tunnel_id=connection.tunnel_id,
        tunnel_name=connection.tunnel_name,
        tunnel_status=tunnel_status,
        connector=connector,
        ingress_service=edge_service(host),
        sync=synced,
        hostnames=state.hostnames,
    )
