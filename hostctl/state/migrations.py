"""Schema migrations: named functions applied once each, in order, and recorded."""

from __future__ import annotations

import secrets
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


def push_to_deploy(db: sqlite3.Connection) -> None:
    """Apps learn their repository, webhook secret and volume; jobs, deliveries, push keys."""
    run(
        db,
        """
        ALTER TABLE apps ADD COLUMN repo TEXT;
        ALTER TABLE apps ADD COLUMN branch TEXT NOT NULL DEFAULT 'main';
        ALTER TABLE apps ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';
        ALTER TABLE apps ADD COLUMN github TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE apps ADD COLUMN volume TEXT;
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            trigger TEXT NOT NULL,
            source TEXT,
            ref TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires REAL,
            superseded_by INTEGER,
            release INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        );
        CREATE INDEX jobs_by_app_status ON jobs (app, status);
        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            app TEXT NOT NULL,
            event TEXT NOT NULL,
            received_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            job_id INTEGER
        );
        CREATE TABLE push_keys (
            fingerprint TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            public_key TEXT NOT NULL,
            added_at TEXT NOT NULL
        );
        """,
    )
    for (name,) in db.execute("SELECT name FROM apps").fetchall():
        db.execute(
            "UPDATE apps SET webhook_secret = ? WHERE name = ?", (secrets.token_hex(32), name)
        )


def run(db: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def pending(db: sqlite3.Connection) -> list[str]:
    """The names of the migrations not yet applied (all of them in a new database)."""
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    if db.execute(table).fetchone() is None:
        return [migration.__name__ for migration in MIGRATIONS]
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    return [migration.__name__ for migration in MIGRATIONS if migration.__name__ not in done]


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


def backups_and_drills(db: sqlite3.Connection) -> None:
    """Backups (local and offsite), restore drills, scheduled runs, volume moves by restores,
    and which databases Litestream replicates from which volume. No foreign key to apps:
    the backups of a destroyed app are kept."""
    run(
        db,
        """
        CREATE TABLE backups (
            id TEXT PRIMARY KEY,
            app TEXT NOT NULL,
            created_at TEXT NOT NULL,
            trigger TEXT NOT NULL,
            release INTEGER,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            databases TEXT NOT NULL DEFAULT '[]',
            files INTEGER NOT NULL DEFAULT 0,
            local INTEGER NOT NULL DEFAULT 1,
            offsite_at TEXT
        );
        CREATE INDEX backups_by_app ON backups (app, created_at);
        CREATE TABLE backup_drills (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            backup_id TEXT NOT NULL,
            at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE backup_runs (
            app TEXT PRIMARY KEY,
            attempted_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE volume_moves (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            from_volume TEXT NOT NULL,
            to_volume TEXT NOT NULL,
            undone_at TEXT
        );
        CREATE TABLE replication_lineages (
            app TEXT NOT NULL,
            volume TEXT NOT NULL,
            databases TEXT NOT NULL DEFAULT '[]',
            started_at TEXT NOT NULL,
            PRIMARY KEY (app, volume)
        );
        """,
    )


def unread_backup_state_dropped(db: sqlite3.Connection) -> None:
    """Nothing read a scheduled run's outcome (the agent's log and the drills say it) or
    when a Litestream lineage started: those columns go."""
    run(
        db,
        """
        ALTER TABLE backup_runs DROP COLUMN ok;
        ALTER TABLE backup_runs DROP COLUMN detail;
        ALTER TABLE replication_lineages DROP COLUMN started_at
        """,
    )


def delivery_digests(db: sqlite3.Connection) -> None:
    """Deliveries are known by their body's SHA-256 too: the id header is not signed.
    Deliveries from before have none (NULL never matches a digest)."""
    run(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN digest TEXT;
        CREATE INDEX deliveries_by_digest ON deliveries (app, digest)
        """,
    )


def push_key_apps(db: sqlite3.Connection) -> None:
    """Push keys can be limited to some apps. No foreign keys: a limit must outlive its
    app (a key limited to a destroyed app must not reach every app)."""
    run(
        db,
        """
        CREATE TABLE push_key_apps (
            fingerprint TEXT NOT NULL,
            app TEXT NOT NULL,
            PRIMARY KEY (fingerprint, app)
        )
        """,
    )


def cron_runs(db: sqlite3.Connection) -> None:
    """Each run of an app.json cron job, with the tail of its output; an unfinished one
    has no exit code yet."""
    run(
        db,
        """
        CREATE TABLE cron_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
            schedule TEXT NOT NULL,
            command TEXT NOT NULL,
            release INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            exit_code INTEGER,
            output TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX cron_runs_by_app ON cron_runs (app, command, id)
        """,
    )


def process_scale(db: sqlite3.Connection) -> None:
    """Apps run several containers of a process type (`hostctl scale`), and serve from
    all of their web containers. An app from before serves from web_container alone."""
    run(
        db,
        """
        ALTER TABLE apps ADD COLUMN scale TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE apps ADD COLUMN web_containers TEXT NOT NULL DEFAULT '[]'
        """,
    )


def github_app(db: sqlite3.Connection) -> None:
    """The GitHub App's manifest flow (one row per one-time setup URL), and the
    installations GitHub reported to the app's webhook."""
    run(
        db,
        """
        CREATE TABLE github_app_setups (
            state TEXT PRIMARY KEY,
            api_url TEXT NOT NULL,
            base_url TEXT NOT NULL,
            org TEXT,
            created_at REAL NOT NULL,
            used_at REAL,
            outcome TEXT
        );
        CREATE TABLE github_installations (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            repositories TEXT,
            updated_at TEXT NOT NULL
        )
        """,
    )


def build_cache_generation(db: sqlite3.Connection) -> None:
    """`hostctl apps purge-cache` moves an app's builds to new cache mounts."""
    run(db, "ALTER TABLE apps ADD COLUMN build_cache_generation INTEGER NOT NULL DEFAULT 0")


# In the order they apply; a new migration is a new function appended here.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    initial_schema,
    push_to_deploy,
    backups_and_drills,
    unread_backup_state_dropped,
    delivery_digests,
    push_key_apps,
    cron_runs,
    process_scale,
    github_app,
    build_cache_generation,
]
