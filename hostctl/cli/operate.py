"""hostctl logs, ps, restart, scale."""

from __future__ import annotations

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import TerminalReporter, table


@click.command()
@click.argument("app")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--process", "process", default="web", show_default=True, help="Process type.")
@click.option("--release", "release", type=int, help="Show the build/deploy log of a release.")
@click.option("-n", "--lines", default=100, show_default=True, help="How many lines back.")
def logs(app: str, follow: bool, process: str, release: int | None, lines: int) -> None:
    """Print an app's output, or a release's build and deploy log."""
    from hostctl.apps.inspect import container_logs, release_log

    host = open_host()
    source = (
        release_log(host, app, release)
        if release
        else container_logs(host, app, process, lines, follow)
    )
    for line in source:
        click.echo(line)


@click.command()
@click.argument("app")
def ps(app: str) -> None:
    """List the app's containers."""
    from hostctl.apps.inspect import processes

    rows = processes(open_host(), app)
    if not rows:
        click.echo(f"{app} has no containers. Deploy it with `hostctl deploy {app} SOURCE`.")
        return
    table(["PROCESS", "RELEASE", "STATUS", "CONTAINER", "STARTED"], rows)


@click.command()
@click.argument("app")
def restart(app: str) -> None:
    """Restart an app's containers with zero downtime (same release)."""
    from hostctl.deploy.releases import restart as run_restart

    run_restart(open_host(), app, TerminalReporter())
    click.echo(f"Restarted {app}")


@click.command()
@click.argument("app")
@click.argument("counts", nargs=-1, metavar="[TYPE=COUNT]...")
def scale(app: str, counts: tuple[str, ...]) -> None:
    """Set how many containers of each process type run, e.g. `web=2 worker=0`.

    With no TYPE=COUNT, print the counts. A type scaled to 0 does not run; the change
    is swapped in with zero downtime and kept for the app's next releases."""
    from hostctl.deploy.releases import scale as run_scale

    now = run_scale(open_host(), app, list(counts), TerminalReporter())
    click.echo(" ".join(f"{process}={count}" for process, count in now.items()))
