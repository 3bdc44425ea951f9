"""What hostctl remembers about Cloudflare.

The connection (API token, account, zone, tunnel) is server config: ``cloudflare.json``
under HOSTCTL_ETC, created 0600 because it holds the token. What the last sync did, per
hostname, is state: ``cloudflare/state.json`` under HOSTCTL_ROOT.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostctl.errors import HostctlError
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

    @property
    def target(self) -> str:
        return f"{self.tunnel_id}.cfargotunnel.com"


@dataclass
class SyncState:
    """Per hostname {"dns": ..., "ingress": ...}; which ingress rules hostctl wrote;
    hostnames the user forced; and whether the last sync finished."""

    hostnames: dict[str, dict[str, str]] = field(default_factory=dict)
    ingress_owned: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    fingerprint: str = ""
    complete: bool = False
    error: str | None = None
    synced_at: str | None = None


def connection_path(settings: Settings) -> Path:
    return settings.etc / "cloudflare.json"


def state_path(settings: Settings) -> Path:
    return settings.dir("cloudflare") / "state.json"


def load_connection(settings: Settings) -> Connection | None:
    path = connection_path(settings)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Connection(**data)
    except (ValueError, TypeError) as exc:
        raise HostctlError(
            f"{path} is not a valid Cloudflare connection",
            "run `hostctl cloudflare connect --token TOKEN --domain DOMAIN` again",
        ) from exc


def save_connection(settings: Settings, connection: Connection) -> None:
    path = connection_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, asdict(connection))


def load_state(settings: Settings) -> SyncState:
    path = state_path(settings)
    if not path.exists():
        return SyncState()
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return SyncState(**data)
    except (ValueError, TypeError):
        return SyncState()  # only a record of the last sync: the next sync rewrites it


def save_state(settings: Settings, state: SyncState) -> None:
    write_private(state_path(settings), asdict(state))


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically, readable by the owner only (created 0600, never wider)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(temporary, path)
