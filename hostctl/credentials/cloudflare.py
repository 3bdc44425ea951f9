"""What hostctl remembers about Cloudflare.

The connection (API token, account, zone, tunnel) is server config: ``cloudflare.json``
under HOSTCTL_ETC, created 0600 because it holds the token. What the last sync did, per
hostname, is state: ``cloudflare/state.json`` under HOSTCTL_ROOT.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hostctl.adapters.cloudflare import DEFAULT_BASE_URL
from hostctl.core.private_files import read_private, write_private
from hostctl.settings import Settings

SYNCED = "synced"
PENDING = "pending"


@dataclass(frozen=True)
class Connection:
    token: str
    account_id: str
    zone_id: str
    zone: str
    domain: str
    tunnel_id: str
    tunnel_name: str
    api_url: str = DEFAULT_BASE_URL  # the API this connection was made against, for good

    @property
    def target(self) -> str:
        return f"{self.tunnel_id}.cfargotunnel.com"


@dataclass
class SyncState:
    """Per hostname {"dns": ..., "ingress": ...}; hostnames the user forced; whether the
    last sync finished, and if not whether an outage cut it short (pending).

    Only a record of the last sync: which records and rules are hostctl's is read from
    Cloudflare itself, so a lost or damaged file costs nothing but a full sync."""

    hostnames: dict[str, dict[str, str]] = field(default_factory=dict)
    forced: list[str] = field(default_factory=list)
    fingerprint: str = ""
    complete: bool = False
    error: str | None = None
    pending: bool = False
    synced_at: str | None = None


def load_connection(settings: Settings) -> Connection | None:
    return read_private(
        settings.paths.cloudflare_connection,
        lambda data: Connection(**data),
        "Cloudflare connection",
        "run `hostctl cloudflare connect --token TOKEN --domain DOMAIN` again",
    )


def save_connection(settings: Settings, connection: Connection) -> None:
    write_private(settings.paths.cloudflare_connection, asdict(connection))


def load_state(settings: Settings) -> SyncState:
    path = settings.paths.cloudflare_state
    if not path.exists():
        return SyncState()
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        known = {f.name for f in fields(SyncState)}
        return SyncState(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError):
        return SyncState()  # only a record of the last sync: the next sync rewrites it


def save_state(settings: Settings, state: SyncState) -> None:
    write_private(settings.paths.cloudflare_state, asdict(state))
