"""`hostctl upgrade`: the new hostctl installed, the agent restarted, then doctor; or,
given USER@HOST, this hostctl's wheel installed on that box the way setup installs it,
and the same there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hostctl.cli.remote import ssh_target_options
from hostctl.core.errors import HostctlError


@click.command()
@click.argument("target", required=False, metavar="[USER@HOST[:PORT]|NAME]")
@click.option(
    "--wheel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="On the box: install this hostctl wheel.",
)
@click.option(
    "--from",
    "source",
    metavar="SPEC",
    help="On the box: install what pip makes a wheel of (a git URL or a source tree of "
    "hostctl). Not a name on the package index: its `hostctl` is another project.",
)
@ssh_target_options
# `hostctl upgrade USER@HOST` installed the wheel already: restart the agent, then doctor.
@click.option("--installed", is_flag=True, hidden=True)
@click.pass_context
def upgrade(
    ctx: click.Context,
    target: str | None,
    wheel: Path | None,
    source: str | None,
    identity: Path | None,
    trust_host_key: bool,
    installed: bool,
) -> None:
    """Install a new hostctl on this box (as root), restart the agent, and end with
    `hostctl doctor`, whose exit status this is.

    On the box, --wheel or --from says what to install (never the package index's
    `hostctl`: another project); it is checked to be this hostctl before anything of it
    is installed. hostctl goes into the virtualenv it runs from (/opt/hostctl/venv, where
    install.sh and setup put it); upgrading to the version installed reinstalls it and
    says so. The new hostctl then does the rest.
    hostctl-agent.service is restarted (when setup made it a service) and must answer
    /health; running apps and the edge are left alone.

    With TARGET (or --host, HOSTCTL_HOST, a saved default), from a laptop: uploads this
    hostctl's wheel and installs it on the box as `hostctl setup USER@HOST` does, then
    restarts the agent and runs doctor there; the exit status is the box's.
    """
    from hostctl.cli.remote import confirm, target_of, this_terminal
    from hostctl.cli.setup import tell

    box = target_of(ctx, target, identity)
    if box is not None:
        from hostctl.setup.remote import upgrade_remote

        if wheel or source:
            raise HostctlError(
                "--wheel and --from are for `hostctl upgrade` run on the box",
                "from a laptop, this hostctl's own wheel goes to the box: drop them",
            )
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        terminal = this_terminal()
        ctx.exit(upgrade_remote(box, terminal, interactive, confirm(ctx, trust_host_key), tell))

    from hostctl.settings import Settings
    from hostctl.setup.remote import version_change
    from hostctl.setup.upgrade import (
        hand_over,
        install,
        installed_version,
        no_source,
        restart_agent,
        this_venv,
    )

    if wheel and source:
        raise HostctlError("give --wheel or --from, not both", "see `hostctl upgrade --help`")
    if not (wheel or source or installed):
        raise no_source()
    if os.geteuid() != 0:
        raise HostctlError(
            "hostctl upgrade must run as root: it installs hostctl and restarts its service",
            "run it as root (e.g. `sudo hostctl upgrade`)",
        )
    venv = this_venv()
    if not installed:
        before = installed_version(venv)
        after = install(venv, str(wheel.resolve()) if wheel else str(source), before, tell)
        tell(version_change(before, after))
        # this process has the old code loaded: the new one restarts the agent and doctors
        hand_over(venv, ["upgrade", "--installed"])
    restart_agent(Settings.from_env(), tell)
    tell("hostctl doctor")
    # the new hostctl's doctor, whose exit status is the upgrade's
    hand_over(venv, ["doctor"])
