"""hostctl hosts: the boxes this laptop drives, by name."""

from __future__ import annotations

from pathlib import Path

import click

from hostctl.cli.render import table
from hostctl.core.paths import LaptopPaths


@click.group(invoke_without_command=True)
@click.pass_context
def hosts(ctx: click.Context) -> None:
    """List the saved boxes (`--host NAME`), or manage them.

    The default one receives every command given without --host. Saved in
    ~/.config/hostctl/hosts.json (HOSTCTL_CONFIG_DIR moves it), readable by you only.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_hosts)


@hosts.command("list")
def list_hosts() -> None:
    """List the saved boxes; * marks the default."""
    from hostctl.remote import saved_hosts

    saved = saved_hosts(LaptopPaths.from_env())
    if not saved.hosts:
        click.echo("No saved hosts. Add one with `hostctl hosts add NAME root@HOST`.")
        return
    rows = [
        [("* " if name == saved.default else "  ") + name, host.target, host.identity or "-"]
        for name, host in sorted(saved.hosts.items())
    ]
    table(["NAME", "TARGET", "KEY"], rows)


@hosts.command("add")
@click.argument("name")
@click.argument("target", metavar="USER@HOST[:PORT]")
@click.option(
    "-i", "--identity", type=click.Path(path_type=Path), help="The SSH private key to use."
)
@click.option("--default", "make_default", is_flag=True, help="Make it the default box.")
def add(name: str, target: str, identity: Path | None, make_default: bool) -> None:
    """Save a box as NAME (the first one saved is the default)."""
    from hostctl.remote import add_host, saved_hosts

    paths = LaptopPaths.from_env()
    add_host(paths, name, target, identity, make_default)
    default = saved_hosts(paths).default == name
    click.echo(f"Saved {name} ({target})" + (", the default host" if default else ""))


@hosts.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Forget a saved box (its known host key stays)."""
    from hostctl.remote import remove_host

    remove_host(LaptopPaths.from_env(), name)
    click.echo(f"Removed {name}")
