"""The backup section of hostctl.yml, and the retention policy it sets."""

from datetime import UTC, datetime, timedelta

import pytest

from hostctl.backup.config import BackupConfig, Retention, backup_config
from hostctl.backup.retention import to_keep
from hostctl.core.errors import HostctlError
from hostctl.settings import Settings


def config_from(tmp_path, text):
    (tmp_path / "hostctl.yml").write_text(text)
    return backup_config(Settings(tmp_path / "root", tmp_path, "t", None))


def test_defaults_hourly_with_24_hourly_7_daily_4_weekly(tmp_path):
    assert config_from(tmp_path, "domain: example.com\n") == BackupConfig(
        interval=3600.0, retention=Retention(last=3, hourly=24, daily=7, weekly=4)
    )


def test_every_key_can_be_set(tmp_path):
    found = config_from(
        tmp_path,
        "backup:\n  schedule: 30m\n  retention: {hourly: 6, daily: 0}\n"
        "  litestream: [blog, shop]\n",
    )
    assert found.interval == 1800.0
    assert found.retention == Retention(last=3, hourly=6, daily=0, weekly=4)
    assert found.uses_litestream("blog") and not found.uses_litestream("other")
    assert config_from(tmp_path, "backup:\n  schedule: off\n").interval is None
    assert config_from(tmp_path, "backup:\n  schedule: daily\n").interval == 86400.0
    assert config_from(tmp_path, "backup:\n  litestream: true\n").uses_litestream("any")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention:\n    hourly: lots", "backup/retention/hourly: should be an integer"),
        ("retention:\n    weekly: -1", "backup/retention/weekly: should be at least 0"),
        ("retention:\n    yearly: 1", "backup/retention/yearly: unknown key"),
        ("schedule: sometimes", "backup/schedule: should be hourly, daily, off, or an interval"),
        ("litestream: maybe", "backup/litestream: should be true, false, or a list"),
        ("retention: {last: 0, hourly: 0, daily: 0, weekly: 0}", "backup/retention: keeps no"),
        ("schedules: hourly", "backup/schedules: unknown key"),
    ],
)
def test_errors_name_the_key_path(tmp_path, text, message):
    with pytest.raises(HostctlError) as raised:
        config_from(tmp_path, f"backup:\n  {text}\n")
    assert f"hostctl.yml: {message}" in raised.value.message
    assert raised.value.hint


def every(start, step, count):
    return [(f"b{i}", start - i * step) for i in range(count)]


NOW = datetime(2025, 6, 15, 12, 30, tzinfo=UTC)  # a Sunday


def test_hourly_backups_over_five_weeks_keep_24_hourly_7_daily_4_weekly():
    backups = every(NOW, timedelta(hours=1), 24 * 35)
    kept = to_keep(backups, Retention(last=0))
    ages = sorted(NOW - dict(backups)[i] for i in kept)
    hourly = [a for a in ages if a < timedelta(hours=24)]
    assert len(hourly) == 24
    days = {(NOW - a).date() for a in ages}
    assert len(days) == 7 + 3, "7 days, plus the newest of 3 older ISO weeks"
    # the last 24 hours span today and yesterday, whose newest backups are hourly ones
    assert len(kept) == 24 + 5 + 3


def test_several_backups_in_one_hour_keep_the_newest_and_the_last_n():
    backups = every(NOW, timedelta(minutes=5), 6)
    assert to_keep(backups, Retention(last=0, hourly=24)) == {"b0"}
    assert to_keep(backups, Retention(last=3, hourly=24)) == {"b0", "b1", "b2"}


def test_a_gap_in_backups_does_not_empty_the_buckets():
    old = every(NOW - timedelta(days=60), timedelta(hours=1), 48)
    kept = to_keep(old, Retention(last=0, hourly=24, daily=0, weekly=0))
    assert len(kept) == 24, "buckets count backups that exist, not calendar hours"
