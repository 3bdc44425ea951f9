"""`hostctl backups APP`: the app's backups here and offsite, with their last drill."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hostctl.backup.local import has_local_copy
from hostctl.backup.offsite import OffsiteCopy, load_target, offsite_copies
from hostctl.core.errors import HostctlError
from hostctl.host import Host
from hostctl.state.backups import backups, latest_drills


@dataclass(frozen=True)
class BackupView:
    id: str
    created_at: str
    size: int
    databases: list[str]
    files: int | None  # None: only the offsite store knows this backup
    trigger: str | None  # manual or schedule
    local: bool
    offsite: bool
    verified: bool | None  # the last restore drill passed; None: never drilled
    verified_at: str | None
    release: int | None
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Listing:
    backups: list[BackupView]
    offsite_error: str | None  # the offsite store could not be listed: local ones only


def list_backups(host: Host, app: str) -> Listing:
    records = {r.id: r for r in backups(host.store, app)}
    if not records:
        host.store.app(app)  # an unknown app is an error; the backups of a destroyed one are not
    drills = latest_drills(host.store, app)
    target = load_target(host.settings)
    copies: dict[str, OffsiteCopy] = {}
    error = None
    if target is not None:
        try:
            copies, _ = offsite_copies(target, app, records)
        except HostctlError as exc:
            error = exc.message
    views = []
    for backup_id in records.keys() | copies.keys():
        record = records.get(backup_id)
        copy = copies.get(backup_id)
        drill = drills.get(backup_id)
        source = record or copy
        assert source is not None
        views.append(
            BackupView(
                id=backup_id,
                created_at=source.created_at,
                size=source.size,
                databases=list(source.databases),
                files=record.files if record else None,
                trigger=record.trigger if record else None,
                local=record is not None and has_local_copy(host, record),
                offsite=copy is not None if error is None else bool(record and record.offsite_at),
                verified=drill.ok if drill else None,
                verified_at=drill.at if drill else None,
                release=source.release,
                sha256=source.sha256,
            )
        )
    views.sort(key=lambda v: (v.created_at, v.id), reverse=True)
    return Listing(views, error)
