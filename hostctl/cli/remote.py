"""The laptop's side of `--host`: which box, the host-key question, and this terminal
wired to the command on the box."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hostctl.adapters.ssh import HostKey, Terminal
from hostctl.core.paths import LaptopPaths
from hostctl.remote import Target, resolve, run_hostctl, trusting

F = TypeVar("F", bound=Callable[..., Any])


def ssh_target_options(command: F) -> F:
    """The SSH options of the commands that take a TARGET (setup, upgrade)."""
    command = click.option(
        "--trust-host-key",
        is_flag=True,
        help="With a target: accept its host key on first contact without asking.",
    )(command)
    return click.option(
        "-i",
        "--identity",
        type=click.Path(path_type=Path),
        help="With a target: the SSH private key (default: ssh-agent, ~/.ssh).",
    )(command)


def target_of(
    ctx: click.Context, given: str | None = None, identity: Path | None = None
) -> Target | None:
    """The box named by ``given``, --host, HOSTCTL_HOST or the saved default (None: here);
    ``identity`` or -i is the key."""
    params = ctx.find_root().params
    key: Path | None = identity or params.get("identity")
    return resolve(LaptopPaths.from_env(), given or params.get("host"), key)


def forwarding(target: Target, args: list[str]) -> click.Command:
    """A command that runs `hostctl ARGS` on the box and exits with its status."""

    def forward() -> None:
        ctx = click.get_current_context()
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        status = run_hostctl(target, args, this_terminal(), interactive, confirm(ctx))
        ctx.exit(status)

    return click.Command(args[0], callback=forward, add_help_option=False)


def confirm(ctx: click.Context, trust: bool = False) -> Callable[[HostKey], bool] | None:
    """--trust-host-key (``trust``, or the root's), or a question when there is a terminal
    to answer it."""
    ask = ask_about if sys.stdin.isatty() else None
    return trusting(trust or bool(ctx.find_root().params.get("trust_host_key")), ask)


def ask_about(key: HostKey) -> bool:
    click.echo(f"{key.name} is a host hostctl has not met.", err=True)
    click.echo(f"Its {key.type} key fingerprint is {key.fingerprint}.", err=True)
    click.echo(
        "On the box, `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it.", err=True
    )
    return click.confirm("Trust this key and connect?", default=False, err=True)


def this_terminal() -> Terminal:
    """This process's stdout and stderr, and its stdin (when there is one)."""

    def writer(fd: int) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            while data:
                data = data[os.write(fd, data) :]

        return write

    sys.stdout.flush()
    sys.stderr.flush()
    stdin = sys.stdin.fileno() if not sys.stdin.closed else None
    return Terminal(writer(sys.stdout.fileno()), writer(sys.stderr.fileno()), stdin)
