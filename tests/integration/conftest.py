"""Fixtures of the backup tests: a hostctl root per test module, and moto's S3 server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.backup import BackupHostctl, MotoS3


@pytest.fixture(scope="module")
def runner(
    engine: None, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BackupHostctl]:
    """The CLI on a root of this module's own (its apps, volumes and backups)."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with BackupHostctl.isolated(tmp_path_factory.mktemp(name)) as found:
        yield found


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    server = MotoS3()
    yield server
    server.stop()
