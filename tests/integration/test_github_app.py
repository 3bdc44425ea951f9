"""The GitHub App end to end, with a real agent on loopback and the GitHub double: the
manifest flow through the agent's pages, `apps create --repo`, a push to the App's one
webhook that deploys (fetching over HTTP with an installation token) and sets the
commit's status, the repository renamed on GitHub and still deploying, and nothing made
per repository on GitHub."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.doubles.github import GitHubDouble
from tests.harness.agent import AgentProcess, installation_created, push_payload, wait_for_jobs
from tests.harness.env import NAMESPACE, free_port, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, commit, make_repo

pytestmark = pytest.mark.integration
REPO = "me/blog"


@pytest.fixture
def hostctl(engine: None, tmp_path: Path) -> Iterator[Hostctl]:
    namespace = f"{NAMESPACE}ga"
    runner = Hostctl(isolated_env(tmp_path, namespace))
    yield runner
    stop_caddy(tmp_path)
    remove_labelled(namespace)


@pytest.fixture
def agent(hostctl: Hostctl, tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(hostctl, free_port(), tmp_path / "agent.log", listen_flag=False)
    agent_yml = Path(hostctl.env["HOSTCTL_ETC"]) / "hostctl.yml"
    agent_yml.parent.mkdir(parents=True, exist_ok=True)
    agent_yml.write_text(f"agent:\n  listen: 127.0.0.1:{process.port}\n")
    process.start()
    yield process
    assert process.stop() == 0


def deliver(
    agent: AgentProcess, secret: str, event: str, payload: dict[str, Any], delivery: str = ""
) -> tuple[int, Any]:
    """POST to the App's webhook as GitHub does, signed with the App's webhook secret."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    return agent.request("POST", "/hooks/github", body, headers)


def browse_manifest_flow(url: str) -> httpx.Response:
    """What a person's browser does: the agent's page, its form to GitHub, GitHub's
    redirect back to the agent."""
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    action = html.unescape(re.search(r'action="([^"]+)"', page.text)[1])  # type: ignore[index]
    manifest = html.unescape(re.search(r'name=manifest value="([^"]+)"', page.text)[1])  # type: ignore[index]
    to_github = httpx.post(action, data={"manifest": manifest})
    assert to_github.status_code == 302
    return httpx.get(to_github.headers["location"])


def test_app_flow_create_push_deploy_and_status_with_nothing_per_repository(
    hostctl: Hostctl, agent: AgentProcess, gh: GitHubDouble, tmp_path: Path, app_name: str
) -> None:
    # `github connect --app`: the URL is printed, the browser goes through the flow.
    waiting = hostctl.popen("github", "connect", "--app", "--api-url", gh.url, "--timeout", "60")
    assert waiting.stdout is not None
    lines = [waiting.stdout.readline(), waiting.stdout.readline()]
    url = lines[1].strip()
    assert url.startswith(f"http://127.0.0.1:{agent.port}/hooks/github-app/new/"), lines
    back = browse_manifest_flow(url)
    assert back.status_code == 200 and "is ready" in back.text, back.text
    rest, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, rest
    (app,) = gh.apps.values()
    assert f"{gh.origin}/apps/{app.slug}/installations/new" in rest
    assert httpx.get(url).status_code == 404  # the link is used up
    assert app.pem not in agent.log() + rest

    # Linking before the App is installed on the repository: said at once, with the URL.
    bare = gh.git_repo(REPO)
    refused = hostctl.run("apps", "create", app_name, "--repo", REPO, check=False)
    assert refused.returncode == 1 and "cannot see me/blog" in refused.stderr, refused.stderr
    assert f"/apps/{app.slug}/installations/new" in refused.stderr
    assert f"Then run `hostctl apps connect {app_name} --repo {REPO}`." in refused.stderr
    assert "run the command again" not in refused.stderr  # `apps create` again would fail
    assert "Traceback" not in refused.stderr

    installation = gh.install(app.id, "me", [REPO])
    recorded = deliver(
        agent,
        app.webhook_secret,
        "installation",
        installation_created(installation, "me", [REPO]),
    )
    assert recorded == (200, {"status": "recorded: installation created (me)"})
    linked = hostctl.run("apps", "connect", app_name, "--repo", REPO)
    assert f"GitHub App {app.slug} (installation {installation}) can read {REPO}" in linked.stdout
    status = hostctl.run("github", "status").stdout
    assert "GitHub App" in status and app.slug in status and "me (selected" in status

    # A push to the App's webhook deploys the app, fetching with an installation token.
    work = make_repo(tmp_path / "work", "static")
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    sha = commit(work, {"index.html": "<h1>from the app</h1>\n"}, "second")
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    secret = app.webhook_secret

    forged = deliver(agent, "not-the-secret", "push", push_payload(sha, full_name=REPO))
    assert forged[0] == 401
    other = deliver(agent, secret, "push", push_payload(sha, full_name="me/other"))
    assert other == (200, {"status": "ignored: no app deploys me/other"})
    branch = deliver(agent, secret, "push", push_payload(sha, "dev", full_name=REPO))
    assert branch[0] == 200 and "is not the deploy branch main" in branch[1]["status"]
    delivery = str(uuid.uuid4())
    number = gh.repos[REPO].id
    pushed = push_payload(sha, full_name=REPO, repository_id=number)
    queued = deliver(agent, secret, "push", pushed, delivery)
    assert queued[0] == 202 and queued[1]["jobs"][0]["app"] == app_name, queued
    again = deliver(agent, secret, "push", pushed, delivery)
    assert again[0] == 200 and "redelivery" in again[1]["status"]

    jobs = wait_for_jobs(hostctl, app_name, count=1)
    assert [j["status"] for j in jobs] == ["done"], (jobs, agent.log())
    releases = json.loads(hostctl.run("releases", app_name, "--json").stdout)
    assert releases[0]["commit"] == sha
    statuses = gh.repos[REPO].statuses[sha]
    assert [s["state"] for s in statuses] == ["pending", "success"]
    assert re.search(
        r"Release 1 is live \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", statuses[1]["description"]
    )
    fetched = [r for r in gh.requests if r.path == f"/{REPO}.git/git-upload-pack"]
    assert fetched and all(r.status == 200 for r in fetched)

    # Renamed on GitHub: the next push (same repository id) deploys from the new name.
    renamed = "me/journal"
    gh.rename_repo(REPO, renamed)
    sha = commit(work, {"index.html": "<h1>renamed</h1>\n"}, "third")
    subprocess.run(
        ["git", "-C", str(work), "push", "-q", str(gh.git_repo(renamed)), "main"], check=True
    )
    pushed = push_payload(sha, full_name=renamed, repository_id=number)
    assert deliver(agent, secret, "push", pushed)[0] == 202
    jobs = wait_for_jobs(hostctl, app_name, count=2)
    assert [j["status"] for j in jobs] == ["done", "done"], (jobs, agent.log())
    info = json.loads(hostctl.run("apps", "info", app_name, "--json").stdout)
    assert info["repo"] == f"{gh.origin}/{renamed}.git", info
    assert gh.repos[renamed].statuses[sha][-1]["state"] == "success"
    assert [r for r in gh.requests if r.path == f"/{renamed}.git/git-upload-pack"]

    # Nothing per repository: no webhook, no deploy key, not even an attempt.
    assert gh.repos[renamed].hooks == [] and gh.repos[renamed].keys == []
    assert not gh.calls("POST", r"/hooks$|/keys$")
    for token in gh.minted:
        assert token not in agent.log()
        assert not any(token in p.read_text(errors="replace") for p in text_files(hostctl.root))

    done = hostctl.run("github", "disconnect")
    assert f"{gh.origin}/settings/apps/{app.slug}/advanced" in done.stdout
    assert not (Path(hostctl.env["HOSTCTL_ETC"]) / "github-app.pem").exists()
    hostctl.run("apps", "destroy", app_name, "--yes")


def text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 5_000_000]
