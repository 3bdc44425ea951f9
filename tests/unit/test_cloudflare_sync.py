"""DNS and ingress sync, in-process with the real state store and SDK, against the double."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hostctl.adapters.cloudflare import MARKER, CloudflareAPI
from hostctl.adapters.docker import run_arguments
from hostctl.cloudflare.connect import COMMAND, IMAGE, connector_spec
from hostctl.cloudflare.sync import check_new_hostnames, reconcile_cloudflare, sync
from hostctl.core.errors import HostctlError
from hostctl.credentials.cloudflare import (
    Connection,
    load_state,
    save_connection,
)
from hostctl.host import Host
from hostctl.hostnames import default_hostname, webhook_hostname, webhook_url
from tests.doubles.cloudflare import ACCOUNT, ALL, TOKEN, CloudflareDouble

FOREIGN_RULE = {
    "hostname": "legacy.example.com",
    "service": "http://192.0.2.9:8000",
    "originRequest": {"noTLSVerify": True},
}


@pytest.fixture
def host(hostctl_env: Path, double: CloudflareDouble) -> Host:
    """A host connected to the double's example.com, with a foreign record and rule."""
    zone_id = double.add_zone("example.com")
    double.add_record(zone_id, "example.com", "A", "192.0.2.1")
    double.add_record(zone_id, "mail.example.com", "MX", "mx.example.net")
    tunnel = CloudflareAPI(TOKEN).create_tunnel(ACCOUNT, "box")
    double.set_ingress(tunnel.id, [FOREIGN_RULE, {"service": "http_status:404"}])
    host = Host()
    save_connection(
        host.settings,
        Connection(
            TOKEN, ACCOUNT, zone_id, "example.com", "example.com", tunnel.id, "box", double.url
        ),
    )
    return host


def cname(host: Host, name: str) -> tuple[str, str, str, bool, str]:
    tunnel = double_tunnel(host)
    return ("CNAME", name, f"{tunnel}.cfargotunnel.com", True, MARKER)


def double_tunnel(host: Host) -> str:
    from hostctl.credentials.cloudflare import load_connection

    connection = load_connection(host.settings)
    assert connection is not None
    return connection.tunnel_id


def zone(double: CloudflareDouble) -> str:
    return str(double.zones[0]["id"])


def foreign(double: CloudflareDouble) -> set[tuple[str, str, str, bool, str | None]]:
    return {
        ("A", "example.com", "192.0.2.1", False, None),
        ("MX", "mail.example.com", "mx.example.net", False, None),
    }


def test_connection_is_stored_0600(host: Host) -> None:
    mode = stat.S_IMODE(os.stat(host.settings.paths.cloudflare_connection).st_mode)
    assert mode == 0o600


def test_sync_follows_the_apps_and_keeps_foreign_things(
    host: Host, double: CloudflareDouble
) -> None:
    host.store.insert_app("blog", ["blog.example.com", "www.example.com", "blog.localhost"])
    report = sync(host)
    assert report is not None and not report.pending
    assert double.dns(zone(double)) == foreign(double) | {
        cname(host, "blog.example.com"),
        cname(host, "hooks.example.com"),
        cname(host, "www.example.com"),
    }
    service = f"http://host.docker.internal:{host.settings.http_port}"
    tunnel = double_tunnel(host)
    assert double.ingress(tunnel) == [
        FOREIGN_RULE,
        {"hostname": "blog.example.com", "service": service},
        {"hostname": "hooks.example.com", "path": "^/hooks/", "service": service},
        {"hostname": "www.example.com", "service": service},
        {"service": "http_status:404"},
    ]
    assert report.hostnames["blog.localhost"]["dns"].startswith("skipped: not in the Cloudflare")
    assert report.hostnames["blog.example.com"] == {"dns": "synced", "ingress": "synced"}

    again = sync(host)
    assert again is not None and again.changes == []
    assert not [m for m, _, _ in double.log[-3:] if m != "GET"]

    host.store.set_hostnames("blog", ["www.example.com"])
    sync(host)
    assert double.dns(zone(double)) == foreign(double) | {
        cname(host, "www.example.com"),
        cname(host, "hooks.example.com"),
    }
    assert [r.get("hostname") for r in double.ingress(tunnel)] == [
        "legacy.example.com",
        "hooks.example.com",
        "www.example.com",
        None,
    ]
    host.store.delete_app("blog")
    sync(host)
    assert double.dns(zone(double)) == foreign(double) | {cname(host, "hooks.example.com")}
    assert double.ingress(tunnel) == [
        FOREIGN_RULE,
        {"hostname": "hooks.example.com", "path": "^/hooks/", "service": service},
        {"service": "http_status:404"},
    ]
    assert len(double.live_tunnels()) == 1


def test_a_foreign_record_is_never_overwritten(host: Host, double: CloudflareDouble) -> None:
    double.add_record(zone(double), "shop.example.com", "CNAME", "shops.example.net")
    before = double.dns(zone(double))
    with pytest.raises(HostctlError) as caught:
        check_new_hostnames(host, ["shop.example.com"], force=False)
    assert "CNAME shop.example.com → shops.example.net" in caught.value.message
    assert "--force" in str(caught.value.hint)
    with pytest.raises(HostctlError, match=r"A example\.com → 192\.0\.2\.1"):
        check_new_hostnames(host, ["example.com"], force=False)

    host.store.insert_app("shop", ["shop.example.com"])  # e.g. added while the API was down
    report = sync(host)
    assert report is not None
    assert report.hostnames["shop.example.com"]["dns"].startswith("conflict: CNAME shop")
    assert double.dns(zone(double)) == before | {cname(host, "hooks.example.com")}
    assert [r.get("hostname") for r in double.ingress(double_tunnel(host))] == [
        "legacy.example.com",
        "hooks.example.com",
        None,
    ]

    forced = sync(host, force=["shop.example.com"])
    assert forced is not None
    assert double.dns(zone(double)) == foreign(double) | {
        cname(host, "shop.example.com"),
        cname(host, "hooks.example.com"),
    }
    assert load_state(host.settings).forced == ["shop.example.com"]


def test_a_foreign_ingress_rule_is_a_conflict(host: Host, double: CloudflareDouble) -> None:
    with pytest.raises(HostctlError, match="ingress rule hostctl did not make"):
        check_new_hostnames(host, ["legacy.example.com"], force=False)


def test_multi_level_subdomains_are_refused_unless_forced(
    host: Host, double: CloudflareDouble
) -> None:
    with pytest.raises(HostctlError, match="Advanced Certificate"):
        check_new_hostnames(host, ["a.b.example.com"], force=False)
    check_new_hostnames(host, ["a.b.example.com"], force=True)
    host.store.insert_app("deep", ["a.b.example.com"])
    assert sync(host) is not None
    assert double.dns(zone(double)) == foreign(double) | {cname(host, "hooks.example.com")}
    sync(host, force=["a.b.example.com"])
    assert cname(host, "a.b.example.com") in double.dns(zone(double))


def test_an_outage_leaves_the_sync_pending_and_the_next_sync_repairs_it(
    host: Host, double: CloudflareDouble
) -> None:
    host.store.insert_app("blog", ["blog.example.com"])
    double.fail("PUT", "configurations$", 500, times=10)
    report = sync(host, retries=0)
    assert report is not None and report.pending
    state = load_state(host.settings)
    assert not state.complete and "HTTP 500" in str(state.error)
    assert state.hostnames["blog.example.com"]["ingress"] == "pending"
    double.faults.clear()
    service = f"http://host.docker.internal:{host.settings.http_port}"
    assert reconcile_cloudflare(host) == [
        f"cloudflare: added ingress blog.example.com → {service}",
        f"cloudflare: added ingress hooks.example.com → {service}",
    ]
    assert load_state(host.settings).complete
    assert reconcile_cloudflare(host) == []  # nothing changed: no API call at all
    calls = len(double.log)
    reconcile_cloudflare(host)
    assert len(double.log) == calls


def test_a_revoked_token_is_recorded_and_raised(host: Host, double: CloudflareDouble) -> None:
    host.store.insert_app("blog", ["blog.example.com"])
    double.tokens.clear()
    with pytest.raises(HostctlError, match="rejected the API token"):
        sync(host)
    assert load_state(host.settings).hostnames["blog.example.com"]["dns"].startswith("error")
    assert reconcile_cloudflare(host) == []  # reconcile never fails


def test_not_connected_means_nothing_runs(hostctl_env: Path) -> None:
    host = Host()
    host.store.insert_app("blog", ["blog.example.com"])
    assert sync(host) is None
    assert reconcile_cloudflare(host) == []
    check_new_hostnames(host, ["blog.example.com"], force=False)


def test_cloudflared_container_spec(hostctl_env: Path) -> None:
    host = Host()
    spec = connector_spec(host, "the-connector-token", "tunnel-id", "172.30.0.1")
    assert spec.image == IMAGE and ":" in IMAGE and not IMAGE.endswith(":latest")
    assert spec.command == COMMAND == ["tunnel", "--no-autoupdate", "run"]
    assert spec.env == {"TUNNEL_TOKEN": "the-connector-token"}
    assert "the-connector-token" not in " ".join(spec.command)
    assert spec.network == host.network and spec.restart
    assert spec.labels["io.hostctl.namespace"] == host.settings.namespace
    assert spec.labels["io.hostctl.edge"] == "172.30.0.1", "a moved edge restarts it"
    arguments = run_arguments(spec)
    assert arguments["restart_policy"] == {"Name": "unless-stopped"}
    assert arguments["environment"] == {"TUNNEL_TOKEN": "the-connector-token"}
    assert arguments["network"] == host.network
    # The edge's address on hostctl's network, where Caddy listens (host-gateway would be
    # docker0's address, where it does not).
    assert arguments["extra_hosts"] == {"host.docker.internal": "172.30.0.1"}
    assert arguments["security_opt"] == ["no-new-privileges:true"]


def test_new_apps_default_to_the_connected_domain_and_webhooks_get_theirs(host: Host) -> None:
    assert host.settings.server.domain == "localhost", "hostctl.yml sets no domain"
    assert default_hostname(host, "blog") == "blog.example.com"
    assert webhook_hostname(host) == "hooks.example.com"
    assert webhook_url(host, "blog") == "https://hooks.example.com/hooks/github/blog"


def test_losing_or_damaging_the_state_file_changes_nothing(
    host: Host, double: CloudflareDouble
) -> None:
    host.store.insert_app("blog", ["blog.example.com", "www.example.com"])
    assert sync(host) is not None
    dns, ingress = double.dns(zone(double)), double.ingress(double_tunnel(host))
    for damage in (None, "{not json", '["a list"]', '{"hostnames": 3, "extra": 1}'):
        if damage is None:
            host.settings.paths.cloudflare_state.unlink()
        else:
            host.settings.paths.cloudflare_state.write_text(damage)
        report = sync(host)
        assert report is not None and report.changes == [] and report.error is None
        assert report.hostnames["blog.example.com"] == {"dns": "synced", "ingress": "synced"}
        assert all(s == {"dns": "synced", "ingress": "synced"} for s in report.hostnames.values())
        assert double.dns(zone(double)) == dns
        assert double.ingress(double_tunnel(host)) == ingress
        check_new_hostnames(host, ["blog.example.com"], force=False)  # ours: no conflict
    assert not [m for m, _, _ in double.log if m == "DELETE"]


def test_a_conflict_never_deletes_hostctls_own_record(host: Host, double: CloudflareDouble) -> None:
    host.store.insert_app("blog", ["blog.example.com"])
    sync(host)
    double.add_record(zone(double), "blog.example.com", "TXT", "someone else's")
    report = sync(host)
    assert report is not None
    assert report.hostnames["blog.example.com"]["dns"].startswith("conflict: TXT blog")
    assert cname(host, "blog.example.com") in double.dns(zone(double))
    assert not [m for m, _, _ in double.log if m == "DELETE"]


def test_a_token_error_is_not_retried_by_every_reconcile(
    host: Host, double: CloudflareDouble
) -> None:
    host.store.insert_app("blog", ["blog.example.com"])
    sync(host)
    double.tokens.clear()
    host.store.set_hostnames("blog", ["www.example.com"])
    assert reconcile_cloudflare(host) == []  # the hostnames changed: one attempt
    assert load_state(host.settings).error is not None
    calls = len(double.log)
    assert reconcile_cloudflare(host) == []
    assert reconcile_cloudflare(host) == []
    assert len(double.log) == calls, "a token error waits for `cloudflare sync` or the agent"
    host.store.set_hostnames("blog", ["blog.example.com"])
    reconcile_cloudflare(host)
    assert len(double.log) > calls, "changed hostnames are tried again"
    calls = len(double.log)
    double.tokens[TOKEN] = ALL
    reconcile_cloudflare(host)
    assert len(double.log) == calls
    report = sync(host)  # what `hostctl cloudflare sync` and the agent run
    assert report is not None and report.error is None
    assert load_state(host.settings).complete


def test_an_outage_is_retried_by_the_next_reconcile(host: Host, double: CloudflareDouble) -> None:
    host.store.insert_app("blog", ["blog.example.com"])
    double.fail("GET", "dns_records$", 503, times=1)
    report = sync(host, retries=0)
    assert report is not None and report.pending
    calls = len(double.log)
    reconcile_cloudflare(host)
    assert len(double.log) > calls
    assert load_state(host.settings).complete
