"""How a command gets its context: `hostctl.reconcile` decides what to repair first;
this only tells the user what was repaired."""

from __future__ import annotations

import click

from hostctl import reconcile
from hostctl.cli.render import TerminalReporter
from hostctl.host import Host


def open_host(host: Host | None = None) -> Host:
    """The host, reconciled: anything a crash left half-done is repaired first."""
    return noted(reconcile.open_host(host, TerminalReporter(verbose=False)))


def queue_host() -> Host:
    """The host for a command that queues a deploy (reconciled only when no agent runs)."""
    return noted(reconcile.queue_host(TerminalReporter(verbose=False)))


def noted(opened: tuple[Host, list[str]]) -> Host:
    host, repairs = opened
    for repair in repairs:
        click.echo(f"note: repaired {repair}", err=True)
    return host
