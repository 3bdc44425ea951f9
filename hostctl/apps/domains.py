"""An app's hostnames: list, add, remove. Caddy always follows; Cloudflare when connected."""

from __future__ import annotations

from dataclasses import dataclass

from hostctl.cloudflare.sync import SyncReport, check_new_hostnames, sync_after_change
from hostctl.core.errors import HostctlError
from hostctl.core.names import check_hostname
from hostctl.credentials.cloudflare import load_connection, load_state
from hostctl.edge import edge_locked, refresh_edge
from hostctl.host import Host
from hostctl.hostnames import claim_hostnames

NOT_CONNECTED = "-"


@dataclass(frozen=True)
class Domain:
    hostname: str
    dns: str
    ingress: str


@dataclass(frozen=True)
class DomainChange:
    app: str
    hostname: str
    hostnames: tuple[str, ...]
    changed: bool
    sync: SyncReport | None


def list_domains(host: Host, app: str) -> list[Domain]:
    """Each hostname of the app, with its DNS and ingress state as of the last sync."""
    hostnames = host.store.app(app).hostnames
    if load_connection(host.settings) is None:
        return [Domain(h, NOT_CONNECTED, NOT_CONNECTED) for h in hostnames]
    known = load_state(host.settings).hostnames
    return [
        Domain(
            h, known.get(h, {}).get("dns", "pending"), known.get(h, {}).get("ingress", "pending")
        )
        for h in hostnames
    ]


def add_domain(host: Host, app: str, hostname: str, force: bool = False) -> DomainChange:
    hostname = check_hostname(hostname)
    hostnames = list(host.store.app(app).hostnames)
    if hostname in hostnames:
        return DomainChange(app, hostname, tuple(hostnames), False, sync_after_change(host))
    claim_hostnames(host, app, [hostname])
    check_new_hostnames(host, [hostname], force)
    hostnames.append(hostname)
    update(host, app, hostnames, f"added {hostname}")
    return DomainChange(
        app, hostname, tuple(hostnames), True, sync_after_change(host, [hostname] if force else [])
    )


def remove_domain(host: Host, app: str, hostname: str) -> DomainChange:
    hostname = check_hostname(hostname)
    hostnames = list(host.store.app(app).hostnames)
    if hostname not in hostnames:
        raise HostctlError(
            f"{hostname} is not a hostname of {app}",
            f"its hostnames: {', '.join(hostnames)} (`hostctl domains {app}`)",
        )
    if len(hostnames) == 1:
        raise HostctlError(
            f"{hostname} is the only hostname of {app}",
            f"add another first (`hostctl domains add {app} HOST`), or destroy the app",
        )
    hostnames.remove(hostname)
    update(host, app, hostnames, f"removed {hostname}")
    return DomainChange(app, hostname, tuple(hostnames), True, sync_after_change(host))


def update(host: Host, app: str, hostnames: list[str], detail: str) -> None:
    with edge_locked(host):
        host.store.set_hostnames(app, hostnames)
        host.store.audit("domains", app, detail)
        refresh_edge(host)
