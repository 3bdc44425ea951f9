"""hostctl jobs: the deploy queue, with timings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import print_json, table
from hostctl.state.queue import Job


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def job_json(found: Job) -> dict[str, Any]:
    return {
        "id": found.id,
        "app": found.app,
        "kind": found.kind,
        "status": found.status,
        "trigger": found.trigger,
        "source": found.source,
        "ref": found.ref,
        "attempts": found.attempts,
        "release": found.release,
        "superseded_by": found.superseded_by,
        "error": found.error,
        "created_at": found.created_at,
        "started_at": found.started_at,
        "finished_at": found.finished_at,
        "waited_seconds": seconds_between(found.created_at, found.started_at),
        "ran_seconds": seconds_between(found.started_at, found.finished_at),
    }


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
        print_json([job_json(j) for j in found])
        return
    if not found:
        click.echo("No jobs yet. Deploys (CLI, webhook, git push) show up here.")
        return
    rows = []
    for j in found:
        data = job_json(j)
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
