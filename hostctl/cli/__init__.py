"""The hostctl command line: thin click commands over the library."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

from hostctl import __version__
from hostctl.core.errors import HostctlError

# Subcommands live in their own modules and are imported only when used, so that
# `hostctl --version` and `hostctl --help` stay fast.
COMMANDS = {
    "apps": ("hostctl.cli.apps", "apps"),
    "backup": ("hostctl.cli.backup", "backup"),
    "backups": ("hostctl.cli.backup", "backups"),
    "cloudflare": ("hostctl.cli.cloudflare", "cloudflare"),
    "cron": ("hostctl.cli.oneoff", "cron"),
    "deploy": ("hostctl.cli.deploy", "deploy"),
    "doctor": ("hostctl.cli.doctor", "doctor"),
    "domains": ("hostctl.cli.domains", "domains"),
    "env": ("hostctl.cli.env", "env"),
    "git-shell": ("hostctl.cli.push", "git_shell"),
    "git-hook": ("hostctl.cli.push", "git_hook"),
    "github": ("hostctl.cli.github", "github"),
    "hosts": ("hostctl.cli.hosts", "hosts"),
    "jobs": ("hostctl.cli.jobs", "jobs"),
    "keys": ("hostctl.cli.push", "keys"),
    "offsite": ("hostctl.cli.backup", "offsite"),
    "restore": ("hostctl.cli.backup", "restore"),
    "serve": ("hostctl.cli.agent", "serve"),
    "logs": ("hostctl.cli.operate", "logs"),
    "ps": ("hostctl.cli.operate", "ps"),
    "releases": ("hostctl.cli.deploy", "releases"),
    "restart": ("hostctl.cli.operate", "restart"),
    "rollback": ("hostctl.cli.deploy", "rollback"),
    "run": ("hostctl.cli.oneoff", "run"),
    "scale": ("hostctl.cli.operate", "scale"),
    "setup": ("hostctl.cli.setup", "setup"),
    "status": ("hostctl.cli.doctor", "status"),
    "upgrade": ("hostctl.cli.upgrade", "upgrade"),
}
# Commands that always run here: they manage this machine's list of boxes, or reach the
# box themselves (`hostctl setup USER@HOST`, `hostctl upgrade USER@HOST`).
# git-shell and git-hook are run by sshd and git on the box itself: never forwarded.
LOCAL_ONLY = {"hosts", "setup", "upgrade", "git-shell", "git-hook"}


class HostctlGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """With --host, HOSTCTL_HOST or a saved default, the command line goes to the box."""
        if args and args[0] not in LOCAL_ONLY:
            from hostctl.cli.remote import forwarding, target_of

            target = target_of(ctx)
            if target is not None:
                return args[0], forwarding(target, args), []
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HostctlError as exc:
            if debugging(ctx):
                raise
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # the last line of defence: no traceback unless --debug
            if debugging(ctx):
                raise
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
            click.echo("Hint: run again with --debug for the traceback, and report it", err=True)
            ctx.exit(1)


def debugging(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug")) or os.environ.get("HOSTCTL_DEBUG") == "1"


@click.group(cls=HostctlGroup)
@click.version_option(__version__, prog_name="hostctl")
@click.option("--debug", is_flag=True, help="Show tracebacks (also HOSTCTL_DEBUG=1).")
@click.option(
    "--host",
    metavar="USER@HOST[:PORT]|NAME",
    envvar="HOSTCTL_HOST",
    help="Run the command on this box over SSH (also HOSTCTL_HOST; default: the saved "
    "default host, see `hostctl hosts`).",
)
@click.option(
    "-i",
    "--identity",
    type=click.Path(path_type=Path),
    help="The SSH private key for --host (default: ssh-agent, ~/.ssh).",
)
@click.option(
    "--trust-host-key",
    is_flag=True,
    help="Accept the box's host key on first contact without asking (for scripts).",
)
@click.pass_context
def cli(
    ctx: click.Context, debug: bool, host: str | None, identity: Path | None, trust_host_key: bool
) -> None:
    """Push-to-deploy for many small apps on one Linux server.

    State lives under HOSTCTL_ROOT (default /var/lib/hostctl), server config under
    HOSTCTL_ETC (default /etc/hostctl); HOSTCTL_HTTP_PORT sets the edge port. From a
    laptop, --host runs any command on the box over SSH (see docs/remote.md).
    """
    ctx.obj = {"debug": debug, "host": host, "identity": identity, "trust": trust_host_key}


def main() -> None:
    cli(prog_name="hostctl")


if __name__ == "__main__":
    main()
