"""Keep Cloudflare's DNS records and the tunnel's ingress rules in step with the apps.

The apps' hostnames in the state store are the truth. A sync reads the zone's records and
the tunnel's configuration, and converges them:

- a proxied CNAME ``<hostname> → <tunnel-id>.cfargotunnel.com`` (ttl automatic, comment
  "managed by hostctl") per hostname; hostctl's records no app wants are deleted;
- an ingress rule ``<hostname> → the edge (Caddy)`` per hostname, written back with every
  rule hostctl did not create, and a catch-all last (``http_status:404`` unless the tunnel
  already ends with a catch-all of its own, which is kept);
- a name held by a record (or ingress rule) hostctl did not make is never overwritten: it
  is reported as a conflict, unless the user forced that hostname.

A record is hostctl's when it carries the comment and points at this box's tunnel. An
ingress rule is hostctl's when it sends its hostname to the edge (Caddy) and that hostname
has one of hostctl's records: ownership is read from Cloudflare, never from a local file,
so losing ``cloudflare/state.json`` changes nothing. A record of hostctl's on a hostname
that is still wanted is never deleted, even while that hostname is in conflict.
Every sync runs under the ``cloudflare`` lock (the ingress PUT replaces the whole
configuration, so two writers would lose each other's rules). An outage marks the sync
pending; reconcile and ``hostctl cloudflare sync`` finish it later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hostctl.adapters.cloudflare import (
    MARKER,
    CloudflareAPI,
    CloudflareUnavailable,
    Record,
)
from hostctl.core.errors import HostctlError
from hostctl.core.locks import file_lock
from hostctl.credentials.cloudflare import (
    PENDING,
    SYNCED,
    Connection,
    SyncState,
    load_connection,
    load_state,
    save_state,
)
from hostctl.host import Host
from hostctl.hostnames import webhook_hostname

CATCH_ALL = {"service": "http_status:404"}
EDGE_HOST = "host.docker.internal"
EDGE_PREFIX = f"http://{EDGE_HOST}:"


@dataclass
class SyncReport:
    changes: list[str] = field(default_factory=list)
    hostnames: dict[str, dict[str, str]] = field(default_factory=dict)
    pending: bool = False
    error: str | None = None


# How hard each caller retries 5xx and connection failures (429s always wait as asked):
# an explicit Cloudflare command at length, a hook inside apps/domains commands briefly
# (their change stands anyway), reconcile not at all (it runs before every command).
PATIENT, BRIEF, QUICK = 3, 1, 0


def api_for(connection: Connection, retries: int = PATIENT) -> CloudflareAPI:
    timeout = 20.0 if retries else 5.0
    return CloudflareAPI(connection.token, connection.api_url, max_retries=retries, timeout=timeout)


def edge_service(host: Host) -> str:
    """Where cloudflared sends app traffic: Caddy, which runs on the host itself."""
    return f"{EDGE_PREFIX}{host.settings.http_port}"


def not_publishable(hostname: str, zone: str, forced: bool) -> str | None:
    """Why a hostname gets no record and rule (None: it does)."""
    if hostname != zone and not hostname.endswith(f".{zone}"):
        return f"not in the Cloudflare zone {zone}; served by Caddy only"
    depth = hostname.count(".") - zone.count(".")
    if depth > 1 and not forced:
        return (
            f"multi-level subdomain: Cloudflare's Universal SSL certificate covers only "
            f"{zone} and *.{zone}, so {hostname} needs an Advanced Certificate; "
            f"add it with --force once the zone has one"
        )
    return None


def is_ours(record: Record, connection: Connection) -> bool:
    return record.comment == MARKER and record.content == connection.target


def owned_rules(
    rules: list[dict[str, Any]], records: list[Record], connection: Connection
) -> set[str]:
    """Hostnames whose ingress rule is hostctl's, read from Cloudflare alone: the rule sends
    the hostname to the edge (any port: the edge port may have changed since) and the
    hostname has one of hostctl's records."""
    ours = {r.name for r in records if is_ours(r, connection)}
    return {
        str(r["hostname"])
        for r in rules
        if r.get("hostname") in ours and str(r.get("service", "")).startswith(EDGE_PREFIX)
    }


def wanted_hostnames(host: Host) -> list[str]:
    """Every app's hostnames, and the agent's webhook hostname."""
    webhooks = webhook_hostname(host)
    wanted = {h for app in host.store.apps() for h in app.hostnames}
    return sorted(wanted | {webhooks} if webhooks else wanted)


def fingerprint(host: Host, connection: Connection, forced: list[str]) -> str:
    data = [wanted_hostnames(host), sorted(forced), connection.tunnel_id, edge_service(host)]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def sync(host: Host, force: list[str] | None = None, retries: int = PATIENT) -> SyncReport | None:
    """Converge DNS and ingress; None when Cloudflare is not connected.

    An outage is not an error: the report says pending. Other failures (token, permission)
    are recorded and raised.
    """
    connection = load_connection(host.settings)
    if connection is None:
        return None
    with file_lock(host.settings.paths.lock("cloudflare")):
        state = load_state(host.settings)
        wanted = wanted_hostnames(host)
        state.forced = sorted(h for h in {*state.forced, *(force or [])} if h in wanted)
        report = SyncReport()
        try:
            converge(host, connection, api_for(connection, retries), state, wanted, report)
            state.complete, state.error, state.pending = True, None, False
        except CloudflareUnavailable as exc:
            mark(state, wanted, report, PENDING, exc.message)
            report.pending = state.pending = True
        except HostctlError as exc:
            mark(state, wanted, report, f"error: {exc.message}", exc.message)
            state.fingerprint = fingerprint(host, connection, state.forced)
            save_state(host.settings, state)
            raise
        state.fingerprint = fingerprint(host, connection, state.forced)
        state.synced_at = datetime.now(UTC).isoformat(timespec="seconds")
        save_state(host.settings, state)
        return report


def mark(state: SyncState, wanted: list[str], report: SyncReport, status: str, why: str) -> None:
    """After a failed sync: what was already in place stays; the rest is ``status``."""
    for hostname in wanted:
        known = state.hostnames.get(hostname, {})
        if known.get("dns") == SYNCED and known.get("ingress") == SYNCED:
            continue
        state.hostnames[hostname] = {"dns": status, "ingress": status}
    state.hostnames = {h: s for h, s in state.hostnames.items() if h in wanted}
    state.complete, state.error, state.pending = False, why, False
    report.hostnames = dict(state.hostnames)
    report.error = why


def converge(
    host: Host,
    connection: Connection,
    api: CloudflareAPI,
    state: SyncState,
    wanted: list[str],
    report: SyncReport,
) -> None:
    service = edge_service(host)
    statuses: dict[str, dict[str, str]] = {}
    publish: list[str] = []
    for hostname in wanted:
        why = not_publishable(hostname, connection.zone, hostname in state.forced)
        if why:
            statuses[hostname] = {"dns": f"skipped: {why}", "ingress": "skipped"}
        else:
            publish.append(hostname)

    records = api.records(connection.zone_id)
    config = api.tunnel_config(connection.account_id, connection.tunnel_id)
    rules: list[dict[str, Any]] = [r for r in config.get("ingress") or [] if isinstance(r, dict)]
    owned = owned_rules(rules, records, connection)
    foreign_rules = [r for r in rules if r.get("hostname") and r["hostname"] not in owned]

    ready: list[str] = []
    conflicts: list[str] = []
    for hostname in publish:
        forced = hostname in state.forced
        foreign = [r for r in records if r.name == hostname and not is_ours(r, connection)]
        rule = next((r for r in foreign_rules if r["hostname"] == hostname), None)
        if (foreign or rule is not None) and not forced:
            conflicts.append(hostname)
        if foreign and not forced:
            statuses[hostname] = {
                "dns": f"conflict: {foreign[0].describe()} was not made by hostctl",
                "ingress": "not added (DNS conflict)",
            }
        elif rule is not None and not forced:
            statuses[hostname] = {
                "dns": "not added (ingress conflict)",
                "ingress": f"conflict: a rule hostctl did not make sends it to "
                f"{rule.get('service')}",
            }
        else:
            ready.append(hostname)

    # DNS
    for hostname in ready:
        mine = []
        for record in (r for r in records if r.name == hostname):
            if not is_ours(record, connection):
                api.delete_record(connection.zone_id, record)
                report.changes.append(f"deleted {record.describe()} (forced)")
            elif record.type != "CNAME" or not record.proxied:
                api.delete_record(connection.zone_id, record)
            else:
                mine.append(record)
        if not mine:
            api.create_cname(connection.zone_id, hostname, connection.target)
            report.changes.append(f"created DNS CNAME {hostname} → {connection.target}")
        statuses[hostname] = {"dns": SYNCED, "ingress": PENDING}
    for record in records:
        if is_ours(record, connection) and record.name not in {*ready, *conflicts}:
            api.delete_record(connection.zone_id, record)
            report.changes.append(f"deleted DNS CNAME {record.name}")

    # ingress
    body = rules[:-1] if rules and not rules[-1].get("hostname") else rules
    catch_all = rules[-1] if rules and not rules[-1].get("hostname") else dict(CATCH_ALL)
    kept = [
        r
        for r in body
        if not (
            r.get("hostname") in owned or (r.get("hostname") in ready and r.get("path") is None)
        )
    ]
    for r in body:
        if r not in kept and r.get("hostname") not in owned:
            report.changes.append(f"replaced the ingress rule for {r.get('hostname')} (forced)")
    webhooks = webhook_hostname(host)
    new_rules = [
        *kept,
        *(ingress_rule(h, service, h == webhooks) for h in ready),
        catch_all,
    ]
    if new_rules != rules:
        api.put_tunnel_config(
            connection.account_id, connection.tunnel_id, {**config, "ingress": new_rules}
        )
        before = {str(r["hostname"]) for r in body if r.get("hostname") in owned}
        for hostname in sorted(set(ready) - before):
            report.changes.append(f"added ingress {hostname} → {service}")
        for hostname in sorted(before - set(ready)):
            report.changes.append(f"removed ingress {hostname}")
        if not report.changes:
            report.changes.append("rewrote the tunnel's ingress rules")
    for hostname in ready:
        statuses[hostname]["ingress"] = SYNCED
    state.hostnames = statuses
    report.hostnames = dict(statuses)


def ingress_rule(hostname: str, service: str, webhooks: bool) -> dict[str, Any]:
    """The webhook hostname reaches only the agent's /hooks/ paths; all else there is 404."""
    rule = {"hostname": hostname, "service": service}
    return rule | {"path": "^/hooks/"} if webhooks else rule


def sync_after_change(host: Host, force: list[str] | None = None) -> SyncReport | None:
    """Sync after the apps' hostnames changed; never fails the change that was made.

    An outage leaves the sync pending, a token or permission problem is recorded as an
    error; either way the report says so and `hostctl cloudflare sync` finishes later.
    """
    try:
        return sync(host, force=force, retries=BRIEF)
    except HostctlError as exc:
        return SyncReport(error=exc.message, hostnames=load_state(host.settings).hostnames)


def reconcile_cloudflare(host: Host) -> list[str]:
    """Reconcile's step: finish a pending sync or follow changed hostnames; never raises.

    It calls the API only when the last sync was cut short by an outage (pending) or the
    hostnames changed since; otherwise (done, or a token or permission error) it makes no
    API call at all, so commands stay fast. A token error waits for `hostctl cloudflare
    sync` or the agent's periodic full sync; those also repair drift made elsewhere.
    """
    try:
        connection = load_connection(host.settings)
        if connection is None:
            return []
        state = load_state(host.settings)
        if state.fingerprint == fingerprint(host, connection, state.forced) and (
            state.complete or not state.pending
        ):
            return []  # done, or a token/permission error: `cloudflare sync` or the agent
        report = sync(host, retries=QUICK)
    except HostctlError:
        return []  # recorded in the sync state; shown by `hostctl domains` and `status`
    return [f"cloudflare: {change}" for change in report.changes] if report else []


def check_new_hostnames(host: Host, hostnames: list[str], force: bool) -> None:
    """Before an app takes hostnames: refuse names held by records hostctl did not make.

    Runs only when Cloudflare is connected. If the API cannot be reached the check is
    skipped: the later sync never overwrites a foreign record either, it reports it.
    """
    connection = load_connection(host.settings)
    if connection is None:
        return
    for hostname in hostnames:
        why = not_publishable(hostname, connection.zone, force)
        if why and why.startswith("multi-level"):
            raise HostctlError(f"{hostname}: {why}", "pass --force to add it anyway")
    if force:
        return
    api = api_for(connection, BRIEF)
    try:
        records = api.records(connection.zone_id)
        config = api.tunnel_config(connection.account_id, connection.tunnel_id)
    except CloudflareUnavailable:
        return
    rules = [r for r in config.get("ingress") or [] if isinstance(r, dict)]
    owned = owned_rules(rules, records, connection)
    for hostname in hostnames:
        for record in records:
            if record.name == hostname and not is_ours(record, connection):
                raise HostctlError(
                    f"{hostname} already has a DNS record hostctl did not make: "
                    f"{record.describe()} (id {record.id}); nothing was changed",
                    "delete or rename that record in the Cloudflare dashboard, "
                    "or pass --force to replace it",
                )
        for rule in rules:
            if rule.get("hostname") == hostname and hostname not in owned:
                raise HostctlError(
                    f"{hostname} already has a tunnel ingress rule hostctl did not make "
                    f"(→ {rule.get('service')}); nothing was changed",
                    "remove that rule from the tunnel, or pass --force to replace it",
                )


def sync_now(host: Host) -> SyncReport:
    """`hostctl cloudflare sync`: a full sync, which also repairs drift made elsewhere."""
    report = sync(host)
    if report is None:
        raise HostctlError(
            "Cloudflare is not connected",
            "run `hostctl cloudflare connect --token TOKEN --domain DOMAIN` first",
        )
    return report
