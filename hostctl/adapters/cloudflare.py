"""Cloudflare's API, through the official ``cloudflare`` SDK (v4).

The SDK is imported lazily (it is large): importing this module costs nothing until a
``CloudflareAPI`` is built. A new connection takes its base URL from ``CLOUDFLARE_BASE_URL``
(the SDK's setting, which the tests point at a local double) or Cloudflare's own; a saved
connection keeps the URL it was made against. The SDK retries 429s (honouring
``Retry-After``), 5xx and connection failures with exponential backoff; what still fails
afterwards is a ``CloudflareUnavailable``, which callers treat as "try again later".
The API token is never put into an error message or a log line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from hostctl.core.errors import HostctlError
from hostctl.core.imports import hidden

if TYPE_CHECKING:
    from cloudflare import Cloudflare

T = TypeVar("T")

MARKER = "managed by hostctl"
SEP = "\u203a"  # the dashboard's separator between a permission's group, item and level
ZONE_READ = f"Zone {SEP} Zone {SEP} Read"
DNS_EDIT = f"Zone {SEP} DNS {SEP} Edit"
TUNNEL_EDIT = f"Account {SEP} Cloudflare Tunnel {SEP} Edit"
TOKEN_HINT = (
    "create an API token at https://dash.cloudflare.com/profile/api-tokens with the "
    f"permissions {ZONE_READ}, {DNS_EDIT} and {TUNNEL_EDIT}, then run "
    "`hostctl cloudflare connect --token TOKEN --domain DOMAIN` again"
)
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
INVALID_TOKEN_CODES = {1000, 6003, 6111, 9106, 9109}
RECORD_EXISTS_CODES = {81053, 81054, 81057}


class CloudflareUnavailable(HostctlError):
    """The API could not be reached or kept failing (5xx, 429) after retries."""


class RecordConflict(HostctlError):
    """Cloudflare refused a record because another one already holds the name."""


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    account_id: str
    account_name: str = ""


@dataclass(frozen=True)
class Tunnel:
    id: str
    name: str
    status: str


@dataclass(frozen=True)
class Record:
    id: str
    name: str
    type: str
    content: str
    proxied: bool
    comment: str

    def describe(self) -> str:
        return f"{self.type} {self.name} → {self.content}"


def base_url_for_new_connections() -> str:
    """Where a new connection talks to: CLOUDFLARE_BASE_URL if set, else Cloudflare."""
    return os.environ.get("CLOUDFLARE_BASE_URL") or DEFAULT_BASE_URL


class CloudflareAPI:
    """The calls hostctl makes, each translated into plain data or a HostctlError."""

    def __init__(
        self,
        token: str,
        base_url: str | None = None,  # None: a new connection's (base_url_for_new_connections)
        *,
        max_retries: int = 3,
        timeout: float = 20.0,
    ) -> None:
        self.token = token
        self.base_url = base_url or base_url_for_new_connections()
        self.max_retries = max_retries
        self.timeout = timeout
        self._client: Cloudflare | None = None
        # The SDK's httpx, loaded before the SDK is: without its command line client,
        # which imports rich and pygments.
        with hidden("httpx._main"):
            import httpx  # noqa: F401

    @property
    def client(self) -> Cloudflare:
        if self._client is None:
            from cloudflare import Cloudflare

            self._client = Cloudflare(
                api_token=self.token,
                base_url=self.base_url,
                max_retries=self.max_retries,
                timeout=self.timeout,
            )
        return self._client

    def call(self, what: str, permission: str | None, action: Callable[[], T]) -> T:
        """Run one SDK call; failures become errors that say what to do."""
        import cloudflare

        try:
            return action()
        except cloudflare.APIConnectionError as exc:
            raise CloudflareUnavailable(
                f"cannot reach the Cloudflare API to {what}",
                "check the box's outbound network; hostctl retries on the next "
                "`hostctl cloudflare sync` (reconcile does it too)",
            ) from exc
        except cloudflare.APIStatusError as exc:
            codes, message = error_details(exc.body)
            status = exc.status_code
            if status == 429 or status >= 500:
                raise CloudflareUnavailable(
                    f"Cloudflare kept failing to {what} (HTTP {status}: {message})",
                    "it is retried by `hostctl cloudflare sync` and on the next reconcile",
                ) from exc
            if codes & INVALID_TOKEN_CODES or status == 401:
                raise HostctlError(
                    f"Cloudflare rejected the API token ({message})", TOKEN_HINT
                ) from exc
            if status == 403:
                needed = f" it needs the permission {permission}" if permission else ""
                raise HostctlError(
                    f"the API token may not {what}:{needed} ({message})",
                    f"edit the token at https://dash.cloudflare.com/profile/api-tokens "
                    f"and add {permission or 'the missing permission'}",
                ) from exc
            if codes & RECORD_EXISTS_CODES:
                raise RecordConflict(
                    f"Cloudflare refused to {what}: {message}",
                    "another record holds the name; see `hostctl domains APP`",
                ) from exc
            raise HostctlError(
                f"Cloudflare refused to {what} (HTTP {status}: {message})",
                "run `hostctl cloudflare status`; report it if it persists",
            ) from exc
        except cloudflare.APIError as exc:
            raise HostctlError(
                f"Cloudflare gave an answer hostctl cannot read when trying to {what}: {exc}",
                "report it, with `hostctl --debug` output",
            ) from exc

    # token, zones

    def verify_token(self) -> None:
        self.call("verify the API token", None, lambda: self.client.user.tokens.verify())

    def find_zones(self, domain: str) -> list[Zone]:
        """The zones holding ``domain``: itself or its closest parent that is a zone. More
        than one when the token sees that zone in several accounts."""
        labels = domain.split(".")
        for start in range(len(labels) - 1):
            name = ".".join(labels[start:])
            zones = self.call(
                f"look up the zone {name}",
                ZONE_READ,
                lambda name=name: list(self.client.zones.list(name=name, per_page=50)),  # type: ignore[misc]
            )
            found = [
                Zone(zone.id, zone.name, zone.account.id or "", zone.account.name or "")
                for zone in zones
                if zone.name == name
            ]
            if found:
                return found
        return []

    # tunnels

    def tunnel(self, account_id: str, tunnel_id: str) -> Tunnel | None:
        from cloudflare import NotFoundError

        try:
            found = self.call(
                "read the tunnel",
                TUNNEL_EDIT,
                lambda: self.client.zero_trust.tunnels.cloudflared.get(
                    tunnel_id, account_id=account_id
                ),
            )
        except HostctlError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise
        if getattr(found, "deleted_at", None):
            return None
        return to_tunnel(found)

    def find_tunnel(self, account_id: str, name: str) -> Tunnel | None:
        found = self.call(
            "list tunnels",
            TUNNEL_EDIT,
            lambda: list(
                self.client.zero_trust.tunnels.cloudflared.list(
                    account_id=account_id, name=name, is_deleted=False, per_page=50
                )
            ),
        )
        tunnels = [to_tunnel(t) for t in found if getattr(t, "name", None) == name]
        return tunnels[0] if tunnels else None

    def create_tunnel(self, account_id: str, name: str) -> Tunnel:
        created = self.call(
            "create a tunnel",
            TUNNEL_EDIT,
            lambda: self.client.zero_trust.tunnels.cloudflared.create(
                account_id=account_id, name=name, config_src="cloudflare"
            ),
        )
        return to_tunnel(created)

    def tunnel_token(self, account_id: str, tunnel_id: str) -> str:
        token = self.call(
            "get the tunnel's connector token",
            TUNNEL_EDIT,
            lambda: self.client.zero_trust.tunnels.cloudflared.token.get(
                tunnel_id, account_id=account_id
            ),
        )
        return str(token)

    def tunnel_config(self, account_id: str, tunnel_id: str) -> dict[str, Any]:
        """The tunnel's configuration exactly as stored (every field of every rule kept)."""
        response = self.call(
            "read the tunnel's ingress rules",
            TUNNEL_EDIT,
            lambda: self.client.zero_trust.tunnels.cloudflared.configurations.with_raw_response.get(
                tunnel_id, account_id=account_id
            ),
        )
        body = response.json()
        result = (body.get("result") if isinstance(body, dict) else None) or {}
        config = result.get("config") or {}
        return dict(config) if isinstance(config, dict) else {}

    def put_tunnel_config(self, account_id: str, tunnel_id: str, config: dict[str, Any]) -> None:
        # Sent verbatim (extra_body), so the keys of rules hostctl did not make survive as-is.
        self.call(
            "write the tunnel's ingress rules",
            TUNNEL_EDIT,
            lambda: self.client.zero_trust.tunnels.cloudflared.configurations.update(
                tunnel_id, account_id=account_id, extra_body={"config": config}
            ),
        )

    # DNS

    def records(self, zone_id: str) -> list[Record]:
        found = self.call(
            "list DNS records",
            DNS_EDIT,
            lambda: list(self.client.dns.records.list(zone_id=zone_id, per_page=100)),
        )
        return [
            Record(
                id=str(getattr(r, "id", "")),
                name=str(getattr(r, "name", "")),
                type=str(getattr(r, "type", "")),
                content=str(getattr(r, "content", "") or ""),
                proxied=bool(getattr(r, "proxied", False)),
                comment=str(getattr(r, "comment", "") or ""),
            )
            for r in found
        ]

    def create_cname(self, zone_id: str, name: str, target: str) -> None:
        self.call(
            f"create the DNS record {name}",
            DNS_EDIT,
            lambda: self.client.dns.records.create(
                zone_id=zone_id,
                name=name,
                type="CNAME",
                content=target,
                proxied=True,
                ttl=1,
                comment=MARKER,
            ),
        )

    def delete_record(self, zone_id: str, record: Record) -> None:
        from cloudflare import NotFoundError

        try:
            self.call(
                f"delete the DNS record {record.describe()}",
                DNS_EDIT,
                lambda: self.client.dns.records.delete(record.id, zone_id=zone_id),
            )
        except HostctlError as exc:
            if not isinstance(exc.__cause__, NotFoundError):
                raise


def to_tunnel(found: Any) -> Tunnel:
    return Tunnel(
        id=str(found.id), name=str(found.name or ""), status=str(found.status or "unknown")
    )


def error_details(body: object) -> tuple[set[int], str]:
    """The Cloudflare error codes and messages of a failed call's envelope."""
    errors = body.get("errors") if isinstance(body, dict) else None
    codes: set[int] = set()
    messages: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            if isinstance(error.get("code"), int):
                codes.add(error["code"])
            messages.append(f"{error.get('code')}: {error.get('message')}")
    return codes, "; ".join(messages) or "no details"
