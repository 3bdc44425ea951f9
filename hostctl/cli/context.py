"""How a command gets its context: `hostctl.reconcile` decides what to repair first;
this only tells the user what was repaired."""

from __future__ import annotations

import click

from hostctl.cli.render import TerminalReporter
from hostctl.host import Host
from hostctl.queue import agent_running


def open_host(host: Host | None = None, only: str | None = None) -> Host:
    """The host, reconciled: anything a crash left half-done is repaired first (of the
    apps' containers, ``only`` that app's)."""
    from hostctl import reconcile  # imported when used: it loads every feature

    return noted(reconcile.open_host(host, TerminalReporter(verbose=False), only))


def queue_host(app: str | None = None) -> Host:
    """The host for a command that queues a deploy: a running agent reconciles every
    minute and runs the job, so only a deploy run inline reconciles here first (and a
    git push's hook, with an agent, loads no deploy code); a deploy of ``app`` repairs
    that app's containers only, so it takes no longer with more apps on the box."""
    host = Host()
    return host if agent_running(host.settings) else open_host(host, app)


def noted(opened: tuple[Host, list[str]]) -> Host:
    host, repairs = opened
    for repair in repairs:
        click.echo(f"note: repaired {repair}", err=True)
    return host
