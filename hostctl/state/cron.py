"""Runs of app.json cron jobs, in the state database. A job is known by its command."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from hostctl.state.store import Store, now

KEPT_RUNS = 20  # per job; older runs are deleted as new ones start
OUTPUT_CHARS = 64 * 1024  # the tail of a run's output that is kept


@dataclass(frozen=True)
class CronRun:
    id: int
    app: str
    schedule: str
    command: str
    release: int
    started_at: str
    finished_at: str | None
    exit_code: int | None
    output: str


def start_run(store: Store, app: str, schedule: str, command: str, release: int) -> int:
    with store.transaction() as db:
        found = db.execute(
            "INSERT INTO cron_runs (app, schedule, command, release, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (app, schedule, command, release, now()),
        )
        run_id = int(found.lastrowid or 0)
        db.execute(
            "DELETE FROM cron_runs WHERE app = ? AND command = ? AND id NOT IN"
            " (SELECT id FROM cron_runs WHERE app = ? AND command = ? ORDER BY id DESC LIMIT ?)",
            (app, command, app, command, KEPT_RUNS),
        )
    return run_id


def finish_run(store: Store, run_id: int, exit_code: int, output: str) -> None:
    store.db.execute(
        "UPDATE cron_runs SET finished_at = ?, exit_code = ?, output = ? WHERE id = ?",
        (now(), exit_code, output[-OUTPUT_CHARS:], run_id),
    )


def end_interrupted(store: Store) -> None:
    """Record the runs a stopped agent left unfinished as cut short (exit code -1): only
    the agent runs cron jobs, and one agent at a time, so none of them is still going."""
    store.db.execute(
        "UPDATE cron_runs SET finished_at = ?, exit_code = -1,"
        " output = output || 'interrupted: the agent stopped' WHERE finished_at IS NULL",
        (now(),),
    )


def runs(store: Store, app: str, command: str | None = None) -> list[CronRun]:
    """The app's runs (of one job's ``command`` when given), newest first."""
    query = "SELECT * FROM cron_runs WHERE app = ?"
    arguments: tuple[str, ...] = (app,)
    if command is not None:
        query += " AND command = ?"
        arguments += (command,)
    rows = store.db.execute(query + " ORDER BY id DESC", arguments).fetchall()
    return [run_from_row(row) for row in rows]


def run_from_row(row: sqlite3.Row) -> CronRun:
    return CronRun(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (a Row)
