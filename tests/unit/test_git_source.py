"""Fetching an app's source with real git: refs resolved in the app's cache, and the
stale-push check's fetch reused by the deploy (one round trip to the repository)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from hostctl.adapters import git
from hostctl.core.errors import HostctlError
from hostctl.deploy.pipeline import stale_push
from hostctl.deploy.source import fetch_source
from hostctl.host import Host


def run(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(
        ["git", "-C", str(repo), *identity, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def committed(repo: Path, text: str) -> str:
    (repo / "VERSION").write_text(text)
    run(repo, "add", "-A")
    run(repo, "commit", "-qm", text.strip())
    return run(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def test_a_ref_is_a_branch_then_a_tag_then_a_commit(repo: Path, tmp_path: Path) -> None:
    first = committed(repo, "one\n")
    run(repo, "tag", "-a", "-m", "annotated", "release", first)  # peeled to its commit
    second = committed(repo, "two\n")
    run(repo, "branch", "same", second)
    run(repo, "tag", "same", first)  # a branch and a tag of one name: the branch wins
    cache = tmp_path / "cache"
    url = f"file://{repo}"
    assert git.fetch(cache, url, None) == second
    assert git.resolve(cache, url, "release") == first
    assert git.resolve(cache, url, "same") == second
    assert git.resolve(cache, url, first[:10]) == first
    with pytest.raises(HostctlError, match="ref 'nowhere' not found"):
        git.resolve(cache, url, "nowhere")


def test_the_stale_push_check_fetches_what_the_deploy_builds(
    hostctl_env: Path, repo: Path, tmp_path: Path
) -> None:
    old = committed(repo, "one\n")
    head = committed(repo, "two\n")
    host = Host()
    host.store.insert_app("blog", ["blog.localhost"])
    url = f"file://{repo}"
    host.store.set_repo("blog", url, "main")
    assert stale_push(host, "blog", url, old) == (
        f"{old[:10]} is no longer the head of main on {url} (it is {head[:10]} now)"
    )
    assert stale_push(host, "blog", url, head) is None
    shutil.move(repo, tmp_path / "moved")  # from here, any fetch from the repository fails
    tree = tmp_path / "tree"
    cache = host.settings.paths.build_repo("blog")
    fetched = fetch_source(url, head, cache, tree, fetched=True)
    assert fetched.commit == head
    assert (tree / "VERSION").read_text() == "two\n"
    with pytest.raises(HostctlError, match="git fetch failed"):
        fetch_source(url, head, cache, tmp_path / "again")


def test_a_fetch_from_a_server_that_never_answers_ends_at_its_timeout(tmp_path: Path) -> None:
    """Its helper processes (git-remote-http) go too: left behind, they hang for good."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts connections (the kernel does), never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}/app.git"
        started = time.monotonic()
        with pytest.raises(HostctlError, match="git fetch did not finish in 1 s"):
            git.fetch(tmp_path / "cache", url, None, timeout=1)
        assert time.monotonic() - started < 10
        left = subprocess.run(["pgrep", "-f", url], capture_output=True, text=True).stdout
        assert left == "", "no git process is left behind"
