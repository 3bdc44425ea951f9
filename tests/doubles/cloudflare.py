"""A Cloudflare API v4 double: a real HTTP server on 127.0.0.1, in a thread.

It implements the calls hostctl makes, with Cloudflare's documented shapes: the
``{success, errors, messages, result, result_info}`` envelope, page/per_page pagination
(``result_info.total_pages``; a page past the end is empty), bearer-token auth with
per-token permissions, and error codes (9109 invalid token, 10000 authentication error,
81053 record exists, 81044 record missing, 1056 bad ingress). Faults can be injected per
method and path: any status, a number of times, with a Retry-After header.

Endpoints: GET user/tokens/verify; GET zones; GET/POST zones/{id}/dns_records;
DELETE zones/{id}/dns_records/{id}; GET/POST accounts/{id}/cfd_tunnel;
GET accounts/{id}/cfd_tunnel/{id}[/token]; GET/PUT accounts/{id}/cfd_tunnel/{id}/configurations.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.doubles.base import ApiHandler, Fault, Loopback, Reply, authenticate, injected

TOKEN = "test-token-0123456789abcdef"
ALL = frozenset({"zone:read", "dns:edit", "tunnel:edit"})
ACCOUNT = "0123456789abcdef0123456789abcdef"


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class CloudflareDouble(Loopback):
    tokens: dict[str, frozenset[str]] = field(default_factory=lambda: {TOKEN: ALL})
    zones: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tunnels: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.listen(handler(self))

    @property
    def url(self) -> str:
        return f"{self.origin}/client/v4"

    # seeding and inspection

    def add_zone(
        self, name: str, account: str = ACCOUNT, account_name: str = "Test account"
    ) -> str:
        zone = {
            "id": new_id(),
            "name": name,
            "status": "active",
            "paused": False,
            "type": "full",
            "account": {"id": account, "name": account_name},
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "created_on": now(),
            "modified_on": now(),
        }
        self.zones.append(zone)
        self.records[zone["id"]] = []
        return str(zone["id"])

    def add_record(
        self, zone_id: str, name: str, type: str, content: str, comment: str | None = None
    ) -> dict[str, Any]:
        zone_name = next(z["name"] for z in self.zones if z["id"] == zone_id)
        record = {
            "id": new_id(),
            "zone_id": zone_id,
            "zone_name": zone_name,
            "name": name,
            "type": type,
            "content": content,
            "proxied": False,
            "proxiable": True,
            "ttl": 1,
            "comment": comment,
            "tags": [],
            "settings": {},
            "meta": {},
            "created_on": now(),
            "modified_on": now(),
        }
        self.records[zone_id].append(record)
        return record

    def set_ingress(self, tunnel_id: str, ingress: list[dict[str, Any]]) -> None:
        self.configs[tunnel_id] = {"ingress": ingress}

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        code: int = 10001,
        retry_after: str | None = None,
    ) -> None:
        """The next ``times`` requests matching (regex ``path`` after /client/v4) fail."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.faults.append(Fault(method, re.compile(path), status, times, headers, code=code))

    def live_tunnels(self) -> list[dict[str, Any]]:
        return [t for t in self.tunnels.values() if t["deleted_at"] is None]

    def dns(self, zone_id: str) -> set[tuple[str, str, str, bool, str | None]]:
        return {
            (r["type"], r["name"], r["content"], r["proxied"], r["comment"])
            for r in self.records[zone_id]
        }

    def ingress(self, tunnel_id: str) -> list[dict[str, Any]]:
        return list((self.configs.get(tunnel_id) or {}).get("ingress") or [])


def handler(double: CloudflareDouble) -> type[ApiHandler]:
    class Handler(ApiHandler):
        def handle_call(self, method: str) -> None:
            path, query, raw = self.read_call("/client/v4")
            try:
                body = json.loads(raw) if raw else {}
                with double.lock:
                    injected(double.faults, method, path)
                    permissions = authenticate(
                        double.tokens,
                        self.headers.get("Authorization", ""),
                        lambda: Reply(403, "Invalid access token", code=9109),
                    )
                    result, info = route(double, method, path, query, body, permissions)
                self.send(200, envelope(True, result, [], info))
                double.log.append((method, path, 200))
            except Reply as reply:
                errors = [{"code": reply.code, "message": reply.message}]
                self.send(reply.status, envelope(False, None, errors), reply.headers)
                double.log.append((method, path, reply.status))

    return Handler


def envelope(
    success: bool, result: Any, errors: list[dict[str, Any]], info: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = {"success": success, "errors": errors, "messages": [], "result": result}
    if info is not None:
        data["result_info"] = info
    return data


def need(permissions: frozenset[str], permission: str) -> None:
    if permission not in permissions:
        raise Reply(403, "Authentication error", code=10000)


def paginate(items: list[Any], query: dict[str, str]) -> tuple[list[Any], dict[str, Any]]:
    page = int(float(query.get("page", 1)))
    per_page = int(float(query.get("per_page", 20)))
    start = (page - 1) * per_page
    chunk = items[start : start + per_page]
    pages = max(1, -(-len(items) // per_page))
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": pages,
    }
    return chunk, info


Result = tuple[Any, dict[str, Any] | None]


def route(
    double: CloudflareDouble,
    method: str,
    path: str,
    query: dict[str, str],
    body: dict[str, Any],
    permissions: frozenset[str],
) -> Result:
    parts = path.strip("/").split("/")
    if parts == ["user", "tokens", "verify"] and method == "GET":
        return {"id": new_id(), "status": "active"}, None
    if parts == ["zones"] and method == "GET":
        visible = [z for z in double.zones if "zone:read" in permissions]
        if "name" in query:
            visible = [z for z in visible if z["name"] == query["name"]]
        return paginate(visible, query)
    if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
        need(permissions, "dns:edit")
        if parts[1] not in double.records:
            raise Reply(
                404,
                "Could not route to /zones/..., perhaps your object identifier is invalid?",
                code=7003,
            )
        return dns(double, method, parts[1], parts[3:], query, body)
    if len(parts) >= 3 and parts[0] == "accounts" and parts[2] == "cfd_tunnel":
        need(permissions, "tunnel:edit")
        return tunnels(double, method, parts[1], parts[3:], query, body)
    raise Reply(404, f"No route for that URI: {method} {path}", code=7000)


def dns(
    double: CloudflareDouble,
    method: str,
    zone_id: str,
    rest: list[str],
    query: dict[str, str],
    body: dict[str, Any],
) -> Result:
    records = double.records[zone_id]
    if not rest and method == "GET":
        found = [r for r in records if r["name"] == query.get("name", r["name"])]
        return paginate(found, query)
    if not rest and method == "POST":
        name, kind = str(body.get("name", "")), str(body.get("type", ""))
        if not name or not kind or not body.get("content"):
            raise Reply(400, "DNS name, type and content are required", code=9000)
        clash = [r for r in records if r["name"] == name]
        if clash and (kind == "CNAME" or any(r["type"] == "CNAME" for r in clash)):
            raise Reply(
                400, "An A, AAAA, or CNAME record with that host already exists.", code=81053
            )
        record = double.add_record(zone_id, name, kind, str(body["content"]), body.get("comment"))
        record |= {"proxied": bool(body.get("proxied", False)), "ttl": body.get("ttl", 1)}
        return record, None
    if len(rest) == 1 and method == "DELETE":
        for record in records:
            if record["id"] == rest[0]:
                records.remove(record)
                return {"id": rest[0]}, None
        raise Reply(404, "Record does not exist.", code=81044)
    raise Reply(405, "Method not allowed", code=10405)


def tunnels(
    double: CloudflareDouble,
    method: str,
    account: str,
    rest: list[str],
    query: dict[str, str],
    body: dict[str, Any],
) -> Result:
    if account != ACCOUNT:
        raise Reply(403, "Authentication error", code=10000)
    if not rest and method == "GET":
        found = [t for t in double.tunnels.values() if t["name"] == query.get("name", t["name"])]
        if query.get("is_deleted") == "false":
            found = [t for t in found if t["deleted_at"] is None]
        return paginate(found, query)
    if not rest and method == "POST":
        name = str(body.get("name", ""))
        if not name:
            raise Reply(400, "tunnel name is required", code=1001)
        if any(t["name"] == name for t in double.live_tunnels()):
            raise Reply(400, "You already have a tunnel with this name", code=1013)
        tunnel = {
            "id": str(uuid.uuid4()),
            "account_tag": account,
            "name": name,
            "status": "inactive",
            "tun_type": "cfd_tunnel",
            "remote_config": body.get("config_src") == "cloudflare",
            "config_src": body.get("config_src", "local"),
            "connections": [],
            "conns_active_at": None,
            "conns_inactive_at": None,
            "created_at": now(),
            "deleted_at": None,
            "metadata": {},
        }
        double.tunnels[tunnel["id"]] = tunnel
        return tunnel, None
    tunnel = double.tunnels.get(rest[0]) if rest else None
    if tunnel is None:
        raise Reply(404, "Tunnel not found", code=1003)
    if len(rest) == 1 and method == "GET":
        return tunnel, None
    if rest[1:] == ["token"] and method == "GET":
        secret = base64.b64encode(f"secret-{tunnel['id']}".encode()).decode()
        token = {"a": account, "t": tunnel["id"], "s": secret}
        return base64.b64encode(json.dumps(token).encode()).decode(), None
    if rest[1:] == ["configurations"] and method in ("GET", "PUT"):
        if method == "PUT":
            config = body.get("config")
            ingress = (config or {}).get("ingress") or []
            if ingress and ingress[-1].get("hostname"):
                raise Reply(400, "The last ingress rule must match all URLs", code=1056)
            double.configs[tunnel["id"]] = config
        current = double.configs.get(tunnel["id"])
        return {
            "tunnel_id": tunnel["id"],
            "account_id": account,
            "version": len(double.log),
            "config": current,
            "source": "cloudflare",
            "created_at": now(),
        }, None
    raise Reply(405, "Method not allowed", code=10405)
