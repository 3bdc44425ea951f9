"""hostctl apps: list, create, info, destroy, purge-cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import key_value, masked, print_json, table

if TYPE_CHECKING:
    from hostctl.github.link import Linked


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def apps(ctx: click.Context, as_json: bool) -> None:
    """List apps with their live status, or manage them."""
    if ctx.invoked_subcommand is not None:
        return
    from hostctl.apps.inspect import list_apps

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
@click.option(
    "--repo",
    metavar="REPO",
    help="OWNER/NAME on GitHub, or any git URL (file://, ssh://, https://); pushes deploy.",
)
@click.option("--branch", default="main", show_default=True, help="The branch that deploys.")
def create(app: str, domains: tuple[str, ...], force: bool, repo: str | None, branch: str) -> None:
    """Create an app (its volume, route, default hostname and, with Cloudflare, its DNS).

    With --repo and a GitHub token (`hostctl github connect`), it also adds the repo's
    webhook and a read-only deploy key.
    """
    from hostctl.apps.lifecycle import create_app

    host = open_host()
    created, linked = create_app(host, app, list(domains), force, repo, branch)
    click.echo(f"Created {created.name}: {', '.join(created.hostnames)}")
    if linked is not None:
        show_linked(app, linked)
        click.echo(f"Deploy it with a push to {linked.branch}, or: hostctl deploy {app}")
    else:
        click.echo(f"Deploy it with: hostctl deploy {created.name} PATH_OR_GIT_URL")


def show_linked(app: str, linked: Linked) -> None:
    click.echo(f"Linked {app} to {linked.repo} (branch {linked.branch})")
    for made in linked.made:
        click.echo(f"  GitHub: {made}")
    if linked.todo:
        click.echo(f"Note: {linked.todo}")


@apps.command()
@click.argument("app")
@click.option("--repo", required=True, metavar="REPO", help="OWNER/NAME on GitHub, or a git URL.")
@click.option("--branch", default="main", show_default=True, help="The branch that deploys.")
def connect(app: str, repo: str, branch: str) -> None:
    """Link an existing app to a repository (on GitHub: webhook and deploy key).

    Running it again updates what it made, and never duplicates it.
    """
    from hostctl.github.link import link_app

    show_linked(app, link_app(open_host(), app, repo, branch))


@apps.command()
@click.argument("app")
def disconnect(app: str) -> None:
    """Unlink an app from its repository; removes only the webhook and deploy key
    hostctl created on GitHub. The app keeps serving."""
    from hostctl.github.link import unlink_app

    removed = unlink_app(open_host(), app)
    click.echo(f"Disconnected {app}" + (f": removed {', '.join(removed)}" if removed else ""))


@apps.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option("--show-secrets", is_flag=True, help="Show the webhook secret unmasked.")
def info(app: str, as_json: bool, show_secrets: bool) -> None:
    """Show one app: status, release, URLs, image, source, repository and webhook."""
    from hostctl.apps.inspect import app_info

    details = app_info(open_host(), app)
    if not show_secrets:
        details["webhook_secret"] = masked(details["webhook_secret"])
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
        "repo",
        "branch",
        "webhook_url",
        "webhook_secret",
        "volume",
        "env_keys",
        "created_at",
    ):
        value = details[key]
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        key_value(key, value, 10)


@apps.command("purge-cache")
@click.argument("app")
def purge_cache(app: str) -> None:
    """Start the app's next build from empty build caches: pip's, uv's, npm's and Go's, and
    the virtualenv or node_modules kept from its last build. For a build that went
    wrong in a way only a clean one fixes; the app keeps serving."""
    from hostctl.apps.lifecycle import purge_build_cache
    from hostctl.host import Host

    purge_build_cache(Host(), app)  # state only: nothing to reconcile first
    click.echo(
        f"The next build of {app} starts from empty caches (deploy now: `hostctl deploy {app}`)."
    )


@apps.command()
@click.argument("app")
@click.option("--keep-data", is_flag=True, help="Keep the app's /data volume.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(app: str, keep_data: bool, yes: bool) -> None:
    """Remove an app: containers, route, images and (unless --keep-data) its data."""
    from hostctl.apps.lifecycle import destroy_app

    host = open_host()
    host.store.app(app)
    if not yes:
        what = "its containers, route and images" + ("" if keep_data else " and ALL ITS DATA")
        click.confirm(f"Destroy {app}: {what}?", abort=True)
    removed = destroy_app(host, app, keep_data)
    click.echo(f"Destroyed {app}: removed {', '.join(removed)}")
