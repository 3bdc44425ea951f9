"""Apps linked to GitHub, through the real CLI and the GitHub API double: the webhook
and deploy key hostctl makes (once), commit statuses, and removing only what it made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.github import TOKEN, GitHubDouble
from tests.harness.agent import AgentProcess, push_payload, wait_for_jobs
from tests.harness.env import NAMESPACE, free_port, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, make_repo

pytestmark = pytest.mark.integration
REPO = "octo-dev/blog"
LIMITED = "github_pat_11LIMITED0000000000_abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def gh(gh: GitHubDouble) -> GitHubDouble:
    gh.tokens[LIMITED] = frozenset({"repository_hooks=write", "contents=read"})
    gh.add_repo(REPO)
    return gh


@pytest.fixture
def linked_hostctl(engine: None, tmp_path: Path, gh: GitHubDouble) -> Iterator[Hostctl]:
    namespace = f"{NAMESPACE}gh"
    runner = Hostctl(isolated_env(tmp_path, namespace))
    runner.run("github", "connect", "--token", TOKEN, "--api-url", gh.url)
    yield runner
    stop_caddy(tmp_path)
    remove_labelled(namespace)


def ours(gh: GitHubDouble, hostctl: Hostctl, app: str) -> tuple[list[dict], list[dict]]:
    repo = gh.repos[REPO]
    url = json.loads(hostctl.run("apps", "info", app, "--json").stdout)["webhook_url"]
    hooks = [h for h in repo.hooks if h["config"]["url"] == url]
    public = (hostctl.root / "keys" / app / "id_ed25519.pub").read_text().split()[:2]
    keys = [k for k in repo.keys if k["key"].split()[:2] == public]
    return hooks, keys


def test_create_connect_deploy_disconnect(linked_hostctl, gh, tmp_path, app_name):
    hostctl = linked_hostctl
    foreign_hook = gh.add_hook(REPO, "https://ci.example.com/hook", "theirs")
    foreign_key = gh.add_key(
        REPO, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ci"
    )
    created = hostctl.run("apps", "create", app_name, "--repo", REPO, "--branch", "main")
    assert "read-only deploy key" in created.stdout and "webhook" in created.stdout
    again = hostctl.run("apps", "connect", app_name, "--repo", REPO)
    assert "webhook" in again.stdout
    hooks, keys = ours(gh, hostctl, app_name)
    assert len(hooks) == 1 and len(keys) == 1, (gh.repos[REPO].hooks, gh.repos[REPO].keys)
    info = json.loads(hostctl.run("apps", "info", app_name, "--json", "--show-secrets").stdout)
    assert info["repo"] == f"git@github.com:{REPO}.git" and info["branch"] == "main"
    assert info["github"] == {"repo": REPO, "hook_id": hooks[0]["id"], "key_id": keys[0]["id"]}
    assert gh.repos[REPO].secrets[hooks[0]["id"]] == info["webhook_secret"]
    assert hooks[0]["events"] == ["push"] and hooks[0]["config"]["content_type"] == "json"
    assert keys[0]["read_only"] is True

    # A deploy of a linked app gets a commit status, with the app's URL.
    local = make_repo(tmp_path / "local", "static")
    hostctl.run("deploy", app_name, str(local))
    sha = json.loads(hostctl.run("releases", app_name, "--json").stdout)[0]["commit"]
    statuses = gh.repos[REPO].statuses[sha]
    assert [s["state"] for s in statuses] == ["success"]
    assert statuses[0]["context"] == "hostctl" and statuses[0]["target_url"].startswith("http://")

    # A webhook push whose commit cannot be fetched (github.com is unreachable here):
    # pending, then failure; and a delivery for another repository is refused.
    agent = AgentProcess(hostctl, free_port(), tmp_path / "agent.log")
    agent_yml = Path(hostctl.env["HOSTCTL_ETC"]) / "hostctl.yml"
    agent_yml.write_text(f"agent:\n  listen: 127.0.0.1:{agent.port}\n")
    agent.start()
    try:
        secret = info["webhook_secret"]
        wrong = agent.deliver(app_name, push_payload("a" * 40, full_name="someone/else"), secret)
        assert wrong[0] == 403
        assert agent.deliver(app_name, push_payload("b" * 40, full_name=REPO), secret)[0] == 202
        jobs = wait_for_jobs(hostctl, app_name, count=2)
    finally:
        assert agent.stop() == 0
    assert [j["status"] for j in jobs] == ["done", "failed"], jobs
    assert [s["state"] for s in gh.repos[REPO].statuses["b" * 40]] == ["pending", "failure"]

    removed = hostctl.run("apps", "disconnect", app_name)
    assert f"webhook {hooks[0]['id']}" in removed.stdout
    assert gh.repos[REPO].hooks == [foreign_hook] and gh.repos[REPO].keys == [foreign_key]
    info = json.loads(hostctl.run("apps", "info", app_name, "--json").stdout)
    assert info["repo"] is None and info["github"] is None
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_missing_permission_is_named_and_nothing_is_linked(linked_hostctl, gh, app_name):
    hostctl = linked_hostctl
    hostctl.run("github", "connect", "--token", LIMITED, "--api-url", gh.url)
    hostctl.run("apps", "create", app_name)
    failed = hostctl.run("apps", "connect", app_name, "--repo", REPO, check=False)
    assert failed.returncode == 1 and "Administration" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr and TOKEN not in failed.stderr
    info = json.loads(hostctl.run("apps", "info", app_name, "--json").stdout)
    assert info["repo"] is None and info["github"] is None
    assert gh.repos[REPO].hooks == [] and gh.repos[REPO].keys == []
    hostctl.run("apps", "destroy", app_name, "--yes")
