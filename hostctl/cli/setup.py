"""`hostctl setup`: provision this box, one line per step; or, given USER@HOST, install
this hostctl on that box and run the same setup there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from hostctl.setup.steps import StepResult

if TYPE_CHECKING:
    from hostctl.remote import Target


@click.command()
@click.argument("target", required=False, metavar="[USER@HOST[:PORT]|NAME]")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only report which steps are done; change nothing (exit 1 if one is not).",
)
@click.option(
    "-i",
    "--identity",
    type=click.Path(path_type=Path),
    help="With a target: the SSH private key (default: ssh-agent, ~/.ssh).",
)
@click.option(
    "--trust-host-key",
    is_flag=True,
    help="With a target: accept its host key on first contact without asking.",
)
@click.pass_context
def setup(
    ctx: click.Context,
    target: str | None,
    check_only: bool,
    identity: Path | None,
    trust_host_key: bool,
) -> None:
    """Set up this box for `git push ssh://hostctl@BOX/APP` (as root).

    Installs sudo and openssh-server when missing, adds the system user hostctl (its
    home root's), a root-owned wrapper that runs this hostctl's git-shell, a sudoers rule
    that lets hostctl run that wrapper as root (and nothing else), and its authorized_keys
    (kept up to date by `hostctl keys`). Every step checks first, so a re-run changes
    nothing, or resumes after a failure.

    With TARGET (or --host, HOSTCTL_HOST, a saved default), from a laptop: connects over
    SSH as root (or a user with passwordless sudo), installs this hostctl into
    /opt/hostctl/venv on the box and runs `hostctl setup` there, its questions and
    output here; the exit status is the box's. With --check it only runs the check
    there.
    """
    from hostctl.cli.remote import target_of

    box = target_of(ctx, target, identity)
    if box is not None:
        setup_there(ctx, box, check_only, trust_host_key)
        return

    from hostctl.push.shell import USAGE
    from hostctl.setup.box import setup_this_box

    setup_this_box(show, check_only)
    if not check_only:
        click.echo(f"Add who may push with `hostctl keys add KEY.pub`, then: {USAGE}")


def setup_there(ctx: click.Context, box: Target, check_only: bool, trust: bool) -> None:
    """Install and run; a --check only looks (with the hostctl already on the box)."""
    import sys

    from hostctl.cli.remote import confirm, this_terminal
    from hostctl.remote import run_hostctl
    from hostctl.setup.remote import setup_remote

    if check_only:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        args = ["setup", *forwarded(ctx)]
        ctx.exit(run_hostctl(box, args, this_terminal(), interactive, confirm(ctx, trust)))
    ctx.exit(setup_remote(box, forwarded(ctx), this_terminal(), confirm(ctx, trust), tell))


# Options that say how to reach the box, not how to set it up.
CONNECTION = {"target", "identity", "trust_host_key"}


def forwarded(ctx: click.Context) -> list[str]:
    """This command line's setup options (given, or from the environment), for the box."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if not isinstance(param, click.Option) or name in CONNECTION or name is None:
            continue
        if ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params[name]
        if param.is_flag:
            args += [param.opts[0]] if value else param.secondary_opts[:1]
        elif param.multiple:
            for each in value:
                args += [param.opts[0], str(each)]
        else:
            args += [param.opts[0], str(value)]
    return args


def tell(text: str) -> None:
    click.echo(f"-----> {text}", err=True)


def show(result: StepResult) -> None:
    missing = f"  ({result.detail})" if result.status == "missing" else ""
    click.echo(f"{result.status:<8} {result.name}{missing}")
