"""GitHub App mode in-process, against the GitHub double: the manifest flow, the app's
JWT, installation tokens, git over HTTP with the token, and commit statuses."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hostctl.adapters import github as adapter
from hostctl.adapters.github import NotInstalled, installation_token
from hostctl.agent.webhooks import handle_app_delivery
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import GitHubSettings, load_github
from hostctl.deploy.source import fetch_source
from hostctl.github.app import (
    complete_setup,
    git_credentials,
    git_token_env,
    setup_page,
    start_setup,
    wait_for_setup,
)
from hostctl.github.connection import connect_github
from hostctl.github.link import link_app
from hostctl.host import Host
from hostctl.state.github_app import Installation, installations
from tests.doubles.github import LOGIN, TOKEN, GitHubDouble

REPO = f"{LOGIN}/blog"


@pytest.fixture(autouse=True)
def no_cached_tokens() -> None:
    adapter._tokens.clear()


@pytest.fixture
def host(hostctl_env: Path) -> Host:
    host = Host()
    host.store.insert_app("blog", ["blog.localhost"])
    return host


def submit(page: str) -> httpx.Response:
    """What the browser does with the setup page: post its form to GitHub."""
    action = html.unescape(re.search(r'action="([^"]+)"', page)[1])  # type: ignore[index]
    manifest = html.unescape(re.search(r'name=manifest value="([^"]+)"', page)[1])  # type: ignore[index]
    return httpx.post(action, data={"manifest": manifest})


def made_app(host: Host, gh: GitHubDouble) -> GitHubSettings:
    started = start_setup(host, gh.url)
    page = setup_page(host.store, started.state)
    assert page is not None
    back = parse_qs(urlsplit(submit(page).headers["location"]).query)
    assert back["state"] == [started.state]
    return complete_setup(host.store, host.settings, started.state, back["code"][0])


def commit_repo(gh: GitHubDouble, tmp_path: Path, full_name: str = REPO) -> str:
    bare = gh.git_repo(full_name)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "index.html").write_text("hello\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-qm", "one"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    return subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_manifest_flow_saves_the_app_and_its_key_0600(host: Host, gh: GitHubDouble) -> None:
    connection = made_app(host, gh)
    assert connection.app is not None
    double_app = gh.apps[connection.app.id]
    manifest = double_app.manifest
    assert manifest["hook_attributes"]["url"].endswith("/hooks/github")
    assert manifest["redirect_url"].endswith("/hooks/github-app/callback")
    assert manifest["default_permissions"] == {
        "contents": "read",
        "metadata": "read",
        "statuses": "write",
    }
    saved = load_github(host.settings)
    assert saved is not None and saved.app == connection.app
    assert saved.private_key == double_app.pem
    for path in (host.settings.paths.github_connection, host.settings.paths.github_app_key):
        assert path.stat().st_mode & 0o777 == 0o600
    assert double_app.pem not in host.settings.paths.github_connection.read_text()
    with saved.api() as api:  # the JWT signed with the saved key is accepted
        assert api.app()["slug"] == connection.app.slug


def test_a_setup_link_is_used_once_and_expires(host: Host, gh: GitHubDouble) -> None:
    made_app(host, gh)
    used = gh.apps[max(gh.apps)]
    with pytest.raises(HostctlError, match="already used"):
        complete_setup(host.store, host.settings, "no-such-state", "code")
    started = start_setup(host, gh.url)
    host.store.db.execute(
        "UPDATE github_app_setups SET created_at = ? WHERE state = ?",
        (time.time() - 3601, started.state),
    )
    assert setup_page(host.store, started.state) is None  # older than an hour
    with pytest.raises(HostctlError, match="expired"):
        complete_setup(host.store, host.settings, started.state, "code")
    # the state of a finished setup cannot be used again, even with a fresh code
    again = start_setup(host, gh.url)
    page = setup_page(host.store, again.state)
    assert page is not None
    code = parse_qs(urlsplit(submit(page).headers["location"]).query)["code"][0]
    complete_setup(host.store, host.settings, again.state, code)
    assert setup_page(host.store, again.state) is None
    with pytest.raises(HostctlError, match="already used"):
        complete_setup(host.store, host.settings, again.state, code)
    assert used.id in gh.apps


def test_a_code_github_refuses_is_an_error_and_saves_nothing(host: Host, gh: GitHubDouble) -> None:
    started = start_setup(host, gh.url)
    with pytest.raises(HostctlError, match="GitHub refused to create the GitHub App"):
        complete_setup(host.store, host.settings, started.state, "forged")
    assert load_github(host.settings) is None
    found = host.store.db.execute(
        "SELECT outcome FROM github_app_setups WHERE state = ?", (started.state,)
    ).fetchone()
    assert "HTTP 404" in found["outcome"]


def test_jwt_is_back_dated_so_a_clock_ahead_by_under_a_minute_works(
    host: Host, gh: GitHubDouble
) -> None:
    connection = made_app(host, gh)
    gh.add_repo(REPO)
    assert connection.app is not None
    gh.install(connection.app.id, LOGIN, [REPO])
    ahead = installation_token(connection.identity, REPO, clock=lambda: time.time() + 45)
    assert ahead in gh.minted
    with pytest.raises(HostctlError, match="'iat'"):
        installation_token(connection.identity, REPO, fresh=True, clock=lambda: time.time() + 90)
    with pytest.raises(HostctlError, match="'exp'"):
        installation_token(connection.identity, REPO, fresh=True, clock=lambda: time.time() - 700)


def test_tokens_are_cached_until_shortly_before_they_expire(host: Host, gh: GitHubDouble) -> None:
    connection = made_app(host, gh)
    gh.add_repo(REPO)
    assert connection.app is not None
    gh.install(connection.app.id, LOGIN, [REPO])
    first = installation_token(connection.identity, REPO)
    assert installation_token(connection.identity, REPO) == first
    assert len(gh.calls("POST", r"/access_tokens$")) == 1
    assert gh.calls("POST", r"/access_tokens$")[0].body == {"repositories": ["blog"]}
    gh.token_lifetime = 240  # under five minutes left: replaced before it is used
    short = installation_token(connection.identity, REPO, fresh=True)
    later = installation_token(connection.identity, REPO)
    assert len({first, short, later}) == 3
    assert gh.minted[later].repositories == {REPO.lower()}


def test_linking_a_repository_the_app_cannot_see_names_the_install_url(
    host: Host, gh: GitHubDouble
) -> None:
    connection = made_app(host, gh)
    gh.add_repo(REPO)
    assert connection.app is not None
    with pytest.raises(NotInstalled) as refused:
        link_app(host, "blog", REPO, "main")
    assert f"cannot see {REPO}" in refused.value.message
    assert f"/apps/{connection.app.slug}/installations/new" in (refused.value.hint or "")
    assert "run the command again" not in (refused.value.hint or "")  # said by the caller
    assert host.store.app("blog").repo is None
    installation = gh.install(connection.app.id, LOGIN, [REPO])
    linked = link_app(host, "blog", REPO, "main")
    assert linked.repo == f"{gh.origin}/{REPO}.git"
    assert host.store.app("blog").github == {"repo": REPO, "installation": installation}
    assert gh.repos[REPO.lower()].hooks == [] and gh.repos[REPO.lower()].keys == []


def test_fetch_over_http_with_the_token_and_a_token_expired_mid_way_is_replaced(
    host: Host, gh: GitHubDouble, tmp_path: Path
) -> None:
    connection = made_app(host, gh)
    assert connection.app is not None
    commit = commit_repo(gh, tmp_path)
    installation = gh.install(connection.app.id, LOGIN, [REPO])
    assert git_credentials(host.settings, {"repo": REPO, "key_id": 5}) is None  # token mode
    credentials = git_credentials(host.settings, {"repo": REPO, "installation": installation})
    assert credentials is not None
    url = f"{gh.origin}/{REPO}.git"
    cache = tmp_path / "cache"
    fetched = fetch_source(url, "main", cache, tmp_path / "tree", credentials=credentials)
    assert fetched.commit == commit and (tmp_path / "tree" / "index.html").exists()
    token = next(iter(gh.minted))
    assert not any(token in p.read_bytes().decode(errors="replace") for p in files(cache))

    gh.expire_tokens()  # the cached token is refused from now on
    again = fetch_source(url, "main", cache, tmp_path / "tree2", credentials=credentials)
    assert again.commit == commit
    assert len(gh.minted) == 2  # minted anew, once
    refused = [r for r in gh.requests if r.path.endswith("/info/refs") and r.status == 401]
    assert refused  # the first attempt met the expired token

    with pytest.raises(HostctlError, match="git fetch failed"):  # no token: no access
        fetch_source(url, "main", tmp_path / "other", tmp_path / "tree3")


def files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_the_git_environment_holds_no_token_outside_its_variable() -> None:
    env = git_token_env("ghs_secret")
    assert [k for k, v in env.items() if "ghs_secret" in v] == ["HOSTCTL_GIT_TOKEN"]
    assert json.dumps(env).count("ghs_secret") == 1


def signed(secret: str, event: str, payload: dict[str, object]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "x-github-event": event,
        "x-github-delivery": secrets.token_hex(8),
        "x-hub-signature-256": f"sha256={digest}",
    }
    return headers, body


def test_installation_events_keep_the_repositories_the_app_sees(host: Host) -> None:
    def event(name: str, payload: dict[str, object]) -> str:
        answer = handle_app_delivery(host.store, "s3cret", *signed("s3cret", name, payload))
        assert answer.status == 200
        return answer.outcome

    selected = {"id": 7, "account": {"login": "me"}, "repository_selection": "selected"}
    event("installation", {"action": "created", "installation": selected, "repositories": []})
    added = [{"full_name": "me/Blog"}, {"full_name": "me/shop"}]
    event(
        "installation_repositories",
        {"action": "added", "installation": selected, "repositories_added": added},
    )
    assert installations(host.store) == [Installation(7, "me", ("me/blog", "me/shop"))]
    event(
        "installation_repositories",
        {
            "action": "removed",
            "installation": selected,
            "repositories_removed": [{"full_name": "me/shop"}],
        },
    )
    assert installations(host.store)[0].repositories == ("me/blog",)
    every = selected | {"repository_selection": "all"}
    event("installation_repositories", {"action": "added", "installation": every})
    assert installations(host.store)[0].repositories is None
    event("installation", {"action": "deleted", "installation": every})
    assert installations(host.store) == []


def test_without_an_app_or_with_a_forged_signature_the_app_hook_refuses(host: Host) -> None:
    headers, body = signed("s3cret", "push", {"ref": "refs/heads/main"})
    assert handle_app_delivery(host.store, None, headers, body).status == 401
    assert handle_app_delivery(host.store, "other", headers, body).status == 401
    ping = handle_app_delivery(host.store, "s3cret", *signed("s3cret", "ping", {}))
    assert (ping.status, ping.outcome) == (200, "pong")


def test_waiting_for_the_app_times_out_or_says_why_github_did_not_make_it(
    host: Host, gh: GitHubDouble
) -> None:
    started = start_setup(host, gh.url)
    with pytest.raises(HostctlError, match="not created within 0 s"):
        wait_for_setup(host, started.state, timeout=0.2, poll=0.05)
    with pytest.raises(HostctlError):
        complete_setup(host.store, host.settings, started.state, "refused-code")
    with pytest.raises(HostctlError, match="GitHub did not create the app: GitHub refused"):
        wait_for_setup(host, started.state, timeout=5, poll=0.05)


def test_moving_an_app_from_token_mode_to_the_app_names_what_stays_on_github(
    host: Host, gh: GitHubDouble
) -> None:
    gh.add_repo(REPO)
    connect_github(host, TOKEN, gh.url)
    link_app(host, "blog", REPO, "main")
    assert len(gh.repos[REPO.lower()].hooks) == 1
    connection = made_app(host, gh)
    assert connection.app is not None
    installation = gh.install(connection.app.id, LOGIN, [REPO])
    linked = link_app(host, "blog", REPO, "main")
    assert linked.todo is not None and "from token mode are left there" in linked.todo
    assert f"{gh.origin}/{REPO}/settings/hooks" in linked.todo
    assert host.store.app("blog").github == {"repo": REPO, "installation": installation}
    assert not host.settings.paths.deploy_keys("blog").exists()
    assert not gh.calls("DELETE", ".")  # the App may not, and does not try


def test_status_lists_the_repositories_each_installation_sees(host: Host, gh: GitHubDouble) -> None:
    """As GitHub lists the installations now; their repositories as recorded from the
    App's webhook; the recorded ones alone (with the error) when GitHub cannot be asked."""
    from click.testing import CliRunner

    from hostctl.cli import cli

    connection = made_app(host, gh)
    assert connection.app is not None
    secret = connection.app.webhook_secret
    mine = gh.install(connection.app.id, LOGIN, [REPO, f"{LOGIN}/shop"])
    org = gh.install(connection.app.id, "acme", None)
    unrecorded = gh.install(connection.app.id, "other", ["other/x"])
    selected = {"id": mine, "account": {"login": LOGIN}, "repository_selection": "selected"}
    for name, payload in (
        ("installation", {"action": "created", "installation": selected, "repositories": []}),
        (
            "installation_repositories",
            {
                "action": "added",
                "installation": selected,
                "repositories_added": [{"full_name": REPO}, {"full_name": f"{LOGIN}/shop"}],
            },
        ),
    ):
        assert handle_app_delivery(host.store, secret, *signed(secret, name, payload)).status == 200

    def status(*args: str) -> str:
        done = CliRunner().invoke(cli, ["github", "status", *args])
        assert done.exit_code == 0, done.output
        return done.output

    shown = [line.split(None, 1) for line in status().splitlines()]
    assert [value for key, value in shown if key == "installed"] == [
        f"{LOGIN} (selected repositories): {REPO}, {LOGIN}/shop",
        "acme (all repositories)",
        "other (selected repositories; none recorded yet)",
    ]
    as_json = json.loads(status("--json"))
    assert as_json["installations"] == [
        {
            "id": mine,
            "account": LOGIN,
            "repository_selection": "selected",
            "repositories": [REPO, f"{LOGIN}/shop"],
        },
        {"id": org, "account": "acme", "repository_selection": "all", "repositories": None},
        {
            "id": unrecorded,
            "account": "other",
            "repository_selection": "selected",
            "repositories": None,
        },
    ]
    gh.fail("GET", r"^/app$", 503)
    offline = json.loads(status("--json"))
    assert offline["error"] and [i["id"] for i in offline["installations"]] == [mine]
    assert offline["installations"][0]["repositories"] == [REPO, f"{LOGIN}/shop"]
