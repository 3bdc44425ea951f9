"""`hostctl restore`: into a new volume, check every database, then move the app there with
the deploy swap. A restore that fails at any step before the swap commits changes
nothing: the new volume is removed and the app keeps its volume. The previous volume is
kept, and ``--undo`` moves the app back to it.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hostctl.adapters import litestream
from hostctl.backup.archive import extract, verify
from hostctl.backup.config import backup_config
from hostctl.backup.local import archive_path, backup_lock, has_local_copy, scratch
from hostctl.backup.offsite import (
    OffsiteCopy,
    download,
    load_target,
    offsite_copies,
    require_target,
)
from hostctl.backup.replication import ensure_replicating, render_config, state_dir, volume_at
from hostctl.backup.snapshot import Tree, integrity, open_beneath, scan
from hostctl.backup.volumes import new_volume, volume_exists, volume_path
from hostctl.core.errors import HostctlError, disk_full
from hostctl.core.progress import Reporter
from hostctl.deploy.pipeline import app_lock
from hostctl.deploy.swap import swap
from hostctl.host import Host
from hostctl.state.backups import (
    BackupRecord,
    backups,
    find_backup,
    lineage,
    mark_undone,
    moves,
    record_move,
)

NOTHING_CHANGED = "nothing was changed: the app is still on its volume"


@dataclass(frozen=True)
class RestoreResult:
    source: str  # the backup id or the point in time restored (for --undo: the one undone)
    volume: str
    previous_volume: str
    databases: list[str]
    restarted: str  # how the app moved: said in the output, as the issue asks
    replication: str | None = None


def restore_backup(
    host: Host, app: str, backup_id: str | None, from_offsite: bool, out: Reporter
) -> RestoreResult:
    host.store.app(app)
    with app_lock(host, app, out), backup_lock(host, app):
        record = choose(host, app, backup_id, from_offsite)
        local = has_local_copy(host, record) and not from_offsite
        if not local and record.offsite_at is None:
            raise HostctlError(
                f"the archive of {record.id} is gone from {archive_path(host, app, record.id)}"
                " and was never copied offsite",
                f"pick another backup from `hostctl backups {app}`",
            )
        with scratch(host, app) as work:
            archive = archive_path(host, app, record.id) if local else fetch(host, record, work)
            out.step(f"Verifying {record.id} (sha256 {record.sha256[:12]})")
            verify(archive, record.sha256, record.id)

            def fill(root: Path) -> list[str]:
                databases: list[str] = extract(archive, root, record.id)["databases"]
                return databases

            volume, databases = fill_new_volume(host, app, record.id, fill, out)
        return move_to(host, app, volume, "restore", record.id, databases, out)


def choose(host: Host, app: str, backup_id: str | None, from_offsite: bool) -> BackupRecord:
    """The backup to restore: the one named, or the newest. With ``from_offsite``, only
    those in the offsite store; otherwise this box's, and when none matches (a rebuilt box,
    an id only the bucket has) those of the offsite target if one is set."""
    known = {r.id: r for r in backups(host.store, app)}
    if backup_id is not None and backup_id not in known:
        other = find_backup(host.store, backup_id)
        if other is not None:
            raise HostctlError(
                f"backup {backup_id} belongs to {other.app}",
                f"list {app}'s backups with `hostctl backups {app}`",
            )
    target = require_target(host.settings) if from_offsite else load_target(host.settings)
    missing = not known if backup_id is None else backup_id not in known
    where = "yet"
    if from_offsite or (missing and target is not None):
        assert target is not None
        copies, _ = offsite_copies(target, app, known)
        offsite = {i: known.get(i) or record_of(app, copy) for i, copy in copies.items()}
        known = offsite if from_offsite else known | offsite
        where = "offsite" if from_offsite else "here or offsite"
    if backup_id is None:
        if not known:
            raise HostctlError(f"{app} has no backups {where}", f"make one: `hostctl backup {app}`")
        return max(known.values(), key=lambda r: (r.created_at, r.id))
    record = known.get(backup_id)
    if record is None:
        problem = {
            "yet": "does not exist",
            "offsite": "is not in the offsite store",
            "here or offsite": "does not exist here or in the offsite store",
        }[where]
        raise HostctlError(
            f"backup {backup_id} {problem}", f"list {app}'s backups with `hostctl backups {app}`"
        )
    return record


def record_of(app: str, copy: OffsiteCopy) -> BackupRecord:
    """What this box knows of a backup only the offsite store has (e.g. a rebuilt box)."""
    return BackupRecord(
        id=copy.id,
        app=app,
        created_at=copy.created_at,
        trigger="offsite",
        release=copy.release,
        size=copy.size,
        sha256=copy.sha256,
        databases=copy.databases,
        files=0,
        local=False,
        offsite_at=copy.created_at,
    )


def fetch(host: Host, record: BackupRecord, work: str) -> Path:
    """Download a backup from the offsite store; its sidecar must agree with our record."""
    archive = Path(work) / f"{record.id}.tar.gz"
    copy = download(require_target(host.settings), record.app, record.id, archive)
    if copy.sha256 != record.sha256:
        raise HostctlError(
            f"backup {record.id} in the offsite store is not the one this box recorded "
            "(its sidecar's SHA-256 differs); it was not used",
            NOTHING_CHANGED,
        )
    return archive


def fill_new_volume(
    host: Host, app: str, origin: str, fill: Callable[[Path], list[str]], out: Reporter
) -> tuple[str, list[str]]:
    """A new volume filled by ``fill`` (which returns the databases it holds), each of them
    passing integrity_check; on any failure the volume is removed."""
    volume, root = new_volume(host, app, origin)
    out.step(f"Restoring into the new volume {volume}")
    try:
        databases = fill(root)
        for database in databases:
            result = integrity(root / database)
            if result != "ok":
                raise HostctlError(
                    f"the restored {database} fails PRAGMA integrity_check: {result}",
                    f"{NOTHING_CHANGED}; try an older backup",
                )
        out.step(f"integrity_check: ok for {len(databases)} database(s)")
    except BaseException as exc:
        host.docker.remove_volume(volume)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise disk_full(
                f"restore {app} into a new volume",
                f"{NOTHING_CHANGED}; free space (docker image prune, old backups) and retry",
            ) from exc
        raise
    return volume, databases


def move_to(
    host: Host,
    app: str,
    volume: str,
    kind: str,
    source: str,
    databases: list[str],
    out: Reporter,
    discard: bool = True,
) -> RestoreResult:
    """Point the app at ``volume`` and swap its containers onto it; undone on failure."""
    found = host.store.app(app)
    previous = host.volume(app)
    host.store.set_volume(app, volume)
    if found.current_release is None:
        restarted = (
            f"No stop-start was needed: {app} is not deployed, and its next deploy runs on {volume}"
        )
    else:
        try:
            swap(host, host.store.release(app, found.current_release), out, new_release=False)
        except BaseException:
            if host.store.app(app).web_container == found.web_container:  # never committed
                host.store.set_volume(app, previous)
                if discard:
                    host.docker.remove_volume(volume)
                raise
            record_move(host.store, app, kind, source, previous, volume)  # it is live there
            raise
        restarted = (
            f"No stop-start was needed: new containers on {volume} took over with a "
            "zero-downtime swap"
        )
    record_move(host.store, app, kind, source, previous, volume)
    host.store.audit(kind, app, f"{source}: {previous} -> {volume}")
    replication = None
    target = load_target(host.settings)
    if target and backup_config(host.settings).uses_litestream(app) and litestream.binary():
        try:
            replication = ensure_replicating(host, app, target)
        except HostctlError as exc:
            replication = f"Litestream did not restart: {exc.message}"
    return RestoreResult(source, volume, previous, databases, restarted, replication)


def undo_restore(host: Host, app: str, out: Reporter) -> RestoreResult:
    """Move the app back to the volume it was on before its last restore."""
    host.store.app(app)
    with app_lock(host, app, out), backup_lock(host, app):
        current = host.volume(app)
        restores = [
            m
            for m in moves(host.store, app)
            if m.kind != "undo" and m.undone_at is None and m.to_volume == current
        ]
        if not restores:
            raise HostctlError(
                f"{app} has no restore to undo", f"restore a backup: `hostctl backups {app}`"
            )
        last = restores[-1]
        if not volume_exists(host, last.from_volume):
            raise HostctlError(
                f"the volume {last.from_volume} that {app} used before was removed",
                "restore a backup instead: `hostctl backups APP`",
            )
        out.step(f"Going back to {last.from_volume} (before the restore of {last.source})")
        databases = scan(volume_path(host, last.from_volume)).databases
        result = move_to(
            host, app, last.from_volume, "undo", last.source, databases, out, discard=False
        )
        mark_undone(host.store, last.id)
        return result


def parse_timestamp(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HostctlError(
            f"invalid timestamp {text!r}", "use ISO 8601, e.g. 2025-06-01T12:30:00Z"
        ) from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at > datetime.now(UTC):
        raise HostctlError(f"{text} is in the future", "pick a time in the past")
    return at


def restore_at(host: Host, app: str, timestamp: str, out: Reporter) -> RestoreResult:
    """Litestream point-in-time restore of the app's databases into a new volume; the
    other files of /data are copied from the current volume (Litestream has no history
    of them). A database of the current volume that the lineage lacks is refused, not
    dropped, before anything is made (and before the binary is needed)."""
    host.store.app(app)
    at = parse_timestamp(timestamp)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with app_lock(host, app, out), backup_lock(host, app):
        lived_on = volume_at(host, app, at)
        databases = lineage(host.store, app, lived_on)
        if not databases:
            raise HostctlError(
                f"{app} was not replicated with Litestream at {stamp} (volume {lived_on})",
                f"restore a snapshot instead: `hostctl backups {app}`",
            )
        current = volume_path(host, host.volume(app))
        unreplicated = sorted(set(scan(current).databases) - set(databases))
        if unreplicated:  # Litestream has no history of them: they would be lost
            raise HostctlError(
                f"{', '.join(unreplicated)} in {app}'s /data "
                f"{'was' if len(unreplicated) == 1 else 'were'} not replicated with Litestream "
                f"from {lived_on} at {stamp}, so a restore to that time would drop "
                f"{'it' if len(unreplicated) == 1 else 'them'}; {NOTHING_CHANGED}",
                f"restore a snapshot instead (`hostctl backups {app}`), or pick a later time",
            )
        binary = litestream.require_binary()
        target = require_target(host.settings)
        env = litestream.environment(target.access_key_id, target.secret_access_key)

        def fill(root: Path) -> list[str]:
            copy_files(current, scan(current), root)
            config = state_dir(host) / f"{app}-restore.yml"
            config.write_text(render_config(target, app, lived_on, root, databases))
            try:
                for database in databases:
                    (root / database).parent.mkdir(parents=True, exist_ok=True)
                    out.step(f"litestream restore {database} as of {stamp}")
                    litestream.restore(
                        litestream.point_in_time_argv(binary, config, root / database, at, env), env
                    )
                    live = current / database  # the app must own what litestream (root) wrote
                    copy_owner(live if live.exists() else current, root / database)
            finally:
                config.unlink(missing_ok=True)
            return databases

        volume, restored = fill_new_volume(host, app, stamp, fill, out)
        return move_to(host, app, volume, "restore-at", stamp, restored, out)


def copy_files(source: Path, tree: Tree, target: Path) -> None:
    """Copy the non-database files of a volume, with owners, modes and times."""
    for name in tree.directories:
        (target / name).mkdir()
    for name in tree.symlinks:
        os.symlink(os.readlink(source / name), target / name)
        copy_owner(source / name, target / name)
    for name in tree.files:
        try:
            with open_beneath(source, name) as original, (target / name).open("xb") as copy:
                shutil.copyfileobj(original, copy)
            shutil.copystat(source / name, target / name, follow_symlinks=False)
        except FileNotFoundError:
            continue  # the app deleted it meanwhile
        copy_owner(source / name, target / name)
    for name in [*reversed(tree.directories), ""]:  # contents first: modes may forbid writes
        shutil.copystat(source / name, target / name)
        copy_owner(source / name, target / name)


def copy_owner(origin: Path, copy: Path) -> None:
    stat = origin.lstat()
    os.chown(copy, stat.st_uid, stat.st_gid, follow_symlinks=False)
