"""The Cloudflare adapter with the real SDK against the API double on loopback."""

from __future__ import annotations

import time

import pytest

from hostctl.adapters.cloudflare import (
    DNS_EDIT,
    MARKER,
    TUNNEL_EDIT,
    CloudflareAPI,
    CloudflareUnavailable,
    RecordConflict,
)
from hostctl.cloudflare.connect import ZonePick, pick_zone
from hostctl.core.errors import HostctlError
from tests.doubles.cloudflare import ACCOUNT, TOKEN, CloudflareDouble


def test_zone_found_across_pages_and_from_a_subdomain(double: CloudflareDouble) -> None:
    for n in range(120):
        double.add_zone(f"filler{n}.test")
    zone_id = double.add_zone("example.com")
    api = CloudflareAPI(TOKEN)
    (zone,) = api.find_zones("apps.example.com")
    assert (zone.id, zone.name, zone.account_id, zone.account_name) == (
        zone_id,
        "example.com",
        ACCOUNT,
        "Test account",
    )
    assert api.find_zones("example.org") == []


def test_records_are_read_across_pages(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    for n in range(230):
        double.add_record(zone_id, f"r{n}.example.com", "A", "192.0.2.1")
    records = CloudflareAPI(TOKEN).records(zone_id)
    assert len(records) == 230
    assert len([m for m, p, _ in double.log if p.endswith("dns_records") and m == "GET"]) == 4


def test_wrong_token_is_a_clear_error(double: CloudflareDouble) -> None:
    with pytest.raises(HostctlError) as caught:
        CloudflareAPI("not-a-token").verify_token()
    assert "rejected the API token" in caught.value.message
    assert "9109" in caught.value.message and "not-a-token" not in str(caught.value.hint)


def test_missing_permission_is_named(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    double.tokens["dns-only"] = frozenset({"zone:read", "dns:edit"})
    double.tokens["tunnel-only"] = frozenset({"zone:read", "tunnel:edit"})
    with pytest.raises(HostctlError) as caught:
        CloudflareAPI("dns-only").create_tunnel(ACCOUNT, "box")
    assert TUNNEL_EDIT in caught.value.message
    with pytest.raises(HostctlError) as caught:
        CloudflareAPI("tunnel-only").create_cname(zone_id, "a.example.com", "x.cfargotunnel.com")
    assert DNS_EDIT in caught.value.message
    assert double.records[zone_id] == []


def test_429_is_retried_after_the_delay_it_asks_for(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    double.fail("GET", "dns_records$", 429, times=1, code=971, retry_after="1")
    started = time.monotonic()
    assert CloudflareAPI(TOKEN).records(zone_id) == []
    assert time.monotonic() - started >= 0.9
    assert [s for m, p, s in double.log if p.endswith("dns_records")] == [429, 200]


def test_5xx_is_retried_then_reported_as_unavailable(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    double.fail("GET", "dns_records$", 502, times=1)
    assert CloudflareAPI(TOKEN, max_retries=1).records(zone_id) == []
    double.fail("GET", "dns_records$", 500, times=5)
    with pytest.raises(CloudflareUnavailable):
        CloudflareAPI(TOKEN, max_retries=1).records(zone_id)


def test_unreachable_api_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:9/client/v4")
    with pytest.raises(CloudflareUnavailable):
        CloudflareAPI(TOKEN, max_retries=0, timeout=2).verify_token()


def test_an_existing_record_is_a_conflict(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    double.add_record(zone_id, "blog.example.com", "A", "192.0.2.7")
    with pytest.raises(RecordConflict):
        CloudflareAPI(TOKEN).create_cname(zone_id, "blog.example.com", "x.cfargotunnel.com")


def test_cname_shape_and_delete(double: CloudflareDouble) -> None:
    zone_id = double.add_zone("example.com")
    api = CloudflareAPI(TOKEN)
    api.create_cname(zone_id, "blog.example.com", "t.cfargotunnel.com")
    (record,) = double.records[zone_id]
    assert (record["type"], record["proxied"], record["ttl"], record["comment"]) == (
        "CNAME",
        True,
        1,
        MARKER,
    )
    (found,) = api.records(zone_id)
    api.delete_record(zone_id, found)
    api.delete_record(zone_id, found)  # already gone: fine
    assert double.records[zone_id] == []


def test_tunnel_lifecycle_and_config_kept_verbatim(double: CloudflareDouble) -> None:
    api = CloudflareAPI(TOKEN)
    assert api.find_tunnel(ACCOUNT, "box") is None
    tunnel = api.create_tunnel(ACCOUNT, "box")
    assert api.find_tunnel(ACCOUNT, "box") == tunnel
    assert api.tunnel(ACCOUNT, tunnel.id) == tunnel
    assert api.tunnel(ACCOUNT, "00000000-0000-0000-0000-000000000000") is None
    assert api.tunnel_token(ACCOUNT, tunnel.id)
    assert api.tunnel_config(ACCOUNT, tunnel.id) == {}
    config = {
        "ingress": [
            {
                "hostname": "x.example.com",
                "service": "http://10.0.0.1:8080",
                "originRequest": {"noTLSVerify": True, "httpHostHeader": "x"},
            },
            {"service": "http_status:404"},
        ],
        "warp-routing": {"enabled": False},
    }
    api.put_tunnel_config(ACCOUNT, tunnel.id, config)
    assert api.tunnel_config(ACCOUNT, tunnel.id) == config


def test_zone_pickers_ask_only_when_ambiguous(double: CloudflareDouble) -> None:
    """The same zone name twice in one account (one pending, say): the zone picker."""
    first = double.add_zone("example.com")
    second = double.add_zone("example.com")
    zones = CloudflareAPI(TOKEN).find_zones("example.com")
    with pytest.raises(HostctlError) as raised:
        pick_zone("example.com", zones, ZonePick())
    assert raised.value.message == (
        f"example.com matches 2 zones: example.com ({first}), example.com ({second})"
    )
    assert raised.value.hint == (
        "say which zone with --cloudflare-zone or HOSTCTL_CLOUDFLARE_ZONE (its ID)"
    )
    assert pick_zone("example.com", zones, ZonePick(zone=second)).id == second
    asked = []

    def choose(what: str, question: str, options: list[tuple[str, str]]) -> str:
        asked.append((what, question, options))
        return options[0][0]

    assert pick_zone("example.com", zones, ZonePick(choose=choose)).id == first
    shown = [(first, f"example.com ({first})"), (second, f"example.com ({second})")]
    assert asked == [("zone", "example.com matches 2 zones", shown)]
    # one account, one zone: nothing is asked
    double.add_zone("example.org")
    alone = CloudflareAPI(TOKEN).find_zones("www.example.org")
    never = ZonePick(choose=lambda w, q, o: pytest.fail(f"asked {q}"))
    assert pick_zone("www.example.org", alone, never).name == "example.org"
