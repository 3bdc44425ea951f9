"""hostctl apps: list, create, info, destroy."""

from __future__ import annotations

import click

from hostctl.cli.render import console, open_host, print_json, table


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def apps(ctx: click.Context, as_json: bool) -> None:
    """List apps with their live status, or manage them."""
    if ctx.invoked_subcommand is not None:
        return
    from hostctl.apps import list_apps

    statuses = list_apps(open_host())
    if as_json:
        print_json([s.to_json() for s in statuses])
    elif not statuses:
        click.echo("No apps yet. Create one with `hostctl apps create NAME`.")
    else:
        table(
            ["NAME", "STATUS", "RELEASE", "URLS", "PROCESSES"],
            [
                (
                    s.name,
                    s.status,
                    s.release and f"v{s.release}",
                    " ".join(s.urls),
                    " ".join(f"{p}={n}" for p, n in sorted(s.processes.items())),
                )
                for s in statuses
            ],
        )


@apps.command()
@click.argument("app")
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="HOST",
    help="A hostname for the app (repeatable); replaces the default APP.<domain>.",
)
@click.option(
    "--force", is_flag=True, help="Take over DNS records hostctl did not create (Cloudflare)."
)
def create(app: str, domains: tuple[str, ...], force: bool) -> None:
    """Create an app (its volume, route, default hostname and, with Cloudflare, its DNS)."""
    from hostctl.apps import create_app

    host = open_host()
    created = create_app(host, app, list(domains), force)
    click.echo(f"Created {created.name}: {', '.join(created.hostnames)}")
    click.echo(f"Deploy it with: hostctl deploy {created.name} PATH_OR_GIT_URL")


@apps.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def info(app: str, as_json: bool) -> None:
    """Show one app: status, release, URLs, image, source."""
    from hostctl.apps import app_info

    details = app_info(open_host(), app)
    if as_json:
        print_json(details)
        return
    for key in (
        "name",
        "status",
        "release",
        "urls",
        "hostnames",
        "processes",
        "port",
        "image",
        "commit",
        "source",
        "volume",
        "env_keys",
        "created_at",
    ):
        value = details[key]
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        console().print(f"[bold]{key:>10}[/]  {'' if value is None else value}", markup=True)


@apps.command()
@click.argument("app")
@click.option("--keep-data", is_flag=True, help="Keep the app's /data volume.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(app: str, keep_data: bool, yes: bool) -> None:
    """Remove an app: containers, route, images and (unless --keep-data) its data."""
    from hostctl.apps import destroy_app

    host = open_host()
    host.store.app(app)
    if not yes:
        what = "its containers, route and images" + ("" if keep_data else " and ALL ITS DATA")
        click.confirm(f"Destroy {app}: {what}?", abort=True)
    removed = destroy_app(host, app, keep_data)
    click.echo(f"Destroyed {app}: removed {', '.join(removed)}")
