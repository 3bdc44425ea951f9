"""Unit tests run without the Docker engine: one that reaches for it fails here, on every
machine, not only on one without dockerd. Tests that need it belong in tests/integration/."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
