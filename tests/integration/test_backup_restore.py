"""Restoring a running app: the data comes back with no failed request, undo goes back, and
a damaged archive is refused with nothing changed."""

import json

import pytest

from tests.harness.backup import app_volumes
from tests.harness.hostctl import Load, http_get, make_repo

pytestmark = pytest.mark.integration


@pytest.fixture
def app(runner, tmp_path, app_name):
    hostname = f"{app_name}.restore.test"
    runner.run("apps", "create", app_name, "--domain", hostname)
    runner.run("deploy", app_name, str(make_repo(tmp_path / "repo", "python")))
    yield app_name, hostname
    runner.run("apps", "destroy", app_name, "--yes")


def write(runner, hostname, times):
    for _ in range(times):
        assert http_get(runner.port, hostname, "/write", method="POST") == (200, "ok\n")


def web_container(runner, app):
    return json.loads(runner.run("apps", "info", app, "--json").stdout)


def test_restore_brings_the_data_back_and_undo_goes_back(runner, app):
    name, hostname = app
    write(runner, hostname, 3)
    backup_id = runner.backup(name)
    write(runner, hostname, 2)
    assert runner.get(hostname, "/count") == (200, "5")
    original = runner.volume(name)

    with Load(runner.port, hostname, paths=("/",)) as load:
        done = runner.run("restore", name, "--yes")  # no id: the newest backup
    assert load.failures == [] and load.total > 0, "no request failed during the restore"
    assert runner.get(hostname, "/count") == (200, "3")
    restored = runner.volume(name)
    assert restored != original
    assert f"Restored {name} from {backup_id} into {restored}" in done.stdout
    assert "No stop-start was needed" in done.stdout and "zero-downtime swap" in done.stdout
    assert original in app_volumes(name), "the previous volume is kept"

    write(runner, hostname, 1)  # the app writes to the restored volume
    assert runner.get(hostname, "/count") == (200, "4")
    runner.run("restore", name, "--undo", "--yes")
    assert runner.volume(name) == original
    assert runner.get(hostname, "/count") == (200, "5")
    nothing = runner.run("restore", name, "--undo", "--yes", check=False)
    assert nothing.returncode == 1 and "has no restore to undo" in nothing.stderr


def test_a_corrupt_archive_is_refused_and_nothing_changes(runner, app):
    name, hostname = app
    write(runner, hostname, 2)
    backup_id = runner.backup(name)
    write(runner, hostname, 1)
    archive = runner.archive(name, backup_id)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x40
    archive.write_bytes(bytes(data))
    before = (web_container(runner, name), app_volumes(name))

    done = runner.run("restore", name, backup_id, "--yes", check=False)
    assert done.returncode == 1
    assert f"backup {backup_id} is corrupt or was tampered with" in done.stderr
    assert "nothing was changed" in done.stderr and "Traceback" not in done.stderr
    assert (web_container(runner, name), app_volumes(name)) == before
    assert runner.get(hostname, "/count") == (200, "3")

    verify = runner.run("backup", "verify", name, check=False)
    assert verify.returncode == 1 and f"{backup_id}: FAILED" in verify.stdout
    listed = runner.listing(name)[0]
    assert (listed["id"], listed["verified"]) == (backup_id, False)


def test_restore_refuses_unknown_apps_and_backups(runner, app):
    name, _ = app
    cases = [
        (["restore", "nope", "--yes"], "no app named 'nope'"),
        (["restore", name, "nope-20250101T000000Z", "--yes"], "does not exist"),
        (["restore", name, "--yes"], f"{name} has no backups yet"),
        (["restore", name, "--at", "yesterday", "--yes"], "invalid timestamp"),
        (["restore", name, "--undo", "x", "--yes"], "--undo takes no BACKUP_ID"),
    ]
    for args, message in cases:
        done = runner.run(*args, check=False)
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
