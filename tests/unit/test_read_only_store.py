"""doctor and status read the state store without writing it: not even the checkpoint
SQLite makes when the last connection to a database in WAL mode closes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hostctl.state import Store


def leave_unchecked_frames(database: Path) -> None:
    """A process that writes and exits without closing its connection (as a command that
    ends does) leaves its transactions in the WAL, not yet in the database file."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from hostctl.state import Store\n"
        "Store(Path(sys.argv[1])).insert_app('blog', ['blog.localhost'])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(database)], check=True, timeout=60)
    assert Path(f"{database}-wal").stat().st_size > 0


@pytest.mark.parametrize("read_only", [True, False])
def test_a_read_only_store_never_writes_the_database_file(tmp_path: Path, read_only: bool):
    database = tmp_path / "state.db"
    Store(database).close()
    leave_unchecked_frames(database)
    before = database.stat().st_mtime_ns, database.read_bytes()

    store = Store(database, read_only=read_only)
    assert [app.name for app in store.apps()] == ["blog"]
    store.close()

    unchanged = (database.stat().st_mtime_ns, database.read_bytes()) == before
    assert unchanged is read_only  # a read-write store checkpoints as it closes


def test_a_read_only_store_of_a_database_behind_on_migrations_migrates_it(tmp_path: Path):
    database = tmp_path / "state.db"
    Store(database).close()
    with Store(database).transaction() as db:  # as if the newest migration had not run
        db.execute("DELETE FROM schema_migrations WHERE name = 'github_app'")
        db.execute("DROP TABLE github_app_setups")
        db.execute("DROP TABLE github_installations")
    store = Store(database, read_only=True)
    assert store.db.execute("SELECT 1 FROM schema_migrations WHERE name = 'github_app'").fetchone()
    store.close()
