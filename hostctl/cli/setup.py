"""`hostctl setup`: provision this box, one line per step; or, given USER@HOST, install
this hostctl on that box and run the same setup there."""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hostctl.cli.remote import ssh_target_options
from hostctl.setup.questions import QUESTIONS, Question
from hostctl.setup.steps import StepResult

if TYPE_CHECKING:
    from hostctl.remote import Target

PREFER_ENV = " Prefer the env var or the prompt: a flag's value shows in the process list."


def question_options(command: Any) -> Any:
    """One option per question, each also read from its env var."""
    for question in reversed(QUESTIONS):
        if question.yes_no:
            option = click.option(
                f"{question.flag}/--no-{question.flag[2:]}",
                envvar=question.env,
                default=None,
                help=f"{question.prompt} (env {question.env}=yes)",
            )
        else:
            secret = PREFER_ENV if question.secret else ""
            option = click.option(
                question.flag,
                envvar=question.env,
                metavar="VALUE",
                help=f"{question.prompt} (env {question.env}).{secret}",
            )
        command = option(command)
    return command


@click.command()
@click.argument("target", required=False, metavar="[USER@HOST[:PORT]|NAME]")
@question_options
@click.option(
    "--cloudflare-account",
    envvar="HOSTCTL_CLOUDFLARE_ACCOUNT",
    metavar="VALUE",
    help="The Cloudflare account (ID or name), when the token sees the domain's zone in "
    "several (asked then otherwise; env HOSTCTL_CLOUDFLARE_ACCOUNT).",
)
@click.option(
    "--cloudflare-zone",
    envvar="HOSTCTL_CLOUDFLARE_ZONE",
    metavar="VALUE",
    help="The Cloudflare zone (ID), when several match the domain (asked then otherwise; "
    "env HOSTCTL_CLOUDFLARE_ZONE).",
)
@click.option(
    "--non-interactive",
    is_flag=True,
    help="Never ask: a question not answered by its flag or env var is skipped.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (each step: done, or what it would do); change nothing.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only report which steps are done; change nothing (exit 1 if one is not).",
)
@ssh_target_options
# How `hostctl setup USER@HOST` hands the box its secrets: a file, read and removed.
@click.option("--secrets-from", type=click.Path(path_type=Path), hidden=True)
@click.pass_context
def setup(
    ctx: click.Context,
    /,
    target: str | None,
    non_interactive: bool,
    dry_run: bool,
    check_only: bool,
    identity: Path | None,
    trust_host_key: bool,
    secrets_from: Path | None,
    **given: Any,
) -> None:
    """Make this box a production host (as root): the Docker engine, the edge (Caddy) and
    the agent as systemd services, the push user for `git push ssh://hostctl@BOX/APP`.

    Refuses any system but Debian 12/13 and Ubuntu 22.04/24.04 (amd64, arm64). Installs
    the packages (docker.io unless Docker CE is there, caddy, git, sudo, openssh-server),
    sets the engine's log rotation, live-restore and cgroupfs driver (so that BuildKit's
    builds can be bounded), runs Caddy as hostctl-caddy.service and the agent as
    hostctl-agent.service (enabled: a reboot brings them back), and adds the system user
    hostctl with its git-shell wrapper, sudoers rule and authorized_keys.
    Without systemd as PID 1 (a container) the service steps are skipped: hostctl starts
    Caddy itself.

    It asks at most six questions (domain, Cloudflare token, Tailscale, GitHub token,
    offsite backups, firewall); Enter skips one, and each is also a flag and an env var.
    Tokens are read without echo. Every step checks first, so a re-run prints one "ok"
    line per step and changes nothing, or resumes after a failure. See docs/setup.md.

    With TARGET (or --host, HOSTCTL_HOST, a saved default), from a laptop: connects over
    SSH as root (or a user with passwordless sudo), installs this hostctl into
    /opt/hostctl/venv on the box and runs `hostctl setup` there, its questions and
    output here; the exit status is the box's. Secrets go to the box in a file, never on
    its command line. With --check it only runs the check there.
    """
    from hostctl.cli.remote import target_of

    box = target_of(ctx, target, identity)
    if box is not None:
        setup_there(ctx, box, check_only, trust_host_key)
        return

    from hostctl.push.shell import USAGE
    from hostctl.setup.box import setup_notes, setup_this_box
    from hostctl.setup.questions import OFFSITE_SECRET_ENV, equivalent_command, resolve

    if secrets_from is not None:
        given = handed_secrets(secrets_from) | {k: v for k, v in given.items() if v}
    looking = check_only or dry_run
    interactive = not (non_interactive or looking) and stdin_is_terminal()
    if interactive and any(given.get(q.field) is None for q in QUESTIONS):
        click.echo("A few questions; Enter skips one (answer it later by running setup again).")
    answers = resolve(given, ask if interactive else None)
    if interactive and answers.offsite and not os.environ.get(OFFSITE_SECRET_ENV):
        os.environ[OFFSITE_SECRET_ENV] = click.prompt(
            "Secret access key of the offsite store", hide_input=True
        ).strip()
    report = functools.partial(show, plan=dry_run)
    picks = Picks()
    setup_this_box(report, answers, check_only, dry_run, picks if interactive else None)
    if looking:
        return
    for note in setup_notes(answers):
        click.echo(note)
    click.echo(f"Add who may push with `hostctl keys add KEY.pub`, then: {USAGE}")
    if interactive:
        account = picks.get("account", answers.cloudflare_account)
        picked = replace(
            answers,
            cloudflare_account=account,
            cloudflare_zone=picks.get("zone", answers.cloudflare_zone),
        )
        print_equivalent(equivalent_command(picked))


def stdin_is_terminal() -> bool:
    import sys

    return sys.stdin.isatty()


def handed_secrets(path: Path) -> dict[str, Any]:
    """The secrets file `hostctl setup USER@HOST` uploaded, read once and removed."""
    from hostctl.setup.questions import HANDED_ENV, read_secrets

    try:
        text = path.read_text()
    finally:
        path.unlink(missing_ok=True)
    by_env = read_secrets(text)
    for name in HANDED_ENV:  # the steps read these from there, as on the laptop
        if name in by_env:
            os.environ[name] = by_env[name]
    return {q.field: by_env[q.env] for q in QUESTIONS if q.env in by_env}


def ask(question: Question) -> Any:
    if question.yes_no:
        return click.confirm(question.prompt, default=False)
    return click.prompt(
        f"{question.prompt} [Enter: skip]",
        default="",
        show_default=False,
        hide_input=question.secret,
    ).strip()


class Picks(dict[str, str]):
    """A numbered pick (Cloudflare's account or zone) when called; what was picked, by
    what was asked, for the equivalent command."""

    def __call__(self, what: str, question: str, options: list[tuple[str, str]]) -> str:
        click.echo(f"{question}:")
        for number, (_, label) in enumerate(options, 1):
            click.echo(f"  {number}. {label}")
        number = click.prompt("Which one", type=click.IntRange(1, len(options)))
        self[what] = options[number - 1][0]
        return self[what]


def print_equivalent(equivalent: tuple[str, list[str]]) -> None:
    command, env = equivalent
    click.echo(f"The same setup without questions:\n  {command}")
    if env:
        click.echo(f"  (with {', '.join(env)} set in its environment)")


def setup_there(ctx: click.Context, box: Target, check_only: bool, trust: bool) -> None:
    """Install and run; a --check only looks (with the hostctl already on the box)."""
    import sys

    from hostctl.cli.remote import confirm, this_terminal
    from hostctl.remote import run_hostctl
    from hostctl.setup.questions import HANDED_ENV
    from hostctl.setup.remote import setup_remote

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    args, secrets = forwarded(ctx)
    secrets |= {name: os.environ[name] for name in HANDED_ENV if os.environ.get(name)}
    if check_only:
        ctx.exit(
            run_hostctl(box, ["setup", *args], this_terminal(), interactive, confirm(ctx, trust))
        )
    if not interactive and "--non-interactive" not in args:
        args.append("--non-interactive")  # nobody here to answer the box's questions
    ctx.exit(setup_remote(box, args, secrets, this_terminal(), confirm(ctx, trust), tell))


# Options that say how to reach the box, not how to set it up.
CONNECTION = {"target", "identity", "trust_host_key", "secrets_from"}


def forwarded(ctx: click.Context) -> tuple[list[str], dict[str, str]]:
    """This command line's setup options (given, or from the environment), for the box;
    and the secrets among them by env var name, which never go on a command line."""
    secret = {q.field: q.env for q in QUESTIONS if q.secret}
    args: list[str] = []
    secrets: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name
        if not isinstance(param, click.Option) or name in CONNECTION or name is None:
            continue
        if ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params[name]
        if name in secret:
            secrets[secret[name]] = str(value)
        elif param.is_flag:
            args += [param.opts[0]] if value else param.secondary_opts[:1]
        elif param.multiple:
            for each in value:
                args += [param.opts[0], str(each)]
        else:
            args += [param.opts[0], str(value)]
    return args, secrets


def tell(text: str) -> None:
    click.echo(f"-----> {text}", err=True)


def show(result: StepResult, plan: bool = False) -> None:
    status = "todo" if plan and result.status == "missing" else result.status
    detail = f"  ({result.detail})" if result.status in ("missing", "skipped") else ""
    click.echo(f"{status:<8} {result.name}{detail}")
