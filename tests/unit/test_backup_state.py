"""The backup tables: a state database made before the unread columns were dropped
migrates with its data, and what is kept is read back."""

import sqlite3
from datetime import UTC, datetime

from hostctl.core.errors import disk_full
from hostctl.state import Store
from hostctl.state.backups import last_attempt, lineage, record_attempt, set_lineage
from hostctl.state.migrations import MIGRATIONS, migrate, unread_backup_state_dropped


def columns(db, table):
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_an_older_database_loses_only_the_unread_columns(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    before = MIGRATIONS[: MIGRATIONS.index(unread_backup_state_dropped)]
    for migration in before:  # the database as the previous version left it
        migration(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (migration.__name__,))
    db.execute("INSERT INTO backup_runs VALUES ('blog', '2025-06-01T12:00:00+00:00', 0, 'x')")
    db.execute(
        "INSERT INTO replication_lineages VALUES ('blog', 'v1', '[\"app.db\"]', '2025-06-01')"
    )
    applied = migrate(db)  # later migrations apply after it
    assert applied[: applied.index("unread_backup_state_dropped") + 1] == [
        "unread_backup_state_dropped"
    ]
    assert columns(db, "backup_runs") == ["app", "attempted_at"]
    assert columns(db, "replication_lineages") == ["app", "volume", "databases"]
    db.close()

    store = Store(path)
    assert last_attempt(store, "blog") == "2025-06-01T12:00:00+00:00"
    assert lineage(store, "blog", "v1") == ["app.db"]
    later = datetime(2025, 6, 1, 13, tzinfo=UTC).isoformat(timespec="seconds")
    record_attempt(store, "blog", later)
    set_lineage(store, "blog", "v1", ["app.db", "b.db"])
    assert last_attempt(store, "blog") == later and last_attempt(store, "shop") is None
    assert lineage(store, "blog", "v1") == ["app.db", "b.db"]
    assert lineage(store, "blog", "v2") is None


def test_disk_full_takes_a_hint_and_keeps_the_deploy_one_by_default():
    custom = disk_full("write the backup of blog", "keep fewer backups")
    assert (custom.message, custom.hint) == (
        "the disk is full: could not write the backup of blog",
        "keep fewer backups",
    )
    assert "the current release keeps serving" in (disk_full("build the image").hint or "")
