"""The backup schedule, run by the agent: ``run_due_backups`` is safe to call every minute.

Each app is backed up when its last scheduled attempt (successful or not) is at least the
configured interval old, so a failing app is retried on the next interval, not every
minute. A backup is followed by the offsite copy (when a target is set), retention, and a
restore drill of the newest archive. Litestream processes are supervised on every call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hostctl.adapters import litestream
from hostctl.backup.config import backup_config
from hostctl.backup.create import create_backup
from hostctl.backup.drill import drill_newest
from hostctl.backup.replication import supervise
from hostctl.core.errors import HostctlError
from hostctl.core.locks import try_lock
from hostctl.core.progress import Silent
from hostctl.host import Host
from hostctl.state.backups import last_attempt, record_attempt


def run_due_backups(host: Host, now: datetime) -> list[str]:
    """Run the backups whose time has come; one human line per thing done.

    Returns at once (with nothing) if another call is still running.
    """
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    with try_lock(host.settings.paths.lock("backup-schedule")) as free:
        if not free:
            return []
        config = backup_config(host.settings)
        lines = supervise(host, config)
        if config.interval is None:
            return lines
        for app in host.store.apps():
            attempted = last_attempt(host.store, app.name)
            if attempted and now - datetime.fromisoformat(attempted) < timedelta(
                seconds=config.interval
            ):
                continue
            lines += scheduled_backup(host, app.name, now)
            if config.uses_litestream(app.name) and litestream.binary() is None:
                lines.append(
                    f"{app.name}: Litestream mode is on, but litestream is not installed; "
                    "only the scheduled snapshots protect it"
                )
    return lines


def scheduled_backup(host: Host, app: str, now: datetime) -> list[str]:
    lines = []
    try:
        result = create_backup(host, app, "schedule", Silent())
        record = result.record
        lines.append(
            f"{app}: backup {record.id} ({record.size} bytes, {len(record.databases)} database(s))"
        )
        lines += [f"{app}: {line}" for line in result.offsite]
        if result.offsite_error:
            lines.append(f"{app}: offsite copy failed: {result.offsite_error.message}")
        drill = drill_newest(host, app, Silent())
        if drill is not None:
            verdict = "ok" if drill.ok else "FAILED"
            lines.append(f"{app}: restore drill of {drill.backup_id}: {verdict}: {drill.detail}")
    except HostctlError as exc:
        lines.append(f"{app}: backup failed: {exc.message}")
    except Exception as exc:  # one app's surprise must not stop the others' backups
        lines.append(f"{app}: backup failed: unexpected {type(exc).__name__}: {exc}")
    record_attempt(host.store, app, now.isoformat(timespec="seconds"))
    return lines
