"""`hostctl backup APP`: snapshot every database of the app's /data while it keeps running,
archive them with the rest of /data, record the backup, prune, and copy it offsite."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hostctl.backup.archive import write_archive
from hostctl.backup.config import backup_config
from hostctl.backup.local import (
    archive_path,
    backup_lock,
    prune_local,
    remove_leftovers,
    sidecar_path,
)
from hostctl.backup.offsite import load_target, sync_app
from hostctl.backup.snapshot import scan
from hostctl.backup.volumes import volume_path
from hostctl.core.errors import HostctlError, disk_full
from hostctl.core.private_files import write_private
from hostctl.core.progress import Reporter
from hostctl.host import Host
from hostctl.state import Release
from hostctl.state.backups import BackupRecord, add_backup, find_backup


@dataclass(frozen=True)
class BackupResult:
    record: BackupRecord
    skipped: list[str]
    pruned: list[str]
    offsite: list[str] = field(default_factory=list)  # what the offsite sync did
    offsite_error: HostctlError | None = None  # the backup is kept locally all the same


def create_backup(host: Host, app: str, trigger: str, out: Reporter) -> BackupResult:
    found = host.store.app(app)
    release = host.store.release(app, found.current_release) if found.current_release else None
    config = backup_config(host.settings)
    with backup_lock(host, app):
        remove_leftovers(host, app)
        record, skipped = make_archive(host, app, release, trigger, out)
        add_backup(host.store, record)
        host.store.audit("backup", app, f"{record.id} ({record.size} bytes)")
        out.step(f"Archived {record.id} ({record.size} bytes, sha256 {record.sha256[:12]})")
        pruned = prune_local(host, app, config.retention)
        target = load_target(host.settings)
        if target is None:
            return BackupResult(record, skipped, pruned)
        out.step(f"Copying offsite to {target.endpoint}/{target.bucket}")
        try:
            folder = host.settings.paths.backups(app)
            lines = sync_app(host.store, target, app, folder, config.retention)
        except HostctlError as exc:
            return BackupResult(record, skipped, pruned, offsite_error=exc)
        return BackupResult(record, skipped, pruned, offsite=lines)


def make_archive(
    host: Host, app: str, release: Release | None, trigger: str, out: Reporter
) -> tuple[BackupRecord, list[str]]:
    """Archive the app's volume with its sidecar; returns the record and what was skipped.
    On failure nothing is left: a full disk says so."""
    volume = host.volume(app)
    root = volume_path(host, volume)
    created = datetime.now(UTC)
    created_at = created.isoformat(timespec="milliseconds")
    backup_id = new_id(host, app, created)
    tree = scan(root)
    out.step(
        f"Backing up {app} ({volume}): {len(tree.databases)} database(s), "
        f"{len(tree.files)} other file(s)"
    )
    about = {
        "id": backup_id,
        "app": app,
        "created_at": created_at,
        "trigger": trigger,
        "volume": volume,
        "release": release.number if release else None,
        "commit": release.commit_sha if release else None,
    }
    archive = archive_path(host, app, backup_id)
    sidecar = sidecar_path(host, app, backup_id)
    try:
        written = write_archive(root, tree, archive, about)
        write_private(
            sidecar,
            written.manifest | {"archive": {"size": written.size, "sha256": written.sha256}},
        )
    except OSError as exc:
        archive.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        remove_leftovers(host, app)
        if exc.errno == errno.ENOSPC:
            raise disk_full(
                f"write the backup of {app} in {host.settings.paths.backups(app)}; "
                "no partial archive was left",
                "free space (docker image prune, or keep fewer backups with "
                "backup/retention in hostctl.yml), then run the backup again",
            ) from exc
        raise
    record = BackupRecord(
        id=backup_id,
        app=app,
        created_at=created_at,
        trigger=trigger,
        release=release.number if release else None,
        size=written.size,
        sha256=written.sha256,
        databases=tuple(tree.databases),
        files=len(tree.files) + len(tree.databases),
    )
    return record, written.manifest["skipped"]


def new_id(host: Host, app: str, created: datetime) -> str:
    """``APP-YYYYMMDDTHHMMSSZ``, with ``-2``, ``-3``... if one was already taken that second."""
    base = f"{app}-{created:%Y%m%dT%H%M%SZ}"
    backup_id, n = base, 1
    while find_backup(host.store, backup_id) or archive_path(host, app, backup_id).exists():
        n += 1
        backup_id = f"{base}-{n}"
    return backup_id
