"""hostctl github: the token hostctl uses for webhooks, deploy keys and commit statuses."""

from __future__ import annotations

import click

from hostctl.adapters.github import DEFAULT_API_URL, DEPLOY_KEYS, STATUSES, WEBHOOKS
from hostctl.cli.render import console, print_json, read_secret


@click.group()
def github() -> None:
    """Connect the box to GitHub: push webhooks, read-only deploy keys, commit statuses."""


@github.command()
@click.option(
    "--token",
    envvar="HOSTCTL_GITHUB_TOKEN",
    help=f"A fine-grained token with {WEBHOOKS}, {DEPLOY_KEYS} and {STATUSES} on the apps' "
    "repositories. Better left out: it is then read from HOSTCTL_GITHUB_TOKEN, else a"
    " hidden prompt or stdin, so it never shows in `ps` or shell history.",
)
@click.option(
    "--api-url",
    default=DEFAULT_API_URL,
    show_default=True,
    help="GitHub Enterprise Server: https://HOST/api/v3.",
)
def connect(token: str | None, api_url: str) -> None:
    """Check the token with GitHub and save it (0600, in $HOSTCTL_ETC/github.json)."""
    from hostctl.github.connection import connect_github
    from hostctl.host import Host

    login = connect_github(Host(), token or read_secret("GitHub token"), api_url)
    click.echo(f"Connected to GitHub as {login}.")


@github.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def status(as_json: bool) -> None:
    """Show the API URL, the (masked) token and whether GitHub still accepts it."""
    from dataclasses import asdict

    from rich.markup import escape

    from hostctl.github.connection import github_status
    from hostctl.settings import Settings

    found = github_status(Settings.from_env())
    if as_json:
        print_json(asdict(found))
        return
    if not found.connected:
        click.echo("Not connected. Run `hostctl github connect --token TOKEN`.")
        return
    rows = [("api_url", found.api_url), ("token", found.token)]
    rows.append(("login", found.login) if found.login else ("error", found.error))
    for key, value in rows:
        console().print(f"[bold]{key:>8}[/]  {escape(str(value))}", markup=True)
    if found.error:
        click.get_current_context().exit(1)


@github.command()
def disconnect() -> None:
    """Forget the token. Webhooks and deploy keys on GitHub stay until each app is
    disconnected (`hostctl apps disconnect APP`, which needs the token)."""
    from hostctl.github.connection import disconnect_github
    from hostctl.host import Host

    done = disconnect_github(Host())
    click.echo("Disconnected from GitHub." if done.removed else "Not connected.")
    if done.linked_apps:
        click.echo(
            "Warning: these apps still have a webhook and deploy key on GitHub: "
            f"{', '.join(done.linked_apps)}. Connect again and run "
            "`hostctl apps disconnect APP` to remove them.",
            err=True,
        )
