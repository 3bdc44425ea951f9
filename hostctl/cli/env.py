"""hostctl env: show, set and unset an app's environment (each change is a new release)."""

from __future__ import annotations

import click

from hostctl.cli.context import open_host
from hostctl.cli.deploy import trigger
from hostctl.cli.render import ShowByDefault, TerminalReporter, masked, print_json, table
from hostctl.core.errors import HostctlError


@click.group(cls=ShowByDefault)
def env() -> None:
    """Show or change an app's environment variables."""


@env.command()
@click.argument("app")
@click.option("--reveal", is_flag=True, help="Print the values instead of masking them.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def show(app: str, reveal: bool, as_json: bool) -> None:
    """Print the app's variables, masked unless --reveal."""
    from hostctl.host import Host

    host = Host()
    host.store.app(app)
    values = {k: v if reveal else masked(v) for k, v in host.store.env(app).items()}
    if as_json:
        print_json(values)
    elif not values:
        click.echo(f"{app} has no environment variables. Set one with `hostctl env set {app} K=V`.")
    else:
        table(["KEY", "VALUE"], sorted(values.items()))


def parse_assignments(assignments: tuple[str, ...]) -> dict[str, str]:
    changes = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HostctlError(f"expected KEY=VALUE, got {item.split('=')[0]!r}", "e.g. DEBUG=1")
        changes[key] = value
    return changes


@env.command(name="set")
@click.argument("app")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
def set_(app: str, assignments: tuple[str, ...]) -> None:
    """Set variables and restart the app with them (a new release, zero downtime)."""
    from hostctl.deploy.releases import change_env

    host = open_host()
    changes = parse_assignments(assignments)
    release = change_env(host, app, changes, [], trigger(), TerminalReporter())
    announce(app, sorted(changes), "set", release)


@env.command()
@click.argument("app")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
def unset(app: str, keys: tuple[str, ...]) -> None:
    """Remove variables and restart the app without them (a new release)."""
    from hostctl.deploy.releases import change_env

    host = open_host()
    release = change_env(host, app, {}, list(keys), trigger(), TerminalReporter())
    announce(app, sorted(keys), "unset", release)


def announce(app: str, keys: list[str], verb: str, release: object) -> None:
    number = getattr(release, "number", None)
    if number is None:
        click.echo(f"{verb} {', '.join(keys)} on {app}; it applies at the first deploy")
    else:
        click.echo(f"{verb} {', '.join(keys)} on {app}: release {number} is live")
