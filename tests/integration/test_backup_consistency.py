"""Backups of an app that never stops writing: every snapshot is consistent, and the app
does not notice. The checks read the archives with tarfile and sqlite3 alone."""

import json
import time

import pytest

from tests.harness.backup import integrity_check, row_ids, unpack
from tests.harness.hostctl import make_repo

pytestmark = pytest.mark.integration


def stats(runner, hostname):
    status, body = runner.get(hostname, "/stats")
    assert status == 200, body
    return json.loads(body)


def wait_for_rows(runner, hostname, minimum):
    deadline = time.monotonic() + 60
    while stats(runner, hostname)["written"].get("app.db", 0) < minimum:
        assert time.monotonic() < deadline, stats(runner, hostname)
        time.sleep(0.2)


def test_snapshots_taken_while_the_app_writes_are_consistent(runner, tmp_path, app_name):
    hostname = f"{app_name}.writer.test"
    runner.run("apps", "create", app_name, "--domain", hostname)
    runner.run("deploy", app_name, str(make_repo(tmp_path / "repo", "sqlite-writer")))
    wait_for_rows(runner, hostname, 200)
    before = stats(runner, hostname)["written"]
    ids = [runner.backup(app_name) for _ in range(3)]
    after = stats(runner, hostname)
    assert after["errors"] == [], "the writers never met an error caused by the backups"
    for name in ("app.db", "nested/legacy.data"):
        assert after["written"][name] > before[name], f"{name} kept being written"

    counts: dict[str, list[int]] = {"app.db": [], "nested/legacy.data": []}
    for n, backup_id in enumerate(ids):
        folder = tmp_path / f"unpacked-{n}"
        manifest = unpack(runner.archive(app_name, backup_id), folder)
        assert sorted(manifest["databases"]) == sorted(counts)
        names = {entry["path"] for entry in manifest["entries"]}
        assert "uploads/note.txt" in names
        assert not [p for p in names if p.endswith(("-wal", "-shm", "-journal"))]
        for database, seen in counts.items():
            path = folder / "data" / database
            assert integrity_check(path) == "ok", (backup_id, database)
            rows = row_ids(path)
            assert rows == list(range(1, len(rows) + 1)), "an unbroken prefix of the rows"
            seen.append(len(rows))
    for database, seen in counts.items():
        assert seen == sorted(seen) and seen[0] > 0, (database, seen)
    assert counts["app.db"][-1] > counts["app.db"][0], "the writer wrote between backups"
    listed = {b["id"]: b for b in runner.listing(app_name)}
    assert set(listed) == set(ids)
    for backup_id in ids:
        assert sorted(listed[backup_id]["databases"]) == ["app.db", "nested/legacy.data"]
        assert listed[backup_id]["local"] is True and listed[backup_id]["offsite"] is False
    runner.run("apps", "destroy", app_name, "--yes")
