"""The backup setup steps against moto's S3 server on loopback (credential checks on):
the schedule must be on, and the offsite target is checked with the store, then saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings
from hostctl.setup import backups
from hostctl.setup.answers import Answers
from hostctl.setup.steps import StepResult, run_steps
from tests.harness.backup import MotoS3

pytestmark = pytest.mark.integration


def run(answers: Answers) -> list[StepResult]:
    return run_steps(backups.steps(Settings.from_env(), answers), lambda _: None)


def offsite(s3: MotoS3, bucket: str, key_id: str | None = None) -> str:
    return f"s3://{key_id or s3.access_key_id}@{s3.endpoint.removeprefix('http://')}/{bucket}/box1"


def test_the_target_is_checked_saved_and_then_seen_in_place(
    hostctl_env: Path, s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.new_bucket()
    answers = Answers(offsite=offsite(s3, bucket))
    monkeypatch.setenv("HOSTCTL_OFFSITE_SECRET", s3.secret_access_key)
    assert [(r.name, r.status) for r in run(answers)] == [
        ("backup schedule", "ok"),
        ("offsite target", "applied"),
    ]
    saved = Settings.from_env().paths.offsite
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text()) == {
        "endpoint": s3.endpoint,
        "bucket": bucket,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
        "region": "us-east-1",
        "prefix": "box1/",
    }
    assert [r.status for r in run(answers)] == ["ok", "ok"]
    monkeypatch.delenv("HOSTCTL_OFFSITE_SECRET")
    assert [r.status for r in run(answers)] == ["ok", "ok"], "the saved secret is kept"


def test_a_store_that_refuses_the_key_fails_naming_the_step(
    hostctl_env: Path, s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTCTL_OFFSITE_SECRET", "not-the-secret")
    with pytest.raises(HostctlError) as raised:
        run(Answers(offsite=offsite(s3, s3.new_bucket())))
    assert raised.value.message.startswith("setup step 'offsite target' failed: ")
    assert "not-the-secret" not in raised.value.message
    assert not Settings.from_env().paths.offsite.exists()


def test_without_the_secret_it_says_where_to_put_it(
    hostctl_env: Path, s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSTCTL_OFFSITE_SECRET", raising=False)
    with pytest.raises(HostctlError) as raised:
        run(Answers(offsite=offsite(s3, "somebucket")))
    assert "setup step 'offsite target' failed: no secret key" in raised.value.message
    assert "HOSTCTL_OFFSITE_SECRET" in (raised.value.hint or "")


def test_a_schedule_turned_off_fails_with_where(hostctl_env: Path) -> None:
    config = Settings.from_env().paths.server_config
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("backup:\n  schedule: off\n")
    with pytest.raises(HostctlError) as raised:
        run(Answers())
    assert "setup step 'backup schedule' failed: scheduled backups are off" in str(
        raised.value.message
    )
    config.write_text("backup:\n  schedule: daily\n")
    assert [(r.name, r.status) for r in run(Answers())] == [("backup schedule", "ok")]


def test_offsite_forms() -> None:
    assert backups.parse_offsite("s3://AKIA1@acct.r2.cloudflarestorage.com/backups") == (
        "https://acct.r2.cloudflarestorage.com",
        "backups",
        "AKIA1",
        "",
    )
    assert backups.parse_offsite("s3://K@127.0.0.1:9000/b/x/y/") == (
        "http://127.0.0.1:9000",
        "b",
        "K",
        "x/y",
    )
    for wrong in ("https://K@host/b", "s3://host/b", "s3://K@host", "s3://K:secret@host/b"):
        with pytest.raises(HostctlError, match="is not of the form"):
            backups.parse_offsite(wrong)
