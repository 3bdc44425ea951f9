"""Cloudflare through the real CLI: tunnel, DNS and ingress follow the apps' hostnames.

The API is the double on loopback (CLOUDFLARE_BASE_URL), driven by the real SDK inside
the hostctl subprocess. Apps need the real Docker engine and Caddy.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.adapters.cloudflare import MARKER, TUNNEL_EDIT
from hostctl.cloudflare.connect import IMAGE
from tests.doubles.cloudflare import TOKEN, CloudflareDouble
from tests.harness.env import NAMESPACE, isolated_env, stop_caddy
from tests.harness.hostctl import Hostctl

pytestmark = pytest.mark.integration
FOREIGN_RULE = {"hostname": "legacy.example.com", "service": "http://192.0.2.9:8000"}
CATCH_ALL = {"service": "http_status:404"}


@pytest.fixture
def cli(engine: None, tmp_path: Path, double: CloudflareDouble) -> Iterator[Hostctl]:
    """The CLI with its own root and edge, talking to the double."""
    runner = Hostctl(isolated_env(tmp_path, NAMESPACE) | {"CLOUDFLARE_BASE_URL": double.url})
    yield runner
    stop_caddy(tmp_path)
    subprocess.run(
        ["docker", "rm", "-f", f"{NAMESPACE}-cloudflared"], capture_output=True, check=False
    )


def connect(cli: Hostctl) -> subprocess.CompletedProcess[str]:
    return cli.run("cloudflare", "connect", "--token", TOKEN, "--domain", "example.com")


def image_present() -> bool:
    done = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return done.returncode == 0


def test_lifecycle_keeps_dns_and_ingress_in_step(
    cli: Hostctl, double: CloudflareDouble, app_name: str
) -> None:
    zone = double.add_zone("example.com")
    foreign = {
        ("A", "example.com", "192.0.2.1", False, None),
        ("CNAME", "docs.example.com", "docs.example.net", False, None),
    }
    for kind, name, content, _, _ in foreign:
        double.add_record(zone, name, kind, content)

    first = connect(cli)
    assert "Tunnel hostctl-" in first.stdout and ": created" in first.stdout
    (tunnel,) = double.live_tunnels()
    double.set_ingress(tunnel["id"], [FOREIGN_RULE, CATCH_ALL])
    connection = cli.root.parent / "etc" / "cloudflare.json"
    assert connection.stat().st_mode & 0o777 == 0o600
    assert TOKEN not in first.stdout + first.stderr
    if not image_present():
        assert "cloudflared: not started (image unavailable)" in first.stdout
        assert "cannot be pulled" in first.stderr

    second = connect(cli)
    assert ": reused" in second.stdout
    assert [t["id"] for t in double.live_tunnels()] == [tunnel["id"]]
    target = f"{tunnel['id']}.cfargotunnel.com"
    service = f"http://host.docker.internal:{cli.port}"
    # The agent's webhooks get a hostname of their own, limited to /hooks/ paths.
    hooks = {("CNAME", "hooks.example.com", target, True, MARKER)}
    hooks_rule = {"hostname": "hooks.example.com", "path": "^/hooks/", "service": service}
    foreign |= hooks
    assert double.dns(zone) == foreign
    assert double.ingress(tunnel["id"]) == [FOREIGN_RULE, hooks_rule, CATCH_ALL]
    main, extra = f"{app_name}.example.com", f"www-{app_name}.example.com"
    cli.run("apps", "create", app_name, "--domain", main)
    assert cli.get("hooks.example.com", "/health")[0] == 404, "only /hooks/ reaches the agent"
    assert cli.get("hooks.example.com", "/hooks/github/x")[0] == 502, "routed to the agent"
    assert double.dns(zone) == foreign | {("CNAME", main, target, True, MARKER)}
    assert double.ingress(tunnel["id"]) == [
        FOREIGN_RULE,
        hooks_rule,
        {"hostname": main, "service": service},
        CATCH_ALL,
    ]

    added = cli.run("domains", "add", app_name, extra)
    assert f"Cloudflare: created DNS CNAME {extra}" in added.stdout
    assert cli.get(extra)[0] == 404 or cli.get(extra)[0] >= 200  # Caddy answers for it
    listed = json.loads(cli.run("domains", app_name, "--json").stdout)
    assert listed == [
        {"hostname": main, "dns": "synced", "ingress": "synced"},
        {"hostname": extra, "dns": "synced", "ingress": "synced"},
    ]
    assert double.dns(zone) == foreign | {
        ("CNAME", main, target, True, MARKER),
        ("CNAME", extra, target, True, MARKER),
    }

    cli.run("domains", "remove", app_name, main)
    assert double.dns(zone) == foreign | {("CNAME", extra, target, True, MARKER)}
    assert double.ingress(tunnel["id"]) == [
        FOREIGN_RULE,
        hooks_rule,
        {"hostname": extra, "service": service},
        CATCH_ALL,
    ]
    assert "Nothing to change" in cli.run("cloudflare", "sync").stdout

    destroyed = cli.run("apps", "destroy", app_name, "--yes")
    assert "Cloudflare DNS and ingress" in destroyed.stdout
    assert [t["id"] for t in double.live_tunnels()] == [tunnel["id"]]
    assert double.dns(zone) == foreign
    assert double.ingress(tunnel["id"]) == [FOREIGN_RULE, hooks_rule, CATCH_ALL]
    status = json.loads(cli.run("cloudflare", "status", "--json").stdout)
    assert status["connected"] and status["tunnel_id"] == tunnel["id"]
    assert status["sync"].startswith("synced")


def test_a_foreign_record_stops_apps_create_and_domains_add(
    cli: Hostctl, double: CloudflareDouble, app_name: str
) -> None:
    zone = double.add_zone("example.com")
    taken = f"{app_name}.example.com"
    double.add_record(zone, taken, "A", "192.0.2.50")
    connect(cli)
    before = double.dns(zone)

    refused = cli.run("apps", "create", app_name, "--domain", taken, check=False)
    assert refused.returncode == 1
    assert f"Error: {taken} already has a DNS record hostctl did not make: A {taken}" in (
        refused.stderr
    )
    assert app_name not in cli.run("apps").stdout
    assert double.dns(zone) == before

    cli.run("apps", "create", app_name, "--domain", f"ok-{app_name}.example.com")
    before = double.dns(zone)
    refused = cli.run("domains", "add", app_name, taken, check=False)
    assert refused.returncode == 1 and "192.0.2.50" in refused.stderr
    assert double.dns(zone) == before
    listed = json.loads(cli.run("domains", app_name, "--json").stdout)
    assert [d["hostname"] for d in listed] == [f"ok-{app_name}.example.com"]

    cli.run("domains", "add", app_name, taken, "--force")
    assert ("A", taken, "192.0.2.50", False, None) not in double.dns(zone)
    cli.run("apps", "destroy", app_name, "--yes")


def test_an_outage_during_apps_create_is_repaired_by_sync(
    cli: Hostctl, double: CloudflareDouble, app_name: str
) -> None:
    zone = double.add_zone("example.com")
    connect(cli)
    double.fail("GET", "dns_records$", 503, times=100)
    host = f"{app_name}.example.com"
    cli.run("apps", "create", app_name, "--domain", host)  # succeeds though Cloudflare fails
    assert "pending" in cli.run("domains", app_name).stdout
    failing = cli.run("cloudflare", "sync", check=False)
    assert failing.returncode == 1 and "pending" in failing.stderr
    double.faults.clear()
    repaired = cli.run("cloudflare", "sync")
    assert f"created DNS CNAME {host}" in repaired.stdout
    assert any(r[1] == host for r in double.dns(zone))
    cli.run("apps", "destroy", app_name, "--yes")


def test_read_only_commands_make_no_outside_calls(
    cli: Hostctl, double: CloudflareDouble, app_name: str
) -> None:
    """A sync left pending by an outage waits for the agent, `cloudflare sync` or the next
    hostname change: looking at apps never calls Cloudflare (a slow API slowed every
    command, and a second instance on one box acted on the first one's DNS)."""
    double.add_zone("example.com")
    connect(cli)
    double.fail("GET", "dns_records$", 503, times=100)
    cli.run("apps", "create", app_name, "--domain", f"{app_name}.example.com")
    double.faults.clear()
    double.log.clear()
    for command in (["apps"], ["apps", "info", app_name], ["ps", app_name], ["domains", app_name]):
        cli.run(*command)
    cli.run("releases", app_name)
    cli.run("jobs")
    assert double.log == []
    assert "pending" in cli.run("domains", app_name).stdout
    cli.run("apps", "destroy", app_name, "--yes")


def test_a_saved_connection_keeps_the_api_it_was_made_against(
    cli: Hostctl, double: CloudflareDouble
) -> None:
    double.add_zone("example.com")
    connect(cli)
    cli.env["CLOUDFLARE_BASE_URL"] = "http://127.0.0.1:9/client/v4"  # another endpoint
    double.log.clear()
    cli.run("cloudflare", "sync")
    assert double.log, "the sync went to the endpoint of the environment, not the connection's"
    saved = json.loads((cli.root.parent / "etc" / "cloudflare.json").read_text())
    assert saved["api_url"] == double.url


def test_connect_errors_are_clear(cli: Hostctl, double: CloudflareDouble) -> None:
    double.add_zone("example.com")
    wrong = cli.run(
        "cloudflare", "connect", "--token", "nope", "--domain", "example.com", check=False
    )
    assert wrong.returncode == 1 and "rejected the API token" in wrong.stderr
    missing = connect_to(cli, "example.org")
    assert missing.returncode == 1 and "not a zone in any Cloudflare account" in missing.stderr
    double.tokens["no-tunnel"] = frozenset({"zone:read", "dns:edit"})
    denied = cli.run(
        "cloudflare", "connect", "--token", "no-tunnel", "--domain", "example.com", check=False
    )
    assert denied.returncode == 1 and TUNNEL_EDIT in denied.stderr
    assert not (cli.root.parent / "etc" / "cloudflare.json").exists()


def connect_to(cli: Hostctl, domain: str) -> subprocess.CompletedProcess[str]:
    return cli.run("cloudflare", "connect", "--token", TOKEN, "--domain", domain, check=False)


def test_cloudflared_runs_when_its_image_is_present(cli: Hostctl, double: CloudflareDouble) -> None:
    if not image_present():
        pytest.skip(f"the image {IMAGE} is not on this machine and no registry is reachable")
    double.add_zone("example.com")
    assert "cloudflared: started" in connect(cli).stdout
    inspect = subprocess.run(
        ["docker", "inspect", f"{NAMESPACE}-cloudflared"], capture_output=True, text=True
    )
    (container,) = json.loads(inspect.stdout)
    assert container["Config"]["Cmd"] == ["tunnel", "--no-autoupdate", "run"]
    assert any(e.startswith("TUNNEL_TOKEN=") for e in container["Config"]["Env"])
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert "cloudflared: running" in connect(cli).stdout
