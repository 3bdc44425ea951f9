"""Which backups to keep: a pure function, applied to local and offsite copies alike.

Buckets count backups that exist, not calendar time, so a box that was off for a week
still keeps its 24 most recent hourly backups. Hours, days and ISO weeks are in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from hostctl.backup.config import Retention

BUCKETS: dict[str, Callable[[datetime], object]] = {
    "hourly": lambda at: (at.date(), at.hour),
    "daily": lambda at: at.date(),
    "weekly": lambda at: at.isocalendar()[:2],
}


def to_keep(backups: Sequence[tuple[str, datetime]], policy: Retention) -> set[str]:
    """The ids of the (id, created_at) pairs that ``policy`` keeps."""
    newest_first = sorted(backups, key=lambda backup: backup[1], reverse=True)
    kept = {backup_id for backup_id, _ in newest_first[: policy.last]}
    for name, bucket in BUCKETS.items():
        wanted: int = getattr(policy, name)
        seen: set[object] = set()
        for backup_id, at in newest_first:
            key = bucket(at)
            if key in seen:
                continue
            if len(seen) == wanted:
                break
            seen.add(key)
            kept.add(backup_id)  # the newest backup of this hour, day or week
    return kept
