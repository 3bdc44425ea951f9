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
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hostctl.adapters import github as adapter
from hostctl.adapters.github import NotInstalled, installation_token
from hostctl.agent.webhooks import Answer, handle_app_delivery
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
from hostctl.state.github_app import Installation, installations, save_installation
from tests.doubles.github import LOGIN, TOKEN, GitHubDouble
from tests.harness.agent import push_payload, served

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


def blog_linked_through_the_app(host: Host, gh: GitHubDouble) -> None:
    """The App made, installed on REPO, and the app blog linked to REPO through it."""
    connection = made_app(host, gh)
    assert connection.app is not None
    gh.add_repo(REPO)
    gh.install(connection.app.id, LOGIN, [REPO])
    link_app(host, "blog", REPO, "main")


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
    url = f"{gh.origin}/{REPO}.git"
    assert git_credentials(host.settings, {"repo": REPO, "key_id": 5}, url) is None  # token mode
    credentials = git_credentials(host.settings, {"repo": REPO, "installation": installation}, url)
    assert credentials is not None
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


def test_a_source_other_than_the_linked_repository_gets_no_token(
    host: Host, gh: GitHubDouble, tmp_path: Path
) -> None:
    """`hostctl deploy blog URL` with another URL: git there never sees the token, neither
    given to the fetch nor answered by the helper to another host."""
    connection = made_app(host, gh)
    assert connection.app is not None
    commit_repo(gh, tmp_path)
    linked = {"repo": REPO, "installation": gh.install(connection.app.id, LOGIN, [REPO])}
    credentials = git_credentials(host.settings, linked, f"{gh.origin}/{REPO}.git")
    assert credentials is not None
    other = GitHubDouble().start()
    try:
        other.git_repo(REPO)
        elsewhere = f"{other.origin}/{REPO}.git"
        assert git_credentials(host.settings, linked, elsewhere) is None
        with pytest.raises(HostctlError, match="git fetch failed"):
            fetch_source(
                elsewhere, "main", tmp_path / "c", tmp_path / "t", git_env=credentials(False)
            )
        assert other.requests and not any(r.authorized for r in other.requests)
    finally:
        other.stop()
    env = git_token_env("ghs_secret", "https://github.com")
    assert [k for k, v in env.items() if "ghs_secret" in v] == ["HOSTCTL_GIT_TOKEN"]


def test_the_stale_push_check_retries_a_refused_token_with_a_fresh_one(
    host: Host, gh: GitHubDouble, tmp_path: Path
) -> None:
    from hostctl.deploy.pipeline import stale_push

    connection = made_app(host, gh)
    assert connection.app is not None
    commit = commit_repo(gh, tmp_path)
    gh.install(connection.app.id, LOGIN, [REPO])
    url = link_app(host, "blog", REPO, "main").repo
    assert stale_push(host, "blog", url, commit) is None
    gh.expire_tokens()  # the cached token is refused (revoked) from now on
    assert stale_push(host, "blog", url, commit) is None
    assert len(gh.minted) == 2


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
    started = start_setup(host, gh.url)  # the link of a wait that timed out is expired
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


def test_a_setup_the_cli_stopped_waiting_for_can_no_longer_make_an_app(
    host: Host, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out or interrupted `github connect --app` expires its link: a browser that
    gets there later makes no App and replaces no saved connection."""
    from hostctl.github import app as app_module

    for stop in ("timeout", "interrupt"):
        started = start_setup(host, gh.url)
        page = setup_page(host.store, started.state)
        assert page is not None
        code = parse_qs(urlsplit(submit(page).headers["location"]).query)["code"][0]
        if stop == "timeout":
            with pytest.raises(HostctlError, match="not created within"):
                wait_for_setup(host, started.state, timeout=0.1, poll=0.05)
        else:

            def interrupt(seconds: float) -> None:
                raise KeyboardInterrupt

            with monkeypatch.context() as patched:
                patched.setattr(app_module.time, "sleep", interrupt)
                with pytest.raises(KeyboardInterrupt):
                    wait_for_setup(host, started.state, timeout=60)
        assert setup_page(host.store, started.state) is None
        with pytest.raises(HostctlError, match="already used"):
            complete_setup(host.store, host.settings, started.state, code)
        assert load_github(host.settings) is None


def test_the_callback_answers_get_only_and_the_pages_send_no_referrer(
    host: Host, gh: GitHubDouble
) -> None:
    """A link unfurler's HEAD must not use the one-time state and code."""
    from hostctl.agent.http import web_app

    started = start_setup(host, gh.url)
    handler = web_app(host.settings, lambda _: {"healthy": True}, lambda: None)
    with served(handler) as url, httpx.Client(base_url=url) as client:
        check_callback(client, host, started.state)


def check_callback(client: httpx.Client, host: Host, state: str) -> None:
    page = client.get(f"/hooks/github-app/new/{state}")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    code = parse_qs(urlsplit(submit(page.text).headers["location"]).query)["code"][0]
    callback = f"/hooks/github-app/callback?state={state}&code={code}"
    assert client.head(callback).status_code == 405
    assert load_github(host.settings) is None
    done = client.get(callback)
    assert done.status_code == 200, done.text
    assert done.headers["referrer-policy"] == "no-referrer"
    assert load_github(host.settings) is not None


def test_a_damaged_private_key_is_an_error_naming_the_file(host: Host, gh: GitHubDouble) -> None:
    connection = made_app(host, gh)
    gh.add_repo(REPO)
    assert connection.app is not None
    gh.install(connection.app.id, LOGIN, [REPO])
    key = host.settings.paths.github_app_key
    key.write_text(connection.private_key[: len(connection.private_key) // 2])  # cut short
    saved_json = host.settings.paths.github_connection
    older = json.loads(saved_json.read_text())
    del older["app"]["key_sha256"]  # as saved before hostctl recorded it
    saved_json.write_text(json.dumps(older))
    saved = load_github(host.settings)
    assert saved is not None
    with pytest.raises(HostctlError, match=f"private key {key} cannot be read") as raised:
        installation_token(saved.identity, REPO)
    assert "connect --app" in (raised.value.hint or "")
    with pytest.raises(HostctlError, match=f"private key {key} cannot be read"):
        saved.api()


def test_a_key_that_is_not_the_saved_apps_is_reported(host: Host, gh: GitHubDouble) -> None:
    """A crash between writing the new key and the JSON that names it."""
    made_app(host, gh)
    other = made_app(host, gh)
    key = host.settings.paths.github_app_key
    connection = host.settings.paths.github_connection
    newer_key = key.read_text()
    older = json.loads(connection.read_text())
    older["app"]["key_sha256"] = hashlib.sha256(b"the first app's key").hexdigest()
    connection.write_text(json.dumps(older))
    assert newer_key == other.private_key
    with pytest.raises(HostctlError, match="is not the key of the App"):
        load_github(host.settings)


def test_a_callback_code_and_an_org_that_do_not_fit_a_url_are_refused(
    host: Host, gh: GitHubDouble
) -> None:
    started = start_setup(host, gh.url)
    with pytest.raises(HostctlError, match="without a valid code"):
        complete_setup(host.store, host.settings, started.state, "../../user")
    assert not gh.calls("POST", "conversions") and not gh.calls("POST", "/user")
    for org in ("acme/../x", "-acme", "a" * 40, "acme?x=1"):
        with pytest.raises(HostctlError, match="not a GitHub organization name"):
            start_setup(host, gh.url, org)
    assert start_setup(host, gh.url, "acme-inc").url


def test_app_mode_refusals_talk_about_the_app_not_a_personal_token(
    host: Host, gh: GitHubDouble
) -> None:
    connection = made_app(host, gh)
    gh.add_repo(REPO)
    assert connection.app is not None
    gh.install(connection.app.id, LOGIN, [REPO])
    gh.fail("POST", "/statuses/", 403, headers={"X-Accepted-GitHub-Permissions": "statuses=write"})
    with connection.repo_api(REPO) as api, pytest.raises(HostctlError) as forbidden:
        api.set_status(REPO, "a" * 40, "success", "live", None)
    gh.fail("POST", "/statuses/", 404)
    with connection.repo_api(REPO) as api, pytest.raises(HostctlError) as missing:
        api.set_status(REPO, "a" * 40, "success", "live", None)
    started = start_setup(host, gh.url)
    gh.fail("POST", "conversions", 401)
    with pytest.raises(HostctlError) as refused_code:
        complete_setup(host.store, host.settings, started.state, "abc")
    for raised in (forbidden, missing, refused_code):
        hint = raised.value.hint or ""
        assert "personal-access-tokens" not in hint and "token" not in hint.replace(
            "installation", ""
        ), hint
    install = f"/apps/{connection.app.slug}/installations/new"
    assert "GitHub App" in forbidden.value.message and install in (forbidden.value.hint or "")
    assert install in (missing.value.hint or "")
    assert "connect --app" in (refused_code.value.hint or "")


def test_unsuspend_and_accepted_permissions_keep_the_recorded_repositories(host: Host) -> None:
    def event(name: str, payload: dict[str, object]) -> None:
        answer = handle_app_delivery(host.store, "s3cret", *signed("s3cret", name, payload))
        assert answer.status == 200

    selected = {"id": 7, "account": {"login": "me"}, "repository_selection": "selected"}
    blog = [{"full_name": "me/blog"}]
    event("installation", {"action": "created", "installation": selected, "repositories": blog})
    for action in ("new_permissions_accepted", "unsuspend"):
        event("installation", {"action": action, "installation": selected})
        assert installations(host.store) == [Installation(7, "me", ("me/blog",))]
    every = selected | {"repository_selection": "all"}
    event("installation_repositories", {"action": "added", "installation": every})
    assert installations(host.store)[0].repositories is None
    # all → selected: GitHub names only the repositories removed, not the ones kept
    event(
        "installation_repositories",
        {"action": "removed", "installation": selected, "repositories_removed": blog},
    )
    assert installations(host.store)[0].repositories == ()


def test_a_push_for_two_apps_queues_one_even_when_the_other_is_refused(
    host: Host, gh: GitHubDouble
) -> None:
    connection = made_app(host, gh)
    assert connection.app is not None
    secret = connection.app.webhook_secret
    installation = gh.install(connection.app.id, LOGIN, [REPO])
    host.store.insert_app("shop", ["shop.localhost"])
    linked = {"repo": REPO, "installation": installation}
    for name, repo in (("blog", None), ("shop", f"{gh.origin}/{REPO}.git")):
        host.store.set_github(name, linked)
        host.store.set_repo(name, repo, "main")
    push = {
        "ref": "refs/heads/main",
        "after": "a" * 40,
        "repository": {"full_name": REPO},
    }
    answer = handle_app_delivery(host.store, secret, *signed(secret, "push", push))
    assert answer.status == 202, answer
    assert [j["app"] for j in answer.body["jobs"]] == ["shop"]
    assert "blog: refused: no repository" in answer.outcome


def test_a_renamed_repository_keeps_deploying_through_the_app(
    host: Host, gh: GitHubDouble, tmp_path: Path
) -> None:
    blog_linked_through_the_app(host, gh)
    connection = load_github(host.settings)
    assert connection is not None and connection.app is not None
    secret = connection.app.webhook_secret
    installation = host.store.app("blog").github["installation"]
    save_installation(host.store, installation, LOGIN, [REPO])  # as its events said
    number = gh.repos[REPO].id

    def push(full_name: str, repository_id: int) -> Answer:
        payload = push_payload("a" * 40, full_name=full_name, repository_id=repository_id)
        return handle_app_delivery(host.store, secret, *signed(secret, "push", payload))

    assert push(REPO, number).status == 202
    assert host.store.app("blog").github["repo_id"] == number
    renamed = f"{LOGIN}/journal"
    gh.rename_repo(REPO, renamed)
    assert push(renamed, number).status == 202
    app = host.store.app("blog")
    assert app.github["repo"] == renamed and app.repo == f"{gh.origin}/{renamed}.git"
    assert installations(host.store)[0].repositories == (renamed,)
    # The fetch of the new name gets a token for it, and reads the repository.
    sha = commit_repo(gh, tmp_path, renamed)
    credentials = git_credentials(host.settings, app.github, app.repo)
    assert credentials is not None
    fetched = fetch_source(
        app.repo, "main", tmp_path / "cache", tmp_path / "tree", None, None, credentials
    )
    assert fetched.commit == sha

    # A new repository under the linked name is not the linked one.
    other = push(renamed, number + 100)
    assert other.status == 200 and "link it again" in other.outcome, other
    assert "ignored: no app deploys" in other.outcome

    # Transferred to another account: its pushes come through that account's installation.
    moved = "acme/journal"
    gh.rename_repo(renamed, moved)
    theirs = gh.install(connection.app.id, "acme", [moved])
    save_installation(host.store, theirs, "acme", [])
    payload = push_payload("b" * 40, full_name=moved, repository_id=number)
    payload["installation"] = {"id": theirs}
    answer = handle_app_delivery(host.store, secret, *signed(secret, "push", payload))
    assert answer.status == 202, answer
    app = host.store.app("blog")
    assert app.github == {"repo": moved, "installation": theirs, "repo_id": number}
    assert {i.id: i.repositories for i in installations(host.store)} == {
        installation: (),
        theirs: (moved,),
    }
    credentials = git_credentials(host.settings, app.github, app.repo)
    assert credentials is not None
    assert credentials(False)["HOSTCTL_GIT_TOKEN"] in gh.minted
    assert gh.minted[credentials(False)["HOSTCTL_GIT_TOKEN"]].installation == theirs


def test_leaving_app_mode_names_the_apps_linked_through_the_app(
    host: Host, gh: GitHubDouble
) -> None:
    from click.testing import CliRunner

    from hostctl.cli import cli

    blog_linked_through_the_app(host, gh)
    again = "Link each again: `hostctl apps connect APP --repo OWNER/NAME`"
    for args in (["connect", "--token", TOKEN, "--api-url", gh.url], ["disconnect"]):
        done = CliRunner().invoke(cli, ["github", *args])
        assert done.exit_code == 0, done.output
        assert "no longer fetch or deploy on push: blog." in done.output, done.output
        assert again in done.output


def test_doctor_names_the_app_and_checks_its_jwt(host: Host, gh: GitHubDouble) -> None:
    from hostctl.doctor import github_outcome

    connection = made_app(host, gh)
    assert connection.app is not None
    gh.install(connection.app.id, LOGIN, [REPO])
    found = github_outcome(host)
    assert (found.status, found.detail) == (
        "ok",
        f"GitHub App {connection.app.slug} (id {connection.app.id}), 1 installation ({gh.url})",
    )
    assert gh.calls("GET", r"^/app$")
    gh.fail("GET", r"^/app$", 401)
    refused = github_outcome(host)
    assert refused.status == "fail" and connection.app.slug in refused.detail
    assert "None" not in refused.detail and "token" not in refused.detail


def test_a_loopback_setup_link_comes_with_the_ssh_tunnel_hint(host: Host, gh: GitHubDouble) -> None:
    from click.testing import CliRunner

    from hostctl.cli import cli

    started = start_setup(host, gh.url)
    assert started.url.startswith("http://127.0.0.1:")
    port = urlsplit(started.url).port
    assert started.warning is not None
    assert f"ssh -L {port}:127.0.0.1:{port} USER@BOX" in started.warning
    done = CliRunner().invoke(
        cli, ["github", "connect", "--app", "--api-url", gh.url, "--timeout", "1"]
    )
    assert done.exit_code == 1
    assert "Warning: 127.0.0.1 is this box" in done.output and "agent.public_url" in done.output


def test_a_commit_status_in_app_mode_keeps_one_deadline_for_the_mint_and_the_post(
    host: Host, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostctl.deploy import github_status
    from hostctl.deploy.github_status import report_status
    from hostctl.state.queue import enqueue

    blog_linked_through_the_app(host, gh)
    claimed = enqueue(host.store, "blog", "push", "x", "c" * 40)
    monkeypatch.setattr(github_status, "TIMEOUT", 2.5)
    # each call alone is well within the budget; the three together are not (on a busy
    # machine the deadline may already run out during the mint: either way, one deadline)
    gh.slow = {"/installation$": 1.0, "/access_tokens$": 1.0, "/statuses/": 1.0}
    said: list[str] = []
    out = SimpleNamespace(detail=said.append)
    started = time.monotonic()
    report_status(host, claimed, "pending", "Deploying (push)", out=out)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2.9
    assert len(said) == 1 and "timed out" in said[0]
