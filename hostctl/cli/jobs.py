"""hostctl jobs: the deploy queue, with timings."""

from __future__ import annotations

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import print_json, table


@click.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--limit", default=50, show_default=True, help="How many of the newest jobs.")
def jobs(app: str | None, as_json: bool, limit: int) -> None:
    """List deploy jobs (of APP, or all), newest first: queued, running, done, failed
    and superseded, with how long each waited and ran."""
    from hostctl.state.queue import jobs as list_jobs

    host = open_host()
    if app is not None:
        host.store.app(app)
    found = list_jobs(host.store, app, limit)
    if as_json:
        print_json([j.to_json() for j in found])
        return
    if not found:
        click.echo("No jobs yet. Deploys (CLI, webhook, git push) show up here.")
        return
    rows = []
    for j in found:
        data = j.to_json()
        note = j.error or (f"superseded by {j.superseded_by}" if j.superseded_by else "")
        rows.append(
            (
                j.id,
                j.app,
                j.status,
                j.trigger,
                (j.ref or "")[:12],
                j.release and f"v{j.release}",
                j.created_at[:19].replace("T", " "),
                "" if data["waited_seconds"] is None else f"{data['waited_seconds']}s",
                "" if data["ran_seconds"] is None else f"{data['ran_seconds']}s",
                note.splitlines()[0][:60] if note else "",
            )
        )
    table(["JOB", "APP", "STATUS", "BY", "REF", "RELEASE", "QUEUED", "WAITED", "RAN", "NOTE"], rows)
