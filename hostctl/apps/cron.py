"""app.json cron jobs: which are due, and running one as a one-off container of the live
release. A job never runs twice at once: a run holds the job's lock, and a run that
comes due while the last one still goes is skipped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from hostctl.core.locks import try_lock
from hostctl.core.progress import Silent
from hostctl.deploy.oneoff import live_release, run_script
from hostctl.host import Host
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import Release
from hostctl.state.cron import finish_run, start_run

CRON_TIMEOUT = 3600.0  # seconds a run may take before it is stopped


@dataclass(frozen=True)
class DueJob:
    app: str
    schedule: str
    command: str


def jobs_of(release: Release) -> list[tuple[str, str]]:
    """(schedule, command) of each cron job of ``release``."""
    if release.spec is None:
        return []
    return [(job["schedule"], job["command"]) for job in RuntimeSpec.from_json(release.spec).cron]


def due_jobs(host: Host, after: datetime, now: datetime) -> list[DueJob]:
    """The live releases' jobs with a scheduled time in (after, now]."""
    due = []
    for app in host.store.apps():
        if app.current_release is None:
            continue
        for schedule, command in jobs_of(host.store.release(app.name, app.current_release)):
            if next_run(schedule, after) <= now:
                due.append(DueJob(app.name, schedule, command))
    return due


def next_run(schedule: str, now: datetime) -> datetime:
    # with dateutil ~0.5 MiB, which the agent need not hold while no app has a cron job
    from croniter import croniter

    found: datetime = croniter(schedule, now).get_next(datetime)
    return found


def run_cron_job(host: Host, job: DueJob) -> str:
    """Run ``job`` once, unless its last run is still going; says what happened."""
    key = hashlib.sha256(job.command.encode()).hexdigest()[:16]
    with try_lock(host.settings.paths.lock(f"cron-{job.app}-{key}")) as free:
        if not free:
            return f"{job.app}: skipped `{job.command}`: its last run is still going"
        release = live_release(host, job.app)
        run_id = start_run(host.store, job.app, job.schedule, job.command, release.number)
        code, output = 1, ""
        try:
            code, output = run_script(
                host, release, "cron", job.command, Silent(), timeout=CRON_TIMEOUT
            )
        except Exception as exc:
            output = f"did not run: {exc}"
            raise
        finally:
            finish_run(host.store, run_id, code, output)
        return f"{job.app}: `{job.command}` exited with {code}"
