"""The job queue and webhook deliveries, in the state database.

A job is claimed by setting it running with a lease (owner + expiry) in one UPDATE, so
two workers can never both take it. Jobs of one app run one at a time: a job is only
claimed when no other job of its app runs. A new deploy supersedes the app's queued
ones, so a burst of pushes builds at most the one running and the newest.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hostctl.adapters.system import hostname, process_start
from hostctl.core.errors import HostctlError
from hostctl.state.store import Store, now

TERMINAL = ("done", "failed", "superseded", "skipped")
LEASE_SECONDS = 30.0
MAX_ATTEMPTS = 2  # a job cut short by a dead worker is retried once


@dataclass(frozen=True)
class Job:
    id: int
    app: str
    kind: str
    status: str
    trigger: str
    source: str | None
    ref: str | None
    attempts: int
    lease_owner: str | None
    lease_expires: float | None
    superseded_by: int | None
    release: int | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        """What `hostctl jobs --json` prints (not the lease), with how long the job waited
        and ran."""
        shown = {k: v for k, v in asdict(self).items() if not k.startswith("lease_")}
        return shown | {
            "waited_seconds": seconds_between(self.created_at, self.started_at),
            "ran_seconds": seconds_between(self.started_at, self.finished_at),
        }


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def lease_owner() -> str:
    """Who holds a lease: this host, process and the process's start, so a dead local
    owner is seen at once, even when a reboot gave its pid to another process."""
    pid = os.getpid()
    return f"{hostname()}:{pid}:{process_start(pid)}"


def owner_state(owner: str | None) -> str:
    """'dead' or 'alive' for an owner on this box (by its process), else 'unknown'."""
    if not owner:
        return "dead"
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != hostname() or not pid.isdigit():
        return "unknown"  # another machine's lease: only its expiry tells
    now_started = process_start(int(pid))
    if now_started is None:
        return "dead"
    return "alive" if started in ("", now_started) else "dead"  # "": a lease from before


def active_job_counts(store: Store) -> dict[str, int]:
    """How many jobs are queued and running (a status missing from the dict has none)."""
    rows = store.db.execute(
        "SELECT status, COUNT(*) FROM jobs WHERE status IN ('queued', 'running') GROUP BY status"
    )
    return {str(status): int(count) for status, count in rows}


def enqueue(store: Store, app: str, trigger: str, source: str | None, ref: str | None) -> Job:
    """Queue a deploy; the app's older queued deploys are superseded by it."""
    with store.transaction() as db:
        job_id = insert_deploy(db, app, trigger, source, ref)
    return job(store, job_id)


def insert_deploy(
    db: sqlite3.Connection, app: str, trigger: str, source: str | None, ref: str | None
) -> int:
    cursor = db.execute(
        "INSERT INTO jobs (app, kind, status, trigger, source, ref, created_at)"
        " VALUES (?, 'deploy', 'queued', ?, ?, ?, ?)",
        (app, trigger, source, ref, now()),
    )
    job_id = int(cursor.lastrowid or 0)
    db.execute(
        "UPDATE jobs SET status = 'superseded', superseded_by = ?, finished_at = ?"
        " WHERE app = ? AND status = 'queued' AND id != ?",
        (job_id, now(), app, job_id),
    )
    return job_id


def find_job(store: Store, job_id: int) -> Job | None:
    row = store.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return job_from_row(row) if row else None


def job(store: Store, job_id: int) -> Job:
    found = find_job(store, job_id)
    if found is None:
        raise HostctlError(f"no job {job_id}", "list jobs with `hostctl jobs`")
    return found


def jobs(store: Store, app: str | None = None, limit: int = 50) -> list[Job]:
    if app is None:
        rows = store.db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = store.db.execute(
            "SELECT * FROM jobs WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
        )
    return [job_from_row(r) for r in rows]


CLAIMABLE = (
    "status = 'queued' AND NOT EXISTS"
    " (SELECT 1 FROM jobs AS other WHERE other.app = jobs.app AND other.status = 'running')"
)


def claim(store: Store, owner: str, job_id: int | None = None) -> Job | None:
    """Take the given job, or the oldest claimable one; None when there is none."""
    with store.transaction() as db:
        if job_id is None:
            row = db.execute(
                f"SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY id LIMIT 1"  # noqa: S608
            ).fetchone()
        else:
            row = db.execute(
                f"SELECT id FROM jobs WHERE id = ? AND {CLAIMABLE}",  # noqa: S608
                (job_id,),
            ).fetchone()
        if row is None:
            return None
        db.execute(
            "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires = ?,"
            " attempts = attempts + 1, started_at = ?, error = NULL WHERE id = ?",
            (owner, time.time() + LEASE_SECONDS, now(), row["id"]),
        )
    return job(store, int(row["id"]))


def renew_lease(store: Store, job_id: int, owner: str) -> bool:
    cursor = store.db.execute(
        "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
        (time.time() + LEASE_SECONDS, job_id, owner),
    )
    return cursor.rowcount == 1


def finish(
    store: Store, job_id: int, status: str, error: str | None = None, release: int | None = None
) -> None:
    store.db.execute(
        "UPDATE jobs SET status = ?, error = ?, release = COALESCE(?, release), finished_at = ?,"
        " lease_owner = NULL, lease_expires = NULL WHERE id = ?",
        (status, error, release, now(), job_id),
    )


def requeue(store: Store, job_id: int) -> None:
    """Give a job back (its worker is stopping before it did anything lasting). A newer
    deploy of the app, queued meanwhile, wins: then this one is superseded instead."""
    with store.transaction() as db:
        db.execute(
            "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0),"
            " lease_owner = NULL, lease_expires = NULL, started_at = NULL WHERE id = ?",
            (job_id,),
        )
        supersede_if_newer(db, job_id)


def supersede_if_newer(db: sqlite3.Connection, job_id: int) -> bool:
    """An old job going back to the queue must not later deploy over a newer one."""
    newer = db.execute(
        "SELECT MAX(other.id) FROM jobs AS other JOIN jobs AS this ON this.id = ?"
        " WHERE other.app = this.app AND other.id > this.id",
        (job_id,),
    ).fetchone()[0]
    if newer is None:
        return False
    db.execute(
        "UPDATE jobs SET status = 'superseded', superseded_by = ?, finished_at = ? WHERE id = ?",
        (newer, now(), job_id),
    )
    return True


def recover_jobs(store: Store) -> list[str]:
    """Running jobs whose worker died: retried once, then failed. Returns what was done.

    A worker on this box is judged by its process, so a live one is never robbed of its job
    (even if a lease renewal was missed); one elsewhere, by its lease's expiry.
    """
    done = []
    rows = store.db.execute("SELECT * FROM jobs WHERE status = 'running'").fetchall()
    for found in map(job_from_row, rows):
        state = owner_state(found.lease_owner)
        expired = (found.lease_expires or 0) < time.time()
        if state == "alive" or (state == "unknown" and not expired):
            continue
        with store.transaction() as db:
            current = db.execute(
                "SELECT lease_owner FROM jobs WHERE id = ? AND status = 'running'", (found.id,)
            ).fetchone()
            if current is None or current["lease_owner"] != found.lease_owner:
                continue  # someone else recovered or finished it meanwhile
            if found.attempts < MAX_ATTEMPTS:
                db.execute(
                    "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL"
                    " WHERE id = ?",
                    (found.id,),
                )
                if supersede_if_newer(db, found.id):
                    done.append(
                        f"{found.app}: job {found.id} was cut short; a newer one replaces it"
                    )
                else:
                    done.append(f"{found.app}: job {found.id} was cut short; it will run again")
            else:
                db.execute(
                    "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?,"
                    " lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                    (
                        f"cut short {found.attempts} times (the worker stopped); not retried",
                        now(),
                        found.id,
                    ),
                )
                done.append(f"{found.app}: job {found.id} was cut short again; marked failed")
    return done


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery that passed its signature check; ``digest`` is its body's
    SHA-256 (the id header is not signed: an old body sent again with a new id is the
    same delivery)."""

    id: str
    app: str
    event: str
    digest: str


def record_delivery(
    store: Store,
    delivery: Delivery,
    outcome: str,
    deploy: tuple[str, str | None, str | None] | None = None,
) -> tuple[bool, Job | None]:
    """Remember a delivery and, in the same transaction, queue its deploy
    ``(trigger, source, ref)``. Returns (is it new, the job queued): a redelivery of a
    known id or body queues nothing."""
    with store.transaction() as db:
        known = db.execute(
            "SELECT 1 FROM deliveries WHERE id = ? OR (app = ? AND digest = ?)",
            (delivery.id, delivery.app, delivery.digest),
        ).fetchone()
        if known:
            return False, None
        job_id = insert_deploy(db, delivery.app, *deploy) if deploy else None
        db.execute(
            "INSERT INTO deliveries (id, app, event, received_at, outcome, job_id, digest)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (delivery.id, delivery.app, delivery.event, now(), outcome, job_id, delivery.digest),
        )
    return True, job(store, job_id) if job_id else None


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)
