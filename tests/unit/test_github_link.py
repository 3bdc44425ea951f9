"""Linking and unlinking an app, in-process with the real state store and GitHub client,
against the GitHub API double."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hostctl.agent.webhooks import handle_delivery
from hostctl.deploy import github_status
from hostctl.deploy.github_status import report_status
from hostctl.deploy.pipeline import deploy_key_env
from hostctl.github.connection import connect_github
from hostctl.github.keys import existing_deploy_key
from hostctl.github.link import link_app, unlink_app
from hostctl.host import Host
from hostctl.state.queue import enqueue
from tests.doubles.github import TOKEN, GitHubDouble
from tests.harness.agent import push_payload, sign

REPO = "octo-dev/blog"


@pytest.fixture
def gh(gh: GitHubDouble) -> GitHubDouble:
    gh.add_repo(REPO)
    return gh


@pytest.fixture
def host(hostctl_env: Path, gh: GitHubDouble) -> Host:
    host = Host()
    connect_github(host, TOKEN, gh.url)
    host.store.insert_app("blog", ["blog.localhost"])
    return host


def test_disconnect_when_the_repository_is_gone_clears_the_link(
    host: Host, gh: GitHubDouble
) -> None:
    linked = link_app(host, "blog", REPO, "main")
    assert len(linked.made) == 2
    ids = host.store.app("blog").github
    assert ids["repo"] == REPO and ids["hook_id"] and ids["key_id"]
    del gh.repos[REPO.lower()]  # deleted, renamed away, or no longer shared with the token

    removed = unlink_app(host, "blog")
    assert len(removed) == 1
    assert f"on {REPO} (GitHub no longer shows that repository" in removed[0]
    found = host.store.app("blog")
    assert found.github == {} and found.repo is None
    assert not (host.settings.root / "keys" / "blog").exists()
    assert gh.calls("DELETE", rf"/repos/{REPO}/hooks/{ids['hook_id']}$")
    assert unlink_app(host, "blog") == []  # nothing left to remove: no API call
    assert len(gh.calls("DELETE", ".")) == 1


def test_moving_to_a_repository_when_the_old_one_is_gone(host: Host, gh: GitHubDouble) -> None:
    link_app(host, "blog", REPO, "main")
    del gh.repos[REPO.lower()]
    gh.add_repo("octo-dev/site")
    link_app(host, "blog", "octo-dev/site", "main")
    ids = host.store.app("blog").github
    assert ids["repo"] == "octo-dev/site"
    assert [h["id"] for h in gh.repos["octo-dev/site"].hooks] == [ids["hook_id"]]
    assert [k["id"] for k in gh.repos["octo-dev/site"].keys] == [ids["key_id"]]


def test_a_new_repository_under_the_linked_name_deploys_once_linked_again(
    host: Host, gh: GitHubDouble
) -> None:
    link_app(host, "blog", REPO, "main")
    secret = host.store.app("blog").webhook_secret

    def push(number: int, delivery: str) -> tuple[int, str]:
        body = push_payload("c" * 40, full_name=REPO, repository_id=number)
        raw = json.dumps(body).encode()
        headers = {"x-hub-signature-256": sign(secret, raw), "x-github-event": "push"}
        answer = handle_delivery(host.store, "blog", headers | {"x-github-delivery": delivery}, raw)
        return answer.status, str(answer.body)

    assert push(gh.repos[REPO].id, "d1")[0] == 202
    del gh.repos[REPO]
    new = gh.add_repo(REPO)  # deleted, and made again under the same name
    status, said = push(new.id, "d2")
    assert status == 403 and f"`hostctl apps connect blog --repo {REPO}`" in said, said
    link_app(host, "blog", REPO, "main")
    assert "repo_id" not in host.store.app("blog").github
    assert push(new.id, "d3")[0] == 202
    assert host.store.app("blog").github["repo_id"] == new.id


def test_disconnect_removes_what_it_made(host: Host, gh: GitHubDouble) -> None:
    link_app(host, "blog", REPO, "main")
    ids = host.store.app("blog").github
    assert unlink_app(host, "blog") == [
        f"webhook {ids['hook_id']} on {REPO}",
        f"deploy key {ids['key_id']} on {REPO}",
    ]
    assert gh.repos[REPO.lower()].hooks == [] and gh.repos[REPO.lower()].keys == []


class Lines:
    """A Reporter that keeps what the job's log would get."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, text: str) -> None:
        self.lines.append(text)

    def detail(self, text: str) -> None:
        self.lines.append(text)


SHA = "c" * 40


def test_a_commit_status_is_posted_once_and_never_waits(
    host: Host, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_app(host, "blog", REPO, "main")
    claimed = enqueue(host.store, "blog", "push", "x", SHA)
    out = Lines()
    report_status(host, claimed, "pending", "Deploying (push)", out=out)
    assert [s["state"] for s in gh.repos[REPO.lower()].statuses[SHA]] == ["pending"]
    assert out.lines == []

    gh.fail("POST", "/statuses/", 429, times=5, headers={"Retry-After": "30"})
    started = time.monotonic()
    report_status(host, claimed, "success", "Release 1 is live", out=out)
    assert time.monotonic() - started < 3, "a rate limit is not waited out"
    assert len(gh.calls("POST", "/statuses/")) == 2, "one attempt, no retry"
    assert len(out.lines) == 1 and "GitHub commit status 'success' not set" in out.lines[0]
    assert "rate limit" in out.lines[0]

    gh.faults.clear()
    gh.fail("POST", "/statuses/", 503, times=5)
    report_status(host, claimed, "failure", "boom", out=out)
    assert len(gh.calls("POST", "/statuses/")) == 3
    assert "HTTP 503" in out.lines[-1]

    gh.faults.clear()
    monkeypatch.setattr(github_status, "TIMEOUT", 0.5)
    gh.fail("POST", "/statuses/", 201, delay=2.0, applied=True)
    started = time.monotonic()
    report_status(host, claimed, "success", "Release 1 is live", out=out)
    assert time.monotonic() - started < 1.8, "a slow GitHub is given up on"
    assert "cannot reach GitHub" in out.lines[-1]
    assert gh.faults[0].times == 0, "one attempt, still being answered"


def test_a_deploy_only_reads_the_deploy_key(host: Host, gh: GitHubDouble) -> None:
    assert deploy_key_env(host, "blog") == {}  # not connected: no key, none made
    assert not host.settings.paths.deploy_keys("blog").exists()
    link_app(host, "blog", REPO, "main")
    public = host.settings.paths.deploy_keys("blog") / "id_ed25519.pub"
    before = (public.read_text(), public.stat().st_mtime_ns)
    assert before[0].endswith(" hostctl blog\n")
    env = deploy_key_env(host, "blog")
    assert str(host.settings.paths.deploy_keys("blog") / "id_ed25519") in env["GIT_SSH_COMMAND"]
    assert (public.read_text(), public.stat().st_mtime_ns) == before
    key = existing_deploy_key(host.settings, "blog")
    assert key is not None and key.public_key_openssh + "\n" == before[0]
    link_app(host, "blog", REPO, "main")  # connecting again keeps the same key
    assert (public.read_text(), public.stat().st_mtime_ns) == before
    assert len(gh.repos[REPO.lower()].keys) == 1


def test_an_https_url_gets_a_webhook_and_no_deploy_key(host: Host, gh: GitHubDouble) -> None:
    https = f"https://github.com/{REPO}.git"
    linked = link_app(host, "blog", https, "main")
    assert linked.repo == https and [m.split()[0] for m in linked.made] == ["webhook"]
    repo = gh.repos[REPO.lower()]
    assert len(repo.hooks) == 1 and repo.keys == []
    assert not host.settings.paths.deploy_keys("blog").exists()
    assert "key_id" not in host.store.app("blog").github

    link_app(host, "blog", REPO, "main")  # SSH: the deploy key is added
    assert len(repo.keys) == 1 and len(repo.hooks) == 1
    link_app(host, "blog", https, "main")  # back to https: the unused key is removed
    assert repo.keys == [] and len(repo.hooks) == 1
    assert "key_id" not in host.store.app("blog").github
    assert not host.settings.paths.deploy_keys("blog").exists()
    assert deploy_key_env(host, "blog") == {}


def test_a_job_that_fails_unexpectedly_still_ends_its_commit_status(
    host: Host, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostctl import queue
    from hostctl.deploy import pipeline
    from hostctl.state.queue import claim, lease_owner

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "deploy", broken)
    link_app(host, "blog", REPO, "main")
    enqueue(host.store, "blog", "push", "x", SHA)
    claimed = claim(host.store, lease_owner())
    assert claimed is not None
    with pytest.raises(RuntimeError):
        queue.run_job(host, claimed, Lines())
    assert [s["state"] for s in gh.repos[REPO.lower()].statuses[SHA]] == ["pending", "failure"]
    done = queue.job(host.store, claimed.id)
    assert done.status == "failed" and "a bug" in (done.error or "")
