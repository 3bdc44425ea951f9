"""hostctl github: how hostctl reaches GitHub for pushes, fetches and commit statuses: a
token (a webhook and a deploy key per repository) or a GitHub App (nothing per
repository)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hostctl.adapters.github import DEFAULT_API_URL, DEPLOY_KEYS, STATUSES, WEBHOOKS
from hostctl.cli.render import console, print_json, read_secret
from hostctl.github import API_URL_ENV

if TYPE_CHECKING:
    from hostctl.host import Host


@click.group()
def github() -> None:
    """Connect the box to GitHub: push webhooks, read-only fetches, commit statuses."""


@github.command()
@click.option(
    "--app",
    "as_app",
    is_flag=True,
    help="Make a GitHub App instead (GitHub's manifest flow): open the printed URL in a "
    "browser; the agent must be running and reachable at its public webhook URL.",
)
@click.option("--org", help="With --app: make the App for this organization.")
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=900,
    show_default=True,
    help="With --app: seconds to wait for the App to be made.",
)
@click.option(
    "--token",
    envvar="HOSTCTL_GITHUB_TOKEN",
    help=f"A fine-grained token with {WEBHOOKS}, {DEPLOY_KEYS} and {STATUSES} on the apps' "
    "repositories. Better left out: it is then read from HOSTCTL_GITHUB_TOKEN, else a"
    " hidden prompt or stdin, so it never shows in `ps` or shell history.",
)
@click.option(
    "--api-url",
    envvar=API_URL_ENV,
    default=DEFAULT_API_URL,
    show_default=True,
    help=f"GitHub Enterprise Server: https://HOST/api/v3 (env {API_URL_ENV}).",
)
def connect(as_app: bool, org: str | None, timeout: int, token: str | None, api_url: str) -> None:
    """Check the token with GitHub and save it (0600, in $HOSTCTL_ETC/github.json); or,
    with --app, make a GitHub App and save its id, webhook secret and private key."""
    from hostctl.github.connection import connect_github, linked_through_app
    from hostctl.host import Host

    if as_app:
        connect_app(Host(), org, timeout, token, api_url)
        return
    if org:
        raise click.UsageError("--org goes with --app")
    host = Host()
    login = connect_github(host, token or read_secret("GitHub token"), api_url)
    click.echo(f"Connected to GitHub as {login}.")
    warn_unlinked(linked_through_app(host.store))


def warn_unlinked(apps: tuple[str, ...]) -> None:
    if apps:
        click.echo(
            "Warning: these apps were linked through the GitHub App and no longer fetch or "
            f"deploy on push: {', '.join(apps)}. Link each again: "
            "`hostctl apps connect APP --repo OWNER/NAME`.",
            err=True,
        )


def connect_app(host: Host, org: str | None, timeout: int, token: str | None, api_url: str) -> None:
    from hostctl.adapters.github import check_api_url
    from hostctl.github.app import install_url, start_setup, wait_for_setup

    if token:
        raise click.UsageError("--app and --token are two ways to connect: pick one")
    started = start_setup(host, check_api_url(api_url), org)
    click.echo("Open this URL in a browser to create the GitHub App (valid once, for an hour):")
    click.echo(f"  {started.url}")
    if started.warning:
        click.echo(f"Warning: {started.warning}", err=True)
    click.echo("Waiting for GitHub…", err=True)
    made = wait_for_setup(host, started.state, timeout)
    assert made.app is not None
    click.echo(f"Created the GitHub App {made.app.slug}. Install it on your repositories:")
    click.echo(f"  {install_url(made)}")


@github.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def status(as_json: bool) -> None:
    """Show the mode (token or app), the API URL, the (masked) token or the App and its
    installations, and whether GitHub still accepts them."""
    from dataclasses import asdict

    from rich.markup import escape

    from hostctl.github.connection import github_status
    from hostctl.host import Host

    host = Host()
    found = github_status(host.settings, host.store)
    if as_json:
        print_json(asdict(found))
        return
    if not found.connected:
        click.echo("Not connected. Run `hostctl github connect --token TOKEN`.")
        return
    rows = [("api_url", found.api_url)]
    if found.mode == "app":
        rows += [("mode", "GitHub App"), ("app", found.app), ("owner", found.login)]
        rows.append(("install", found.install_url))
        shown = [i.describe() for i in found.installations] or ["nowhere yet"]
        rows += [("installed", i) for i in shown]
        if found.error:
            rows.append(("error", found.error))
    else:
        rows.append(("token", found.token))
        rows.append(("login", found.login) if found.login else ("error", found.error))
    for key, value in rows:
        console().print(f"[bold]{key:>8}[/]  {escape(str(value))}", markup=True)
    if found.error:
        click.get_current_context().exit(1)


@github.command()
def disconnect() -> None:
    """Forget the token, or the GitHub App's key. Webhooks and deploy keys on GitHub stay
    until each app is disconnected (`hostctl apps disconnect APP`, which needs the token);
    a GitHub App is deleted on GitHub, at the URL printed."""
    from hostctl.github.connection import disconnect_github
    from hostctl.host import Host

    done = disconnect_github(Host())
    click.echo("Disconnected from GitHub." if done.removed else "Not connected.")
    if done.delete_url:
        click.echo(f"Delete the GitHub App on GitHub (hostctl cannot): {done.delete_url}")
    if done.linked_apps:
        click.echo(
            "Warning: these apps still have a webhook and deploy key on GitHub: "
            f"{', '.join(done.linked_apps)}. Connect again and run "
            "`hostctl apps disconnect APP` to remove them.",
            err=True,
        )
    warn_unlinked(done.through_app)
