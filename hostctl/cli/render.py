"""Output helpers: Rich where it is a terminal, plain lines otherwise, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hostctl.core.errors import HostctlError


@cache
def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        # Cells hold commit subjects, app output and names: text, never Rich markup.
        grid.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console().print(grid)


class TerminalReporter:
    """Progress for people: steps always; build output dimmed on a terminal."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self.tty = sys.stdout.isatty()

    def step(self, text: str) -> None:
        if self.tty:
            console().print(f"[bold cyan]----->[/] {escape(text)}", markup=True)
        else:
            click.echo(f"-----> {text}")

    def detail(self, text: str) -> None:
        if not self.verbose:
            return
        if self.tty:
            console().print(f"       {text}", style="dim", markup=False)
        else:
            click.echo(f"       {text}")


def key_value(key: str, value: object, width: int) -> None:
    """One ``key  value`` line of a details view; the value is printed as it is."""
    shown = "" if value is None else escape(str(value))
    console().print(f"[bold]{key:>{width}}[/]  {shown}", markup=True)


def masked(value: str) -> str:
    return "********" if value else ""


class ShowByDefault(click.Group):
    """`hostctl env APP` means `hostctl env show APP` (likewise for domains)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


def read_secret(label: str) -> str:
    """A secret typed at a hidden prompt, or piped in on stdin: never an argument, which
    `ps` shows to every user and shell history keeps. One final newline is dropped."""
    if sys.stdin.isatty():
        value = str(click.prompt(label, hide_input=True, err=True))
    else:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not value:
        raise HostctlError(f"no {label} was given", "type it at the prompt, or pipe it in on stdin")
    return value
