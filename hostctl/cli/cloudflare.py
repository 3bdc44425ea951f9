"""hostctl cloudflare: connect the box to a tunnel, sync DNS and ingress, show status."""

from __future__ import annotations

import click

from hostctl.adapters.cloudflare import DNS_EDIT, TUNNEL_EDIT, ZONE_READ
from hostctl.cli.domains import render_sync
from hostctl.cli.render import console, print_json, read_secret, table


@click.group()
def cloudflare() -> None:
    """Cloudflare Tunnel, DNS records and ingress rules for every app."""


@cloudflare.command()
@click.option(
    "--token",
    envvar="CLOUDFLARE_API_TOKEN",
    help=f"API token with {ZONE_READ}, {DNS_EDIT} and {TUNNEL_EDIT}. Better left out: it"
    " is then read from CLOUDFLARE_API_TOKEN, else a hidden prompt or stdin, so it never"
    " shows in `ps` or shell history.",
)
@click.option("--domain", required=True, help="The domain apps live under, e.g. example.com.")
def connect(token: str | None, domain: str) -> None:
    """Find the zone, create or reuse this box's tunnel, run cloudflared, sync.

    Running it again changes nothing. The token is stored 0600 in
    $HOSTCTL_ETC/cloudflare.json.
    """
    from hostctl.cloudflare.connect import connect as connect_box
    from hostctl.host import Host

    result = connect_box(Host(), token or read_secret("Cloudflare API token"), domain)
    click.echo(f"Zone {result.zone} (account {result.account_id})")
    verb = "created" if result.tunnel_created else "reused"
    click.echo(f"Tunnel {result.tunnel.name} ({result.tunnel.id}): {verb}")
    click.echo(f"cloudflared: {result.connector}")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    render_sync(result.sync)


@cloudflare.command()
def sync() -> None:
    """Make DNS records and ingress rules match the apps' hostnames; print what changed."""
    from hostctl.cloudflare.sync import sync_now
    from hostctl.host import Host

    report = sync_now(Host())
    if not report.changes and not report.error:
        click.echo("Nothing to change: DNS and ingress match the apps.")
    render_sync(report)
    if report.pending:
        click.get_current_context().exit(1)


@cloudflare.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def status(as_json: bool) -> None:
    """Show the zone, the tunnel's health, cloudflared and each hostname's state."""
    from dataclasses import asdict

    from hostctl.cloudflare.connect import status as box_status
    from hostctl.host import Host

    found = box_status(Host())
    if as_json:
        print_json(asdict(found))
        return
    if not found.connected:
        click.echo("Not connected. Run `hostctl cloudflare connect --token T --domain D`.")
        return
    for key in ("domain", "zone", "tunnel_name", "tunnel_id", "tunnel_status", "connector"):
        console().print(f"[bold]{key:>14}[/]  {getattr(found, key)}", markup=True)
    for key in ("ingress_service", "sync"):
        console().print(f"[bold]{key:>14}[/]  {getattr(found, key)}", markup=True)
    if found.hostnames:
        table(
            ["HOSTNAME", "DNS", "INGRESS"],
            [(h, s.get("dns"), s.get("ingress")) for h, s in sorted(found.hostnames.items())],
        )
