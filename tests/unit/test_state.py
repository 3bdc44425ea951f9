import contextlib
import sqlite3
import stat

from hostctl.state import Store
from hostctl.state.migrations import MIGRATIONS, migrate
from hostctl.state.store import open_database


def test_blank_database_is_migrated_in_wal_mode_and_private(tmp_path):
    store = Store(tmp_path / "root" / "state.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert int(store.db.execute("PRAGMA busy_timeout").fetchone()[0]) > 0
    names = [r[0] for r in store.db.execute("SELECT name FROM schema_migrations ORDER BY rowid")]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert stat.S_IMODE((tmp_path / "root" / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "root").stat().st_mode) == 0o700


def test_rerunning_migrations_applies_nothing_and_keeps_data(tmp_path):
    path = tmp_path / "state.db"
    store = Store(path)
    store.insert_app("blog", ["blog.example.com"])
    store.close()
    again = Store(path)
    assert migrate(again.db) == []
    assert [a.name for a in again.apps()] == ["blog"]


def test_a_failing_migration_leaves_nothing_half_done(tmp_path, monkeypatch):
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr("hostctl.state.migrations.MIGRATIONS", [*MIGRATIONS, broken])
    db = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    with contextlib.suppress(RuntimeError):
        migrate(db)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables and "apps" not in tables


def test_release_numbers_and_the_live_pointer(tmp_path):
    store = Store(tmp_path / "state.db")
    store.insert_app("blog", ["blog.localhost"])
    first = store.new_release("blog", "deploy", "test", source="/src")
    second = store.new_release("blog", "deploy", "test")
    assert (first.number, second.number, first.status) == (1, 2, "building")
    store.make_live("blog", 1, ["c1"])
    store.make_live("blog", 2, ["c2"])
    app = store.app("blog")
    assert (app.current_release, app.web_container) == (2, "c2")
    assert [r.status for r in store.releases("blog")] == ["live", "retired"]
    store.update_release("blog", 2, env={"SECRET": "x"}, timings={"build": 1.5})
    assert store.release("blog", 2).env == {"SECRET": "x"}


def test_a_live_release_is_never_marked_failed_by_what_came_after(tmp_path):
    store = Store(tmp_path / "state.db")
    store.insert_app("blog", ["blog.example.com"])
    first = store.new_release("blog", "deploy", "cli")
    store.make_live("blog", first.number, ["blog-web-1"])
    store.fail_release("blog", first.number, "interrupted")
    second = store.new_release("blog", "deploy", "cli")
    store.fail_release("blog", second.number, "the build failed")
    assert [(r.number, r.status, r.error) for r in store.releases("blog")] == [
        (2, "failed", "the build failed"),
        (1, "live", None),
    ]


def test_a_connection_caches_at_most_256_kib_of_pages(tmp_path):
    db = open_database(tmp_path / "state.db")
    assert db.execute("PRAGMA cache_size").fetchone()[0] == -256
