"""Which builder a process picks: BuildKit through buildx, or through a docker CLI from
before 23.0 with DOCKER_BUILDKIT=1, else the classic builder. The docker CLIs here are
stand-in scripts on PATH (Debian 12 packages no buildx), ahead of the machine's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostctl.adapters.cgroups import buildkit_group
from hostctl.adapters.docker import pick_builder
from hostctl.core.errors import HostctlError


def fake_docker(folder: Path, version: str, buildx: bool) -> str:
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = version ]; then echo {version}; fi\n'
    )
    script.chmod(0o755)
    return str(script)


@pytest.fixture(autouse=True)
def fresh_choice():
    pick_builder.cache_clear()
    yield
    pick_builder.cache_clear()


def test_a_cli_with_buildx_comes_first(tmp_path, monkeypatch):
    old = fake_docker(tmp_path / "old", "20.10.24", buildx=False)
    new = fake_docker(tmp_path / "new", "28.2.2", buildx=True)
    monkeypatch.setenv("PATH", f"{Path(old).parent}:{Path(new).parent}:{os.environ['PATH']}")
    chosen = pick_builder("cgroupfs", "auto")
    assert (chosen.kind, chosen.cli, chosen.buildkit) == ("buildx", new, True)


def test_without_buildx_a_cli_from_before_23_builds_with_buildkit(tmp_path, monkeypatch):
    new = fake_docker(tmp_path / "new", "28.2.2", buildx=False)
    old = fake_docker(tmp_path / "old", "20.10.24+dfsg1", buildx=False)
    monkeypatch.setenv("PATH", f"{Path(new).parent}:{Path(old).parent}")
    chosen = pick_builder("cgroupfs", "auto")
    assert (chosen.kind, chosen.cli) == ("buildkit", old)
    assert "DOCKER_BUILDKIT=1" in chosen.describe()


def test_the_classic_builder_when_asked_or_when_buildkit_cannot_be_bounded():
    assert pick_builder("cgroupfs", "classic").cli is None
    unbounded = pick_builder("systemd", "auto")
    assert unbounded.kind == "classic"
    assert "cannot be bounded with systemd" in unbounded.describe()
    with pytest.raises(HostctlError, match="HOSTCTL_BUILDER=fast is not a builder"):
        pick_builder("cgroupfs", "fast")


@pytest.mark.parametrize(
    ("daemon_json", "group"),
    [
        (None, "docker/buildkit"),
        ('{"log-driver": "json-file"}', "docker/buildkit"),
        ('{"cgroup-parent": "/boxes/engine"}', "boxes/engine/buildkit"),
        ('{"cgroup-parent": "engine"}', "engine/buildkit"),  # BuildKit's is from the root
        ('{"cgroup-parent": "/"}', "buildkit"),  # moby takes any non-empty parent
        ('{"cgroup-parent": ""}', "docker/buildkit"),
        ("not json", "docker/buildkit"),  # dockerd would not start with it
    ],
)
def test_the_buildkit_group_follows_the_engines_cgroup_parent(tmp_path, daemon_json, group):
    path = tmp_path / "daemon.json"
    if daemon_json is not None:
        path.write_text(daemon_json)
    assert buildkit_group(path) == group
