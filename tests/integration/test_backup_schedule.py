"""The schedule the agent runs (`run_due_backups`, called in-process as the agent will),
restore drills, and Litestream mode: supervision and the commands it runs (with a stand-in
that records them), and the real litestream replicating to moto's S3 and restoring from it
(`scripts/test` installs it; the tests fail, not skip, without it)."""

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from hostctl.backup.schedule import run_due_backups
from hostctl.host import Host
from hostctl.settings import Settings
from hostctl.state.backups import set_lineage
from tests.harness.backup import (
    BackupHostctl,
    app_volumes,
    row_ids,
    volume_dir,
    write_rows,
)

pytestmark = pytest.mark.integration

# Stands in for the litestream binary, to see exactly how it is run: it records its command
# lines and stays up like `replicate` does; `snapshots` and `wal` list nothing, and
# `restore` fails the way litestream's does when a replica has nothing for the time asked.
STUB = """#!/bin/sh
here=$(dirname "$0")
printf '%s\\n' "$@" > "$here/argv-$1"
env | cut -d= -f1 | sort > "$here/env-$1"
if [ "$1" = snapshots ] || [ "$1" = wal ]; then
    echo 'replica  generation  index  size  created'
    exit 0
fi
if [ "$1" = restore ]; then
    echo 'level=ERROR msg="failed to run" error="no matching backup files available"' >&2
    exit 1
fi
trap 'exit 0' TERM
while :; do sleep 0.1; done
"""


@pytest.fixture
def host(runner, monkeypatch):
    """The library on the same root as the CLI, as the agent uses it."""
    for key, value in runner.env.items():
        monkeypatch.setenv(key, value)
    return Host(Settings.from_env())


@pytest.fixture
def app(runner, app_name):
    runner.run("apps", "create", app_name)
    write_rows(volume_dir(runner.volume(app_name)) / "app.db", 10)
    yield app_name
    runner.run("apps", "destroy", app_name, "--yes", check=False)  # unless the test did
    for name in ("offsite.json", "hostctl.yml"):
        (runner.etc / name).unlink(missing_ok=True)


def test_backups_run_when_due_then_upload_and_drill(runner, host, s3, app, app_name):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    broken = f"{app_name}b"
    runner.run("apps", "create", broken)
    subprocess.run(["docker", "volume", "rm", "-f", runner.volume(broken)], check=True)
    start = datetime.now(UTC)

    lines = run_due_backups(host, start)
    ours = [line for line in lines if line.startswith(f"{app}:")]
    assert ours[0].startswith(f"{app}: backup {app}-") and "1 database(s)" in ours[0]
    assert any(line.startswith(f"{app}: uploaded {app}-") for line in ours)
    assert ours[-1].startswith(f"{app}: restore drill of {app}-") and ": ok: " in ours[-1]
    assert any(line.startswith(f"{broken}: backup failed: the volume") for line in lines), (
        "a failing app is reported, and the others still run"
    )

    assert run_due_backups(host, start + timedelta(minutes=1)) == [], "nothing is due"
    assert run_due_backups(host, start + timedelta(minutes=59)) == []
    later = run_due_backups(host, start + timedelta(minutes=61))
    assert any(line.startswith(f"{app}: backup ") for line in later)
    assert any(line.startswith(f"{broken}: backup failed") for line in later)

    listed = runner.listing(app)
    assert len(listed) == 2
    assert all(b["verified"] is True and b["offsite"] is True for b in listed)
    assert len(s3.keys(bucket, f"box1/{app}/")) == 4
    runner.run("apps", "destroy", broken, "--yes")


def test_a_call_while_another_runs_returns_at_once(runner, host, app):
    lock = host.settings.paths.lock("backup-schedule")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert run_due_backups(host, datetime.now(UTC)) == []
    finally:
        os.close(fd)
    assert runner.listing(app) == []


def test_the_schedule_can_be_turned_off(runner, host, app):
    runner.configure("backup:\n  schedule: off\n")
    assert run_due_backups(host, datetime.now(UTC)) == []
    assert runner.listing(app) == []


@pytest.fixture
def stub_litestream(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    binary = folder / "litestream"
    binary.write_text(STUB)
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    yield binary
    for process in Path("/proc").glob("[0-9]*"):  # a failed test may leave one running
        with contextlib.suppress(OSError):
            if str(binary).encode() in (process / "cmdline").read_bytes():
                os.kill(int(process.name), signal.SIGKILL)


def recorded(path):
    """What the stub wrote, once it has started and written it."""
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text().endswith("\n"):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.05)
    return path.read_text()


def litestream_pid(runner, app):
    return json.loads((runner.root / "litestream" / f"{app}.pid").read_text())["pid"]


def test_litestream_is_supervised_with_the_generated_config(runner, host, s3, app, stub_litestream):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.configure(f"backup:\n  schedule: off\n  litestream: [{app}]\n")
    volume = runner.volume(app)
    config = runner.root / "litestream" / f"{app}.yml"
    folder = stub_litestream.parent

    lines = run_due_backups(host, datetime.now(UTC))
    assert lines[0].startswith(f"{app}: started Litestream replication of 1 database(s)")
    assert recorded(folder / "argv-replicate").splitlines() == [
        "replicate",
        "-config",
        str(config),
        "-no-expand-env",
    ]
    environment = recorded(folder / "env-replicate").split()
    assert "LITESTREAM_SECRET_ACCESS_KEY" in environment
    assert not [name for name in environment if name.startswith("AWS_")]
    text = config.read_text()
    assert f'path: "{volume_dir(volume) / "app.db"}"' in text
    assert f'path: "box1/{app}/litestream/{volume}/app.db"' in text
    assert f'bucket: "{bucket}"' in text and s3.secret_access_key not in text
    first = litestream_pid(runner, app)

    assert run_due_backups(host, datetime.now(UTC)) == [], "running with the same config"
    write_rows(volume_dir(volume) / "second.db", 1)
    again = run_due_backups(host, datetime.now(UTC))
    assert again[0].startswith(f"{app}: restarted Litestream replication of 2 database(s)")
    second = litestream_pid(runner, app)
    assert second != first and gone(first)

    os.kill(second, signal.SIGKILL)
    time.sleep(0.2)
    assert run_due_backups(host, datetime.now(UTC))[0].startswith(f"{app}: restarted")
    third = litestream_pid(runner, app)

    volumes = app_volumes(app)
    with_stub = BackupHostctl(runner.env | {"PATH": os.environ["PATH"]})
    failed = with_stub.run("restore", app, "--at", "2025-01-01T00:00:00Z", "--yes", check=False)
    assert failed.returncode == 1
    assert "no matching backup files available" in failed.stderr
    assert app_volumes(app) == volumes and runner.volume(app) == volume, "nothing changed"
    restore_argv = (folder / "argv-restore").read_text().splitlines()
    assert restore_argv[:3] == [
        "restore",
        "-config",
        str(runner.root / "litestream" / f"{app}-restore.yml"),
    ]
    assert restore_argv[3:6] == ["-no-expand-env", "-timestamp", "2025-01-01T00:00:00Z"]
    assert (folder / "argv-snapshots").read_text().splitlines() == [
        "snapshots",
        *restore_argv[1:4],
        restore_argv[-1],
    ], "the replica's generations are listed first, with the same config and database"

    runner.configure("backup:\n  schedule: off\n  litestream: false\n")
    assert run_due_backups(host, datetime.now(UTC)) == [f"{app}: stopped Litestream replication"]
    assert gone(third)

    runner.configure(f"backup:\n  schedule: off\n  litestream: [{app}]\n")
    assert run_due_backups(host, datetime.now(UTC))[0].startswith(f"{app}: started")
    fourth = litestream_pid(runner, app)
    runner.run("apps", "destroy", app, "--yes")
    assert run_due_backups(host, datetime.now(UTC)) == [f"{app}: stopped Litestream replication"]
    assert gone(fourth), "a destroyed app's replication stops too"


def gone(pid):
    time.sleep(0.2)
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def path_without_litestream(folder):
    """This process's PATH with litestream hidden: a directory that has it is replaced by a
    directory of links to everything else in it."""
    entries = []
    for index, directory in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not (Path(directory) / "litestream").exists():
            entries.append(directory)
            continue
        shadow = folder / f"path-{index}"
        shadow.mkdir()
        for item in Path(directory).iterdir():
            if item.name != "litestream":
                (shadow / item.name).symlink_to(item)
        entries.append(str(shadow))
    hidden = os.pathsep.join(entries)
    assert shutil.which("litestream", path=hidden) is None
    return hidden


def test_restore_at_without_litestream_says_how_to_install_it(
    runner, host, app, tmp_path, monkeypatch
):
    hidden = path_without_litestream(tmp_path)
    without = BackupHostctl(runner.env | {"PATH": hidden})
    runner.configure(f"backup:\n  litestream: [{app}]\n")
    never = without.run("restore", app, "--at", "2025-01-01T00:00:00Z", "--yes", check=False)
    assert never.returncode == 1
    assert f"{app} was not replicated with Litestream at 2025-01-01T00:00:00Z" in never.stderr
    assert f"Hint: restore a snapshot instead: `hostctl backups {app}`" in never.stderr
    set_lineage(host.store, app, runner.volume(app), ["app.db"])  # it once replicated
    volumes = app_volumes(app)
    done = without.run("restore", app, "--at", "2025-01-01T00:00:00Z", "--yes", check=False)
    assert done.returncode == 1 and "litestream is not installed" in done.stderr
    assert "Hint: install Litestream" in done.stderr
    assert app_volumes(app) == volumes, "nothing changed"

    monkeypatch.setenv("PATH", hidden)  # the agent on a box without it
    lines = run_due_backups(host, datetime.now(UTC))
    assert any(line.startswith(f"{app}: backup {app}-") for line in lines)
    assert (
        f"{app}: Litestream mode is on, but litestream is not installed; only the scheduled "
        "snapshots protect it" in lines
    )
    assert not (runner.root / "litestream" / f"{app}.pid").exists()


@pytest.fixture
def real_litestream(litestream_binary, runner):
    """The real binary; afterwards no litestream reading a config of this root is left."""
    yield litestream_binary
    configs = str(runner.root / "litestream").encode()
    for process in Path("/proc").glob("[0-9]*"):  # a failed test may leave one running
        with contextlib.suppress(OSError):
            cmdline = (process / "cmdline").read_bytes()
            if cmdline.startswith(litestream_binary.encode()) and configs in cmdline:
                os.kill(int(process.name), signal.SIGKILL)


def replica_keys(s3, bucket, app, volume, database="app.db"):
    """What Litestream uploaded for one database of one volume: its lineage in the bucket."""
    return s3.keys(bucket, f"box1/{app}/litestream/{volume}/{database}/")


def wal_segments(keys):
    return [key for key in keys if "/wal/" in key]


def wait_for(probe, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f}s"
        time.sleep(0.1)
    return found


def a_past_second():
    """This second as a timestamp, once it is over: S3 keeps whole seconds in LastModified,
    so what was uploaded before the call is at or before it, what is uploaded after, later."""
    now = datetime.now(UTC)
    time.sleep(1.05 - now.microsecond / 1_000_000)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_litestream_replicates_every_database_to_the_bucket_continuously(
    runner, host, s3, app, real_litestream, tmp_path
):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.configure(f"backup:\n  schedule: off\n  litestream: [{app}]\n")
    volume = runner.volume(app)
    data = volume_dir(volume)
    log = runner.root / "litestream" / f"{app}.log"

    started = run_due_backups(host, datetime.now(UTC))
    assert started[0].startswith(f"{app}: started Litestream replication of 1 database(s)")
    first = litestream_pid(runner, app)
    # moto checks every request's signature: these uploads used the keys from its environment
    keys = wait_for(
        lambda: (
            (found := replica_keys(s3, bucket, app, volume))
            and any("/snapshots/" in key for key in found)
            and wal_segments(found)
            and found
        ),
        "snapshot and WAL segment in the bucket",
    )
    write_rows(data / "app.db", 5, 11)  # no hostctl call: Litestream ships it on its own
    wait_for(
        lambda: len(wal_segments(replica_keys(s3, bucket, app, volume))) > len(wal_segments(keys)),
        "WAL segment for rows 11-15",
    )

    write_rows(data / "sub" / "second.db", 3)
    began = time.monotonic()
    again = run_due_backups(host, datetime.now(UTC))
    assert again[0].startswith(f"{app}: restarted Litestream replication of 2 database(s)")
    assert gone(first) and time.monotonic() - began < 10, "SIGTERM stopped it, no SIGKILL"
    wait_for(
        lambda: wal_segments(replica_keys(s3, bucket, app, volume, "sub/second.db")),
        "replica of the new database",
    )

    # The replica, read back with a config of this test's own and the real binary
    own = tmp_path / "own.yml"
    replica = {
        "type": "s3",
        "endpoint": s3.endpoint,
        "region": "us-east-1",
        "bucket": bucket,
        "path": f"box1/{app}/litestream/{volume}/app.db",
        "force-path-style": True,
    }
    own.write_text(yaml.safe_dump({"dbs": [{"path": str(data / "app.db"), "replicas": [replica]}]}))
    copy = tmp_path / "copy.db"
    subprocess.run(
        [real_litestream, "restore", "-config", str(own), "-o", str(copy), str(data / "app.db")],
        env={
            "PATH": os.environ["PATH"],
            "LITESTREAM_ACCESS_KEY_ID": s3.access_key_id,
            "LITESTREAM_SECRET_ACCESS_KEY": s3.secret_access_key,
        },
        capture_output=True,
        check=True,
    )
    assert row_ids(copy) == list(range(1, 16))

    # Litestream keeps its state next to each database; snapshots leave it out
    assert (data / ".app.db-litestream").is_dir()
    assert (data / "sub" / ".second.db-litestream").is_dir()
    with tarfile.open(runner.archive(app, runner.backup(app))) as archive:
        names = archive.getnames()
    assert "data/app.db" in names and "data/sub/second.db" in names
    assert not [name for name in names if "-litestream" in name]
    assert "level=ERROR" not in log.read_text()

    second = litestream_pid(runner, app)
    runner.configure("backup:\n  schedule: off\n  litestream: false\n")
    assert run_due_backups(host, datetime.now(UTC)) == [f"{app}: stopped Litestream replication"]
    assert gone(second)


def test_litestream_replicates_and_restores_a_point_in_time(runner, host, s3, app, real_litestream):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.configure(f"backup:\n  schedule: off\n  litestream: [{app}]\n")
    volume = runner.volume(app)
    database = volume_dir(volume) / "app.db"
    write_rows(volume_dir(volume) / "idle.db", 3)  # never written again
    started = run_due_backups(host, datetime.now(UTC))
    assert started[0].startswith(f"{app}: started Litestream replication of 2 database(s)")
    wait_for(
        lambda: wal_segments(replica_keys(s3, bucket, app, volume, "idle.db")), "idle.db's replica"
    )
    segments = wait_for(
        lambda: wal_segments(replica_keys(s3, bucket, app, volume)), "WAL segment of rows 1-10"
    )
    moment = a_past_second()  # rows 1-10 are in the bucket, rows 11-15 come later
    write_rows(database, 5, 11)
    wait_for(
        lambda: len(wal_segments(replica_keys(s3, bucket, app, volume))) > len(segments),
        "WAL segment of rows 11-15",
    )
    a_past_second()
    later = a_past_second()  # after the last upload of either database (Litestream 0.3
    # finds nothing for such a time with -timestamp alone)

    restored = runner.run("restore", app, "--at", later, "--yes")
    first = runner.volume(app)
    assert first != volume and row_ids(volume_dir(first) / "app.db") == list(range(1, 16))
    assert row_ids(volume_dir(first) / "idle.db") == [1, 2, 3]
    assert f"restarted Litestream replication of 2 database(s) from {first}" in restored.stdout

    runner.run("restore", app, "--at", moment, "--yes")  # before rows 11-15, on the old lineage
    second = runner.volume(app)
    assert second not in (volume, first)
    assert row_ids(volume_dir(second) / "app.db") == list(range(1, 11))
    assert row_ids(volume_dir(second) / "idle.db") == [1, 2, 3]
    wait_for(
        lambda: wal_segments(replica_keys(s3, bucket, app, second)),
        "replica of the restored volume, under its own lineage",
    )

    runner.configure("backup:\n  schedule: off\n  litestream: false\n")
    assert run_due_backups(host, datetime.now(UTC)) == [f"{app}: stopped Litestream replication"]
    assert row_ids(database) == list(range(1, 16)), "the volume restored from is kept as it was"


def test_restore_at_refuses_to_drop_a_database_litestream_has_no_history_of(runner, host, app):
    volume = runner.volume(app)
    set_lineage(host.store, app, volume, ["app.db"])
    write_rows(volume_dir(volume) / "later" / "orders.db", 3)  # never replicated
    volumes = app_volumes(app)
    done = runner.run("restore", app, "--at", "2025-01-01T00:00:00Z", "--yes", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        f"Error: later/orders.db in {app}'s /data was not replicated with Litestream from "
        f"{volume} at 2025-01-01T00:00:00Z, so a restore to that time would drop it; "
        "nothing was changed" in done.stderr
    )
    assert (
        f"Hint: restore a snapshot instead (`hostctl backups {app}`), or pick a later time"
        in done.stderr
    )
    assert app_volumes(app) == volumes and runner.volume(app) == volume, "nothing changed"
    assert row_ids(volume_dir(volume) / "later" / "orders.db") == [1, 2, 3]
    assert not (runner.root / "litestream" / f"{app}-restore.yml").exists()


def test_the_agent_leaves_litestream_alone_while_the_app_s_backup_lock_is_held(
    runner, host, s3, app, stub_litestream
):
    bucket = s3.new_bucket()
    runner.set_offsite(s3.endpoint, bucket, s3.access_key_id, s3.secret_access_key)
    runner.configure(f"backup:\n  schedule: off\n  litestream: [{app}]\n")
    pid = runner.root / "litestream" / f"{app}.pid"
    lock = host.settings.paths.backup_lock(app)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a restore holds it while it restarts Litestream
    try:
        assert run_due_backups(host, datetime.now(UTC)) == []
        time.sleep(0.3)
        assert not pid.exists() and not (stub_litestream.parent / "argv-replicate").exists()
    finally:
        os.close(fd)
    started = run_due_backups(host, datetime.now(UTC))
    assert started[0].startswith(f"{app}: started Litestream replication of 1 database(s)")
    first = litestream_pid(runner, app)

    runner.configure("backup:\n  schedule: off\n  litestream: false\n")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert run_due_backups(host, datetime.now(UTC)) == []
        assert not gone(first), "not stopped either while the lock is held"
    finally:
        os.close(fd)
    assert run_due_backups(host, datetime.now(UTC)) == [f"{app}: stopped Litestream replication"]
    assert gone(first)
