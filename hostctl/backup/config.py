"""The ``backup:`` section of the server config, validated; every error names its key path,
e.g. ``/etc/hostctl/hostctl.yml: backup/retention/hourly: should be an integer``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hostctl.core.yaml_sections import Section
from hostctl.server_config import load_server_config
from hostctl.settings import Settings

SCHEDULES = {"hourly": 3600.0, "daily": 86400.0}
EVERY = re.compile(r"(\d{1,12})\s*([mhd])")
UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_INTERVAL = 366 * 86400.0  # the documented range (docs/backups.md): 1m to 366d
RETENTION_MAX = 10_000


@dataclass(frozen=True)
class Retention:
    """Which backups survive pruning: the ``last`` newest, then the newest one of each of
    the latest ``hourly`` hours, ``daily`` days and ``weekly`` ISO weeks that have one."""

    last: int = 3
    hourly: int = 24
    daily: int = 7
    weekly: int = 4


@dataclass(frozen=True)
class BackupConfig:
    interval: float | None = SCHEDULES["hourly"]  # seconds between scheduled backups; None: off
    retention: Retention = field(default_factory=Retention)
    litestream_all: bool = False
    litestream_apps: frozenset[str] = frozenset()

    def uses_litestream(self, app: str) -> bool:
        return self.litestream_all or app in self.litestream_apps


def backup_config(settings: Settings) -> BackupConfig:
    """Read afresh on every call (not from the cached ``settings.server``), so the agent,
    which runs for weeks, follows edits to hostctl.yml within a minute."""
    path = settings.paths.server_config
    section = Section(str(path), load_server_config(path).backup, "backup")
    section.only("schedule", "retention", "litestream")
    defaults = Retention()
    retention = section.section("retention")
    if retention is not None:
        retention.only("last", "hourly", "daily", "weekly")
        kept = Retention(
            **{
                key: retention.integer(key, getattr(defaults, key), 0, RETENTION_MAX) or 0
                for key in ("last", "hourly", "daily", "weekly")
            }
        )
        if kept.last + kept.hourly + kept.daily + kept.weekly == 0:
            section.fail("backup/retention", "keeps no backup at all; set at least one count")
    else:
        kept = defaults
    litestream_all, litestream_apps = read_litestream(section)
    return BackupConfig(
        interval=read_schedule(section),
        retention=kept,
        litestream_all=litestream_all,
        litestream_apps=litestream_apps,
    )


def read_schedule(section: Section) -> float | None:
    value = section.data.get("schedule", "hourly")
    if value is False or value == "off":  # YAML reads a bare `off` as false
        return None
    text = str(value).strip().lower()
    if text in SCHEDULES:
        return SCHEDULES[text]
    match = EVERY.fullmatch(text)
    if isinstance(value, bool) or not match or int(match.group(1)) == 0:
        section.fail(
            section.key_path("schedule"),
            "should be hourly, daily, off, or an interval like 30m, 6h or 2d",
        )
    assert match is not None
    interval = int(match.group(1)) * UNITS[match.group(2)]
    if interval > MAX_INTERVAL:
        section.fail(section.key_path("schedule"), "should be an interval of at most 366d")
    return interval


def read_litestream(section: Section) -> tuple[bool, frozenset[str]]:
    value = section.data.get("litestream", False)
    if isinstance(value, bool):
        return value, frozenset()
    if not isinstance(value, list) or not all(isinstance(app, str) for app in value):
        section.fail(
            section.key_path("litestream"), "should be true, false, or a list of app names"
        )
    return False, frozenset(value)
