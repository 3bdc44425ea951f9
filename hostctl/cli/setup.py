"""`hostctl setup`: provision this box, one line per step."""

from __future__ import annotations

import click

from hostctl.setup.steps import StepResult


@click.command()
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only report which steps are done; change nothing (exit 1 if one is not).",
)
def setup(check_only: bool) -> None:
    """Set up this box for `git push ssh://hostctl@BOX/APP` (as root).

    Installs sudo and openssh-server when missing, adds the system user hostctl (its
    home root's), a root-owned wrapper that runs this hostctl's git-shell, a sudoers rule
    that lets hostctl run that wrapper as root (and nothing else), and its authorized_keys
    (kept up to date by `hostctl keys`). Every step checks first, so a re-run changes
    nothing, or resumes after a failure.
    """
    from hostctl.push.shell import USAGE
    from hostctl.setup.box import setup_this_box

    setup_this_box(show, check_only)
    if not check_only:
        click.echo(f"Add who may push with `hostctl keys add KEY.pub`, then: {USAGE}")


def show(result: StepResult) -> None:
    missing = f"  ({result.detail})" if result.status == "missing" else ""
    click.echo(f"{result.status:<8} {result.name}{missing}")
