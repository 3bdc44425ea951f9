"""Finding databases by header, and snapshots that stay consistent while writers write."""

import os
import sqlite3
import threading
import time

from hostctl.backup.snapshot import integrity, scan, snapshot
from tests.harness.backup import write_rows


def make_volume(root):
    write_rows(root / "app.db", 3)  # WAL: leaves app.db-wal and app.db-shm while open
    keep_open = sqlite3.connect(root / "app.db")
    keep_open.execute("SELECT 1 FROM rows").fetchone()
    legacy = root / "nested" / "legacy.data"
    legacy.parent.mkdir()
    with sqlite3.connect(legacy) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    (root / "notes.db").write_text("SQLite? no, just text named like one\n")
    (root / "empty.db").touch()
    (root / ".app.db-litestream").mkdir()
    (root / ".app.db-litestream" / "state").write_text("litestream's own state")
    os.symlink("nested/legacy.data", root / "link")
    os.mkfifo(root / "pipe")
    return keep_open


def test_databases_are_found_by_header_and_their_companions_left_out(tmp_path):
    keep_open = make_volume(tmp_path)
    assert (tmp_path / "app.db-wal").exists() and (tmp_path / "app.db-shm").exists()
    tree = scan(tmp_path)
    keep_open.close()
    assert tree.databases == ["app.db", "nested/legacy.data"]
    assert tree.files == ["empty.db", "notes.db"]
    assert tree.directories == ["nested"]
    assert tree.symlinks == ["link"]
    assert tree.skipped == ["pipe"]


class Writer(threading.Thread):
    """Appends row n+1 and sets the counter to n+1 in one transaction, as fast as it can."""

    def __init__(self, path, journal_mode):
        super().__init__(daemon=True)
        self.path, self.journal_mode = path, journal_mode
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.written = 0

    def run(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute(f"PRAGMA journal_mode={self.journal_mode}")
        db.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, payload BLOB)")
        db.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER)")
        db.execute("INSERT INTO counter VALUES (0)")
        while not self.stop.is_set():
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO rows VALUES (?, randomblob(500))", (self.written + 1,))
                db.execute("UPDATE counter SET n = n + 1")
                db.execute("COMMIT")
                self.written += 1
            except sqlite3.Error as exc:
                self.errors.append(str(exc))
        db.close()


def test_snapshots_under_continuous_writes_are_consistent_prefixes(tmp_path):
    writers = [Writer(tmp_path / "wal.db", "wal"), Writer(tmp_path / "journal.db", "delete")]
    for writer in writers:
        writer.start()
    time.sleep(0.5)
    seen: dict[str, list[int]] = {"wal.db": [], "journal.db": []}
    try:
        for n in range(4):
            for name in seen:
                copy = tmp_path / f"copy-{n}-{name}"
                snapshot(tmp_path / name, copy, name)
                assert integrity(copy) == "ok"
                with sqlite3.connect(copy) as db:
                    ids = [r[0] for r in db.execute("SELECT id FROM rows ORDER BY id")]
                    counter = db.execute("SELECT n FROM counter").fetchone()[0]
                db.close()
                assert ids == list(range(1, len(ids) + 1)), "an unbroken prefix of the rows"
                assert counter == len(ids), "each transaction is wholly in or wholly out"
                seen[name].append(len(ids))
            time.sleep(0.1)
    finally:
        for writer in writers:
            writer.stop.set()
            writer.join()
    for name, counts in seen.items():
        assert counts == sorted(counts) and counts[-1] > counts[0] > 0, (name, counts)
    assert [w.errors for w in writers] == [[], []], "writers never saw an error"
    assert writers[0].written > seen["wal.db"][-1], "the WAL writer kept writing"


def test_a_snapshot_leaves_the_live_database_alone(tmp_path):
    write_rows(tmp_path / "app.db", 5)
    content = (tmp_path / "app.db").read_bytes()
    snapshot(tmp_path / "app.db", tmp_path / "copy.db", "app.db")
    assert (tmp_path / "app.db").read_bytes() == content, "read-only: no checkpoint, no write"
    added = {p.name for p in tmp_path.iterdir()} - {"app.db", "copy.db"}
    assert added <= {"app.db-wal", "app.db-shm"}, "at most SQLite's own (empty) WAL index"
    assert not (tmp_path / "app.db-wal").exists() or (tmp_path / "app.db-wal").stat().st_size == 0
    assert integrity(tmp_path / "copy.db") == "ok"
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "mode is kept"


def test_integrity_reports_a_damaged_database(tmp_path):
    write_rows(tmp_path / "app.db", 2000)
    with sqlite3.connect(tmp_path / "app.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with (tmp_path / "app.db").open("r+b") as file:
        file.seek(4096 * 4)
        file.write(b"\xff" * 64)  # trash the header of a b-tree page
    assert integrity(tmp_path / "app.db") != "ok"
