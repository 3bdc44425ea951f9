"""hostctl env: show, set and unset an app's environment (each change is a new release)."""

from __future__ import annotations

import click

from hostctl.cli.context import open_host
from hostctl.cli.deploy import trigger
from hostctl.cli.render import (
    ShowByDefault,
    TerminalReporter,
    masked,
    print_json,
    read_secret,
    table,
)
from hostctl.core.errors import HostctlError
from hostctl.core.names import check_env_key


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
    """KEY=VALUE pairs; one bare KEY takes its value from a hidden prompt or stdin."""
    changes = {}
    bare = [item for item in assignments if "=" not in item]
    if len(bare) > 1:
        raise HostctlError(
            f"only one KEY can take its value from stdin, got {', '.join(bare)}",
            "set them one at a time: `hostctl env set APP KEY < value.txt`",
        )
    for item in assignments:
        key, sep, value = item.partition("=")
        if not key:
            raise HostctlError("expected KEY=VALUE or KEY, got a value with no key", "e.g. DEBUG=1")
        changes[key] = value if sep else ""
    for key in bare:
        check_env_key(key)  # before asking for a value
        changes[key] = read_secret(f"value of {key}")
    return changes


@env.command(name="set")
@click.argument("app")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE... | KEY")
def set_(app: str, assignments: tuple[str, ...]) -> None:
    """Set variables and restart the app with them (a new release, zero downtime).

    For a secret, give only its KEY: the value is read from a hidden prompt, or from
    stdin (`hostctl env set blog API_TOKEN < token.txt`), so it never shows in `ps` or
    in shell history. KEY=VALUE is fine for values that are not secret.
    """
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
