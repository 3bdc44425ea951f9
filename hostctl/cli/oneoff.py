"""hostctl run and hostctl cron: one-off containers of an app's live release."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import table

SHOWN_LINES = 20  # of each job's last output


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("app")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-d", "--detach", is_flag=True, help="Start it and return; for long jobs.")
def run(app: str, command: tuple[str, ...], detach: bool) -> None:
    """Run COMMAND once in a container of the app's live release.

    The container has the release's image, environment and /data; it gets a TTY when
    this terminal is one, and hostctl exits with the command's exit status:
    `hostctl run blog -- python manage.py migrate`. Put `--` before a command that has
    options of its own. With --detach, the container's name is printed and its output
    is read with `docker logs NAME`.
    """
    from hostctl.deploy.oneoff import run_attached, run_detached

    host = open_host()
    if detach:
        click.echo(run_detached(host, app, list(command)))
        return
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    sys.exit(run_attached(host, app, list(command), tty))


@click.command()
@click.argument("app")
def cron(app: str) -> None:
    """Show the app's cron jobs (app.json `cron`), their last runs and output.

    The agent (`hostctl serve`) runs each job on its schedule, in UTC, as a one-off
    container of the live release; a run due while the last one still goes is skipped.
    """
    from hostctl.apps.cron import jobs_of, next_run
    from hostctl.state.cron import runs

    host = open_host()
    found = host.store.app(app)
    jobs = jobs_of(host.store.release(app, found.current_release)) if found.current_release else []
    if not jobs:
        click.echo(f'{app} has no cron jobs. Add them to app.json: "cron": [{{...}}].')
        return
    now = datetime.now(UTC)
    rows, last_runs = [], []
    for schedule, command in jobs:
        done = runs(host.store, app, command)
        last = done[0] if done else None
        status = "never run"
        if last is not None:
            status = {None: "running", -1: "interrupted"}.get(
                last.exit_code, f"exit {last.exit_code}"
            )
            status = f"{status} ({last.started_at[:19]})"
            last_runs.append((command, last.output))
        rows.append([schedule, command, next_run(schedule, now).isoformat()[:19], status])
    table(["SCHEDULE", "COMMAND", "NEXT RUN (UTC)", "LAST RUN"], rows)
    for command, output in last_runs:
        click.echo(f"\nLast output of `{command}`:")
        for line in output.splitlines()[-SHOWN_LINES:] or ["(none)"]:
            click.echo(f"  {line}")
