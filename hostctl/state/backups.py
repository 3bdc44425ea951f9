"""Typed access to the backup tables: backups, drills, scheduled runs, volume moves and
Litestream lineages. Functions take the one ``Store``, like its own methods do."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from hostctl.state.store import Store, now


@dataclass(frozen=True)
class BackupRecord:
    id: str
    app: str
    created_at: str
    trigger: str
    release: int | None
    size: int
    sha256: str
    databases: tuple[str, ...]
    files: int
    local: bool = True
    offsite_at: str | None = None


@dataclass(frozen=True)
class Drill:
    backup_id: str
    at: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VolumeMove:
    id: int
    app: str
    at: str
    kind: str  # restore | restore-at | undo
    source: str  # the backup id, or the point in time
    from_volume: str
    to_volume: str
    undone_at: str | None


# backups


def add_backup(store: Store, record: BackupRecord) -> None:
    store.db.execute(
        "INSERT INTO backups (id, app, created_at, trigger, release, size, sha256, databases,"
        " files, local, offsite_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.id,
            record.app,
            record.created_at,
            record.trigger,
            record.release,
            record.size,
            record.sha256,
            json.dumps(list(record.databases)),
            record.files,
            int(record.local),
            record.offsite_at,
        ),
    )


def backups(store: Store, app: str) -> list[BackupRecord]:
    """The app's backups that exist somewhere, newest first."""
    rows = store.db.execute(
        "SELECT * FROM backups WHERE app = ? ORDER BY created_at DESC, id DESC", (app,)
    )
    return [backup_from_row(row) for row in rows]


def find_backup(store: Store, backup_id: str) -> BackupRecord | None:
    row = store.db.execute("SELECT * FROM backups WHERE id = ?", (backup_id,)).fetchone()
    return backup_from_row(row) if row else None


def set_offsite(store: Store, backup_id: str, at: str | None) -> None:
    store.db.execute("UPDATE backups SET offsite_at = ? WHERE id = ?", (at, backup_id))
    forget_if_gone(store, backup_id)


def set_local(store: Store, backup_id: str, local: bool) -> None:
    store.db.execute("UPDATE backups SET local = ? WHERE id = ?", (int(local), backup_id))
    forget_if_gone(store, backup_id)


def forget_if_gone(store: Store, backup_id: str) -> None:
    """A backup neither on this box nor offsite no longer exists: drop its record."""
    store.db.execute(
        "DELETE FROM backups WHERE id = ? AND local = 0 AND offsite_at IS NULL", (backup_id,)
    )


def backup_from_row(row: sqlite3.Row) -> BackupRecord:
    return BackupRecord(
        id=row["id"],
        app=row["app"],
        created_at=row["created_at"],
        trigger=row["trigger"],
        release=row["release"],
        size=row["size"],
        sha256=row["sha256"],
        databases=tuple(json.loads(row["databases"])),
        files=row["files"],
        local=bool(row["local"]),
        offsite_at=row["offsite_at"],
    )


# drills


def record_drill(store: Store, app: str, backup_id: str, ok: bool, detail: str) -> None:
    store.db.execute(
        "INSERT INTO backup_drills (app, backup_id, at, ok, detail) VALUES (?, ?, ?, ?, ?)",
        (app, backup_id, now(), int(ok), detail),
    )


def latest_drills(store: Store, app: str) -> dict[str, Drill]:
    """The last drill of each of the app's backups, by backup id."""
    rows = store.db.execute(
        "SELECT backup_id, at, ok, detail FROM backup_drills WHERE app = ? ORDER BY id", (app,)
    )
    return {
        r["backup_id"]: Drill(r["backup_id"], r["at"], bool(r["ok"]), r["detail"]) for r in rows
    }


# scheduled runs: when each app's last scheduled backup was attempted (what it did is in
# the agent's log, the backups and their drills)


def record_attempt(store: Store, app: str, at: str) -> None:
    store.db.execute(
        "INSERT INTO backup_runs (app, attempted_at) VALUES (?, ?)"
        " ON CONFLICT (app) DO UPDATE SET attempted_at = excluded.attempted_at",
        (app, at),
    )


def last_attempt(store: Store, app: str) -> str | None:
    row = store.db.execute("SELECT attempted_at FROM backup_runs WHERE app = ?", (app,)).fetchone()
    return str(row["attempted_at"]) if row else None


# volume moves


def record_move(
    store: Store, app: str, kind: str, source: str, from_volume: str, to_volume: str
) -> None:
    store.db.execute(
        "INSERT INTO volume_moves (app, at, kind, source, from_volume, to_volume)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (app, now(), kind, source, from_volume, to_volume),
    )


def moves(store: Store, app: str) -> list[VolumeMove]:
    """Every time a restore or an undo moved the app to another volume, oldest first."""
    rows = store.db.execute("SELECT * FROM volume_moves WHERE app = ? ORDER BY id", (app,))
    return [VolumeMove(**dict(row)) for row in rows]


def mark_undone(store: Store, move_id: int) -> None:
    store.db.execute("UPDATE volume_moves SET undone_at = ? WHERE id = ?", (now(), move_id))


# Litestream lineages: which databases were replicated from which volume


def set_lineage(store: Store, app: str, volume: str, databases: list[str]) -> None:
    store.db.execute(
        "INSERT INTO replication_lineages (app, volume, databases) VALUES (?, ?, ?)"
        " ON CONFLICT (app, volume) DO UPDATE SET databases = excluded.databases",
        (app, volume, json.dumps(databases)),
    )


def lineage(store: Store, app: str, volume: str) -> list[str] | None:
    row = store.db.execute(
        "SELECT databases FROM replication_lineages WHERE app = ? AND volume = ?", (app, volume)
    ).fetchone()
    return list(json.loads(row["databases"])) if row else None
