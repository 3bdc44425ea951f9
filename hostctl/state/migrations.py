"""Schema migrations: named functions applied once each, in order, and recorded."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime


def initial_schema(db: sqlite3.Connection) -> None:
    run(
        db,
        """
        CREATE TABLE apps (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            hostnames TEXT NOT NULL DEFAULT '[]',
            current_release INTEGER,
            web_container TEXT
        );
        CREATE TABLE env (
            app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (app, key)
        );
        CREATE TABLE releases (
            app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            trigger TEXT NOT NULL,
            source TEXT,
            commit_sha TEXT,
            image TEXT,
            spec TEXT,
            env TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            timings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            finished_at TEXT,
            PRIMARY KEY (app, number)
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            app TEXT,
            detail TEXT NOT NULL DEFAULT ''
        );
        """,
    )


def run(db: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [initial_schema]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
    )
    applied = []
    db.execute("BEGIN IMMEDIATE")  # one migrator at a time; others wait on the busy timeout
    try:
        done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            migration(db)
            db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, datetime.now(UTC).isoformat()),
            )
            applied.append(migration.__name__)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied
