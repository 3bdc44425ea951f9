"""`hostctl github connect/status/disconnect` through click, against the API double."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from hostctl.cli import cli
from hostctl.host import Host
from tests.doubles.github import LOGIN, TOKEN, GitHubDouble


def hostctl(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def connect(gh: GitHubDouble) -> Result:
    return hostctl("github", "connect", "--token", TOKEN, "--api-url", gh.url)


def test_connect_saves_the_token_0600_and_status_shows_it_masked(
    hostctl_env: Path, gh: GitHubDouble
) -> None:
    done = connect(gh)
    assert done.exit_code == 0, done.output
    assert done.output == f"Connected to GitHub as {LOGIN}.\n"
    saved = hostctl_env / "etc" / "github.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text()) == {"token": TOKEN, "api_url": gh.url}

    shown = hostctl("github", "status")
    assert shown.exit_code == 0, shown.output
    lines = [line.split() for line in shown.output.splitlines()]
    assert lines == [["api_url", gh.url], ["token", "github_pat_********"], ["login", LOGIN]]
    as_json = json.loads(hostctl("github", "status", "--json").output)
    assert as_json == {
        "connected": True,
        "api_url": gh.url,
        "token": "github_pat_********",
        "login": LOGIN,
        "error": None,
        "mode": "token",
        "app": None,
        "installations": [],
        "install_url": None,
        "app_id": None,
    }
    assert TOKEN not in done.output + shown.output


def test_the_token_can_come_from_the_environment(hostctl_env: Path, gh: GitHubDouble) -> None:
    done = hostctl("github", "connect", "--api-url", gh.url, env={"HOSTCTL_GITHUB_TOKEN": TOKEN})
    assert done.exit_code == 0, done.output
    assert (hostctl_env / "etc" / "github.json").exists()


def test_a_rejected_token_is_not_saved(hostctl_env: Path, gh: GitHubDouble) -> None:
    wrong = "github_pat_11WRONG00000000000000_abcdefghijklmnopqrstuvwxyz"
    done = hostctl("github", "connect", "--token", wrong, "--api-url", gh.url)
    assert done.exit_code == 1
    assert done.stderr.splitlines()[0] == (
        "Error: GitHub rejected the token (Bad credentials): it is expired, revoked or mistyped"
    )
    assert wrong not in done.output and "Traceback" not in done.output
    assert not (hostctl_env / "etc" / "github.json").exists()


def test_status_reports_a_token_github_no_longer_accepts(
    hostctl_env: Path, gh: GitHubDouble
) -> None:
    assert connect(gh).exit_code == 0
    gh.tokens.clear()  # revoked on GitHub
    shown = hostctl("github", "status")
    assert shown.exit_code == 1
    assert "error  GitHub rejected the token (Bad credentials)" in shown.output
    assert TOKEN not in shown.output


def test_disconnect_forgets_the_token_and_names_apps_still_on_github(
    hostctl_env: Path, gh: GitHubDouble
) -> None:
    assert connect(gh).exit_code == 0
    store = Host().store
    store.insert_app("blog", ["blog.example.com"], repo="git@github.com:me/blog.git")
    store.set_github("blog", {"repo": "me/blog", "hook_id": 1, "key_id": 2})
    store.insert_app("plain", ["plain.example.com"])
    done = hostctl("github", "disconnect")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Disconnected from GitHub.\n"
    assert "these apps still have a webhook and deploy key on GitHub: blog." in done.stderr
    assert not (hostctl_env / "etc" / "github.json").exists()
    assert hostctl("github", "disconnect").stdout == "Not connected.\n"
    assert hostctl("github", "status").output == (
        "Not connected. Run `hostctl github connect --token TOKEN`.\n"
    )


def test_a_plain_http_api_url_off_loopback_is_refused(hostctl_env: Path) -> None:
    done = hostctl("github", "connect", "--token", TOKEN, "--api-url", "http://ghe.example.com")
    assert done.exit_code == 1
    assert "is not a GitHub API URL" in done.stderr
