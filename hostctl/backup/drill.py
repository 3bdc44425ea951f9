"""Restore drills: the newest backup is restored to a scratch directory and every database
in it is checked, because a backup that was never restored is a hope, not a backup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hostctl.backup.archive import extract, verify
from hostctl.backup.local import archive_path, backup_lock, has_local_copy, scratch
from hostctl.backup.offsite import download, require_target
from hostctl.backup.snapshot import integrity
from hostctl.core.errors import HostctlError
from hostctl.core.progress import Reporter
from hostctl.host import Host
from hostctl.state.backups import BackupRecord, backups, record_drill


@dataclass(frozen=True)
class DrillResult:
    backup_id: str
    ok: bool
    detail: str


def drill_newest(host: Host, app: str, out: Reporter) -> DrillResult | None:
    """Drill the app's newest backup; None when it has none. The result is recorded."""
    with backup_lock(host, app):
        found = backups(host.store, app)
        if not found:
            return None
        record = found[0]
        out.step(f"Restore drill of {record.id}")
        with scratch(host, app) as work:
            try:
                detail = restore_and_check(host, record, Path(work))
                ok = True
            except HostctlError as exc:
                detail, ok = exc.message, False
            except OSError as exc:
                detail, ok = f"could not restore it to {work}: {exc}", False
        record_drill(host.store, app, record.id, ok, detail)
        return DrillResult(record.id, ok, detail)


def restore_and_check(host: Host, record: BackupRecord, work: Path) -> str:
    """Restore ``record`` under ``work`` and check it; returns a summary, raises on failure."""
    if has_local_copy(host, record):
        archive = archive_path(host, record.app, record.id)
    else:
        archive = work / "archive.tar.gz"
        download(require_target(host.settings), record.app, record.id, archive)
    verify(archive, record.sha256, record.id)
    root = work / "data"
    root.mkdir()
    manifest = extract(archive, root, record.id)
    problems = {db: integrity(root / db) for db in manifest["databases"]}
    bad = {db: result for db, result in problems.items() if result != "ok"}
    if bad:
        raise HostctlError(
            "integrity_check failed: " + "; ".join(f"{db}: {r}" for db, r in sorted(bad.items())),
            "take a new backup now; see docs/backups.md on a database that fails its check",
        )
    return f"{len(problems)} database(s) pass integrity_check, {len(manifest['entries'])} entries"
