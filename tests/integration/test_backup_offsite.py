"""Offsite copies against moto's S3 server on loopback, with its credential checks on:
upload, listing, retention, restore from offsite, a cut connection, wrong credentials."""

import hashlib
import os
import stat
import subprocess

import pytest

from tests.harness.backup import (
    BackupHostctl,
    CuttingProxy,
    app_volumes,
    row_ids,
    volume_dir,
    write_rows,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def app(runner, app_name):
    """An app (not deployed) with a database in its volume."""
    runner.run("apps", "create", app_name)
    write_rows(volume_dir(runner.volume(app_name)) / "app.db", 10)
    yield app_name
    runner.run("apps", "destroy", app_name, "--yes")
    (runner.etc / "offsite.json").unlink(missing_ok=True)
    (runner.etc / "hostctl.yml").unlink(missing_ok=True)


def test_wrong_credentials_are_refused_and_good_ones_stored_privately(runner, s3):
    bucket = s3.new_bucket()
    for key, secret, code in (
        (s3.access_key_id, "not-the-secret", "SignatureDoesNotMatch"),
        ("AKIAUNKNOWN", s3.secret_access_key, "InvalidAccessKeyId"),
    ):
        done = runner.run(
            "offsite", "set", "--endpoint", s3.endpoint, "--bucket", bucket,
            "--access-key-id", key, "--secret-access-key", secret, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert f"refused the credentials ({code})" in done.stderr and "Hint:" in done.stderr
        assert "not-the-secret" not in done.stdout + done.stderr
        assert runner.run("offsite", "show", "--json").stdout.strip() == "null", "nothing saved"
    missing = runner.run(
        "offsite", "set", "--endpoint", s3.endpoint, "--bucket", "no-such-bucket",
        "--access-key-id", s3.access_key_id, "--secret-access-key", s3.secret_access_key,
        check=False,
    )  # fmt: skip
    assert "the bucket no-such-bucket does not exist" in missing.stderr
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    stored = runner.etc / "offsite.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    shown = runner.run("offsite", "show").stdout
    assert bucket in shown and s3.secret_access_key not in shown and "********" in shown
    assert "accepts writes, reads, lists and deletes" in runner.run("offsite", "test").stdout
    assert s3.keys(bucket) == [], "the check leaves nothing behind"
    stored.unlink()


def test_uploads_retention_and_restore_from_offsite_when_the_local_copy_is_gone(runner, s3, app):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.configure("backup:\n  retention: {last: 2, hourly: 0, daily: 0, weekly: 0}\n")
    database = volume_dir(runner.volume(app)) / "app.db"
    ids = []
    for start in (11, 16, 21):
        ids.append(runner.backup(app))
        write_rows(database, 5, start)
    kept = ids[1:]
    assert s3.keys(bucket) == sorted(
        f"box1/{app}/{i}{suffix}" for i in kept for suffix in (".json", ".tar.gz")
    ), "retention applies offsite too"
    listed = {b["id"]: b for b in runner.listing(app)}
    assert sorted(listed) == sorted(kept)
    assert all(b["local"] and b["offsite"] for b in listed.values())
    stored = s3.client().get_object(Bucket=bucket, Key=f"box1/{app}/{kept[1]}.tar.gz")
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == listed[kept[1]]["sha256"]
    assert stored["Metadata"] == {"sha256": listed[kept[1]]["sha256"]}

    for path in (runner.root / "backups" / app).iterdir():
        path.unlink()
    assert [(b["local"], b["offsite"]) for b in runner.listing(app)] == [(False, True)] * 2
    original = runner.volume(app)
    done = runner.run("restore", app, kept[0], "--from-offsite", "--yes")
    assert f"from {kept[0]}" in done.stdout
    assert row_ids(volume_dir(runner.volume(app)) / "app.db") == list(range(1, 16))
    assert runner.volume(app) != original
    runner.run("restore", app, "--from-offsite", "--yes")  # the newest
    assert row_ids(volume_dir(runner.volume(app)) / "app.db") == list(range(1, 21))


def test_a_cut_connection_mid_upload_leaves_a_clean_bucket_and_a_retry_succeeds(runner, s3, app):
    bucket = s3.new_bucket()
    proxy = CuttingProxy(upstream=s3.port)
    runner.set_offsite(proxy.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    (volume_dir(runner.volume(app)) / "upload.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    proxy.cutting = True
    try:
        failed = runner.run("backup", app, check=False)
    finally:
        proxy.cutting = False
    assert proxy.cuts > 0
    assert failed.returncode == 1
    first = failed.stdout.splitlines()[-1]
    assert first.startswith(f"{app}-"), "the backup itself was made and its id printed"
    assert "Warning: the offsite copy failed" in failed.stderr
    assert "kept on this box" in failed.stderr and "Traceback" not in failed.stderr
    assert s3.keys(bucket) == [], "no partial object is visible"
    assert s3.unfinished_uploads(bucket) == [], "the multipart upload was aborted"
    assert [(b["local"], b["offsite"]) for b in runner.listing(app)] == [(True, False)]

    second = runner.backup(app)  # the next backup also uploads the one that failed
    assert s3.keys(bucket) == sorted(
        f"box1/{app}/{i}{suffix}" for i in (first, second) for suffix in (".json", ".tar.gz")
    )
    listed = runner.listing(app)
    assert [(b["local"], b["offsite"]) for b in listed] == [(True, True)] * 2
    body = s3.client().get_object(Bucket=bucket, Key=f"box1/{app}/{first}.tar.gz")["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == listed[1]["sha256"]
    proxy.close()


def test_a_tampered_offsite_copy_is_refused(runner, s3, app):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    backup_id = runner.backup(app)
    key = f"box1/{app}/{backup_id}.tar.gz"
    body = bytearray(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.client().put_object(Bucket=bucket, Key=key, Body=bytes(body))
    volumes = app_volumes(app)
    done = runner.run("restore", app, backup_id, "--from-offsite", "--yes", check=False)
    assert done.returncode == 1 and "corrupt or was tampered with" in done.stderr
    assert app_volumes(app) == volumes, "no volume was left behind"
    assert runner.volume(app) == volumes[0]


def test_a_rebuilt_box_restores_from_offsite_without_being_told(runner, s3, app_name, tmp_path):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.run("apps", "create", app_name)
    database = volume_dir(runner.volume(app_name)) / "app.db"
    write_rows(database, 10)
    older = runner.backup(app_name)
    write_rows(database, 5, 11)
    newer = runner.backup(app_name)
    runner.run("apps", "destroy", app_name, "--yes")  # the old box is gone
    (runner.etc / "offsite.json").unlink()

    with BackupHostctl.isolated(tmp_path / "rebuilt") as rebuilt:
        rebuilt.run("apps", "create", app_name)
        try:
            nothing = rebuilt.run("restore", app_name, "--yes", check=False)
            assert nothing.returncode == 1 and f"{app_name} has no backups yet" in nothing.stderr
            rebuilt.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
            done = rebuilt.run("restore", app_name, "--yes")  # the newest, from the bucket
            assert f"Restored {app_name} from {newer} into " in done.stdout
            assert row_ids(volume_dir(rebuilt.volume(app_name)) / "app.db") == list(range(1, 16))
            rebuilt.run("restore", app_name, older, "--yes")
            assert row_ids(volume_dir(rebuilt.volume(app_name)) / "app.db") == list(range(1, 11))
            unknown = rebuilt.run("restore", app_name, f"{app_name}-20200101T000000Z", "--yes",
                                  check=False)  # fmt: skip
            assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
            assert "does not exist here or in the offsite store" in unknown.stderr
        finally:
            rebuilt.run("apps", "destroy", app_name, "--yes", check=False)
            for volume in app_volumes(app_name):  # those restores kept
                subprocess.run(["docker", "volume", "rm", "-f", volume], check=False)
