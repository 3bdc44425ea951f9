"""hostctl domains: an app's hostnames, with their Cloudflare DNS and ingress state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import ShowByDefault, print_json, table

if TYPE_CHECKING:
    from hostctl.cloudflare.sync import SyncReport


@click.group(cls=ShowByDefault)
def domains() -> None:
    """Show or change an app's hostnames (DNS and tunnel ingress follow)."""


@domains.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def show(app: str, as_json: bool) -> None:
    """List the app's hostnames with their DNS and ingress state ("-": no Cloudflare)."""
    from hostctl.apps.domains import list_domains
    from hostctl.host import Host

    found = list_domains(Host(), app)
    if as_json:
        print_json([{"hostname": d.hostname, "dns": d.dns, "ingress": d.ingress} for d in found])
    else:
        table(["HOSTNAME", "DNS", "INGRESS"], [(d.hostname, d.dns, d.ingress) for d in found])


@domains.command()
@click.argument("app")
@click.argument("hostname")
@click.option(
    "--force",
    is_flag=True,
    help="Replace a DNS record or ingress rule hostctl did not make; allow a multi-level "
    "subdomain (it needs an Advanced Certificate on Cloudflare).",
)
def add(app: str, hostname: str, force: bool) -> None:
    """Add HOSTNAME to APP: its Caddy route, and with Cloudflare its CNAME and ingress."""
    from hostctl.apps.domains import add_domain

    change = add_domain(open_host(), app, hostname, force)
    if change.changed:
        click.echo(f"Added {change.hostname} to {app}: {', '.join(change.hostnames)}")
    else:
        click.echo(f"{change.hostname} already belongs to {app}")
    render_sync(change.sync)


@domains.command()
@click.argument("app")
@click.argument("hostname")
def remove(app: str, hostname: str) -> None:
    """Remove HOSTNAME from APP, with its CNAME and ingress rule."""
    from hostctl.apps.domains import remove_domain

    change = remove_domain(open_host(), app, hostname)
    click.echo(f"Removed {change.hostname} from {app}: {', '.join(change.hostnames)}")
    render_sync(change.sync)


def render_sync(report: SyncReport | None) -> None:
    if report is None:
        return
    for change in report.changes:
        click.echo(f"Cloudflare: {change}")
    for hostname, state in sorted(report.hostnames.items()):
        if not (state.get("dns") == "synced" and state.get("ingress") == "synced"):
            click.echo(
                f"Warning: {hostname}: DNS {state.get('dns')}; ingress {state.get('ingress')}",
                err=True,
            )
    if report.error:
        click.echo(
            f"Warning: Cloudflare sync pending: {report.error}; "
            "run `hostctl cloudflare sync` to retry",
            err=True,
        )
