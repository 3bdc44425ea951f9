"""Backups on this box: ``$HOSTCTL_ROOT/backups/APP/ID.tar.gz`` and its sidecar ``ID.json``,
the per-app backup lock, and local retention."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from hostctl.backup.config import Retention
from hostctl.backup.offsite import ARCHIVE, SIDECAR
from hostctl.backup.retention import to_keep
from hostctl.core.locks import file_lock
from hostctl.host import Host
from hostctl.state.backups import BackupRecord, backups, set_local


def archive_path(host: Host, app: str, backup_id: str) -> Path:
    return host.settings.paths.backups(app) / f"{backup_id}{ARCHIVE}"


def sidecar_path(host: Host, app: str, backup_id: str) -> Path:
    return host.settings.paths.backups(app) / f"{backup_id}{SIDECAR}"


def has_local_copy(host: Host, record: BackupRecord) -> bool:
    return record.local and archive_path(host, record.app, record.id).is_file()


@contextmanager
def backup_lock(host: Host, app: str) -> Iterator[None]:
    """One backup, upload, drill, restore or Litestream (re)start of an app at a time
    (deploys are not held up)."""
    with file_lock(host.settings.paths.backup_lock(app)):
        yield


def scratch(host: Host, app: str) -> tempfile.TemporaryDirectory[str]:
    """A directory for a drill or a download, removed after; inside the app's backup folder
    so a killed one is cleaned up by the next backup."""
    return tempfile.TemporaryDirectory(dir=host.settings.paths.backups(app), prefix=".scratch-")


def remove_leftovers(host: Host, app: str) -> None:
    """What a killed backup, drill or restore left: partial archives, snapshot staging
    and scratch directories."""
    for path in host.settings.paths.backups(app).glob(".*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def prune_local(host: Host, app: str, policy: Retention) -> list[str]:
    present = [r for r in backups(host.store, app) if r.local]
    keep = to_keep([(r.id, datetime.fromisoformat(r.created_at)) for r in present], policy)
    pruned = []
    for record in present:
        if record.id not in keep:
            archive_path(host, app, record.id).unlink(missing_ok=True)
            sidecar_path(host, app, record.id).unlink(missing_ok=True)
            set_local(host.store, record.id, False)
            pruned.append(record.id)
    return pruned
