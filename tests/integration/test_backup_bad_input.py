"""Bad input and bad luck: unknown apps, an app with no database, a missing volume, a full
disk. Each is a clear error with a hint, and leaves nothing half-made."""

import json
import os
import sqlite3
import subprocess

import pytest

from tests.harness.backup import app_volumes, unpack, volume_dir, write_rows

pytestmark = pytest.mark.integration


@pytest.fixture
def app(runner, app_name):
    runner.run("apps", "create", app_name)
    yield app_name
    runner.run("apps", "destroy", app_name, "--yes")


def test_unknown_apps_and_missing_arguments(runner):
    for args, message in (
        (["backup", "nope"], "no app named 'nope'"),
        (["backups", "nope"], "no app named 'nope'"),
        (["backup", "verify", "nope"], "no app named 'nope'"),
        (["backup"], "Back up apps now (`hostctl backup APP... | --all`)"),
        (["backup", "create"], "name the apps to back up, or pass --all"),
    ):
        done = runner.run(*args, check=False)
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_an_app_without_databases_still_has_its_files_backed_up(runner, app, tmp_path):
    root = volume_dir(runner.volume(app))
    (root / "uploads").mkdir()
    (root / "uploads" / "a.txt").write_text("hello\n")
    done = runner.run("backup", app)
    assert f"note: no SQLite database in {app}'s /data; its files are backed up" in done.stdout
    backup_id = done.stdout.splitlines()[-1]
    manifest = unpack(runner.archive(app, backup_id), tmp_path / "out")
    assert manifest["databases"] == []
    assert (tmp_path / "out" / "data" / "uploads" / "a.txt").read_text() == "hello\n"
    assert runner.listing(app)[0]["databases"] == []
    verify = runner.run("backup", "verify", app)
    assert f"{backup_id}: ok: 0 database(s) pass integrity_check" in verify.stdout


def test_a_full_disk_is_a_clear_error_and_leaves_no_partial_archive(runner, app):
    root = volume_dir(runner.volume(app))
    write_rows(root / "app.db", 10)
    (root / "big.bin").write_bytes(os.urandom(3_000_000))  # does not compress
    backups = runner.root / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(backups)], check=True)
    try:
        done = runner.run("backup", app, check=False)
        left = [str(p) for p in backups.rglob("*") if not p.is_dir()]
    finally:
        subprocess.run(["umount", str(backups)], check=True)
    assert done.returncode == 1
    assert f"the disk is full: could not write the backup of {app}" in done.stderr
    assert "no partial archive was left" in done.stderr and "Hint: free space" in done.stderr
    assert "Traceback" not in done.stderr
    assert left == []
    assert runner.listing(app) == [], "no backup was recorded"
    assert runner.backup(app).startswith(f"{app}-"), "with space again, it works"


def test_one_failing_app_does_not_stop_backup_all(runner, app, app_name):
    broken = f"{app_name}x"
    runner.run("apps", "create", broken)
    subprocess.run(["docker", "volume", "rm", runner.volume(broken)], check=True)
    done = runner.run("backup", "--all", check=False)
    runner.run("apps", "destroy", broken, "--yes")
    assert done.returncode == 1
    assert f"Error: {broken}: the volume" in done.stderr and "does not exist" in done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"{app}-")
    assert json.loads(runner.run("backups", app, "--json").stdout)[0]["local"] is True


def test_a_backup_of_a_damaged_database_fails_its_drill_and_is_not_restored(runner, app):
    database = volume_dir(runner.volume(app)) / "app.db"
    write_rows(database, 2000)
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with database.open("r+b") as file:
        file.seek(4096 * 4)
        file.write(b"\xff" * 64)  # the app's database was damaged before the backup
    backup_id = runner.backup(app)  # the backup API copies pages as they are
    verify = runner.run("backup", "verify", app, check=False)
    assert verify.returncode == 1
    assert f"{backup_id}: FAILED: integrity_check failed: app.db:" in verify.stdout
    assert runner.listing(app)[0]["verified"] is False
    volumes = app_volumes(app)
    done = runner.run("restore", app, "--yes", check=False)
    assert done.returncode == 1
    assert "the restored app.db fails PRAGMA integrity_check" in done.stderr
    assert "nothing was changed" in done.stderr
    assert app_volumes(app) == volumes and runner.volume(app) == volumes[0]


def test_bad_offsite_endpoints_are_refused_with_a_hint(runner, s3):
    bucket = s3.new_bucket()
    for endpoint, message in (
        ("https://[x", "Error: invalid endpoint 'https://[x': Invalid IPv6 URL"),
        ("https://store.example:port", "Error: invalid endpoint 'https://store.example:port'"),
        ("ftp://store.example", "Error: invalid endpoint 'ftp://store.example'"),
        ("https://", "Error: invalid endpoint 'https://'"),
        ("http://store.example", "Error: the endpoint 'http://store.example' is plain http"),
        ("http://10.0.0.5:9000", "Error: the endpoint 'http://10.0.0.5:9000' is plain http"),
    ):
        done = runner.run(
            "offsite", "set", "--endpoint", endpoint, "--bucket", bucket,
            "--access-key-id", s3.access_key_id, "--secret-access-key", s3.secret_access_key,
            check=False,
        )  # fmt: skip
        assert done.returncode == 1, endpoint
        assert message in done.stderr, (endpoint, done.stderr)
        assert "\nHint: " in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert "unexpected" not in done.stderr
        assert not (runner.etc / "offsite.json").exists()
    for loopback in ("http://localhost:1", "http://[::1]:1"):  # a local MinIO, say
        runner.run(
            "offsite", "set", "--endpoint", loopback, "--bucket", bucket, "--no-check",
            "--access-key-id", s3.access_key_id, "--secret-access-key", s3.secret_access_key,
        )  # fmt: skip
        assert json.loads(runner.run("offsite", "show", "--json").stdout)["endpoint"] == loopback
        (runner.etc / "offsite.json").unlink()


def test_a_malformed_offsite_sidecar_is_an_error_and_backup_all_carries_on(
    runner, s3, app, app_name
):
    other = f"{app_name}o"
    runner.run("apps", "create", other)
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    bogus = f"{app}-20200101T000000Z"
    key = f"box1/{app}/{bogus}.json"
    s3.client().put_object(Bucket=bucket, Key=f"box1/{app}/{bogus}.tar.gz", Body=b"x")
    s3.client().put_object(Bucket=bucket, Key=key, Body=b"{not json")
    try:
        done = runner.run("backup", "--all", check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        ids = done.stdout.splitlines()
        assert any(line.startswith(f"{app}-") for line in ids)
        assert ids[-1].startswith(f"{other}-"), "the next app was backed up all the same"
        assert f"Warning: the offsite copy failed: the offsite sidecar {key} is not a hostctl" in (
            done.stderr
        )
        assert f"Hint: remove {key} and its archive from the bucket" in done.stderr
        assert len(s3.keys(bucket, f"box1/{other}/")) == 2, "the other app went offsite"

        restore = runner.run("restore", app, "--from-offsite", "--yes", check=False)
        assert restore.returncode == 1 and "Traceback" not in restore.stderr
        assert f"Error: the offsite sidecar {key} is not a hostctl backup sidecar" in (
            restore.stderr
        )
        assert f"Hint: remove {key}" in restore.stderr
    finally:
        runner.run("apps", "destroy", other, "--yes")
        (runner.etc / "offsite.json").unlink(missing_ok=True)
