"""The GitHub setup step against the GitHub double: connects once, then sees it done; a
token GitHub refuses stops setup at this step, saving nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings
from hostctl.setup import github
from hostctl.setup.answers import Answers
from hostctl.setup.steps import StepResult, run_steps
from tests.doubles.github import TOKEN, GitHubDouble


def run(answers: Answers, url: str) -> list[StepResult]:
    settings = Settings.from_env()
    return run_steps(github.steps(settings, answers, api_url=url), lambda _: None)


def test_connects_once_then_sees_it_done(hostctl_env: Path, gh: GitHubDouble) -> None:
    answers = Answers(github_token=TOKEN)
    assert [r.status for r in run(answers, gh.url)] == ["applied"]
    saved = Settings.from_env().paths.github_connection
    assert saved.stat().st_mode & 0o777 == 0o600 and TOKEN in saved.read_text()
    assert [r.status for r in run(answers, gh.url)] == ["ok"]


def test_a_refused_token_fails_naming_the_step(hostctl_env: Path, gh: GitHubDouble) -> None:
    with pytest.raises(HostctlError) as raised:
        run(Answers(github_token="ghp_refused"), gh.url)
    assert "setup step 'github' failed: GitHub refused the token" in raised.value.message
    assert "--github-token" in (raised.value.hint or "")
    assert not Settings.from_env().paths.github_connection.exists()


def test_skipped_without_a_token(hostctl_env: Path) -> None:
    assert github.steps(Settings.from_env(), Answers()) == []


def test_the_answer_app_makes_a_github_app_through_the_manifest_flow(
    hostctl_env: Path, gh: GitHubDouble
) -> None:
    """The step prints the agent's URL and waits; the browser and the agent's callback are
    played here in-process, against the double."""
    import html
    import re
    import threading
    from urllib.parse import parse_qs, urlsplit

    import httpx

    from hostctl.credentials.github import load_github
    from hostctl.github.app import complete_setup, setup_page
    from hostctl.host import Host

    said: list[str] = []
    host = Host()

    def browser() -> None:
        while not said:
            time.sleep(0.05)
        state = said[0].rsplit("/", 1)[1]
        page = setup_page(host.store, state) or ""
        action = html.unescape(re.search(r'action="([^"]+)"', page)[1])  # type: ignore[index]
        manifest = html.unescape(re.search(r'value="([^"]+)"', page)[1])  # type: ignore[index]
        back = httpx.post(action, data={"manifest": manifest}).headers["location"]
        code = parse_qs(urlsplit(back).query)["code"][0]
        complete_setup(host.store, host.settings, state, code)

    thread = threading.Thread(target=browser)
    thread.start()
    settings = Settings.from_env()
    steps = github.steps(settings, Answers(github_token="app"), gh.url, said.append, timeout=30)
    assert [r.status for r in run_steps(steps, lambda _: None)] == ["applied"]
    thread.join()
    (app,) = gh.apps.values()
    assert "/hooks/github-app/new/" in said[0]
    assert "ssh -L" in said[0]  # the agent has no public URL here
    assert said[1].endswith(f"/apps/{app.slug}/installations/new")
    saved = load_github(settings)
    assert saved is not None and saved.app is not None and saved.app.id == app.id
    assert [r.status for r in run_steps(steps, lambda _: None)] == ["ok"]


def test_the_app_answer_is_no_secret_in_the_equivalent_command() -> None:
    from hostctl.setup.questions import equivalent_command

    command, env = equivalent_command(Answers(github_token="app"))
    assert "--github-token app" in command and "GITHUB_TOKEN" not in env


def test_the_api_url_comes_from_the_environment(
    hostctl_env: Path, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub Enterprise Server: setup has no flag for it; HOSTCTL_GITHUB_API_URL."""
    from hostctl.credentials.github import load_github

    monkeypatch.setenv("HOSTCTL_GITHUB_API_URL", gh.url)
    settings = Settings.from_env()
    steps = github.steps(settings, Answers(github_token=TOKEN))
    assert [r.status for r in run_steps(steps, lambda _: None)] == ["applied"]
    saved = load_github(settings)
    assert saved is not None and saved.api_url == gh.url


def test_github_out_of_reach_fails_the_app_step_instead_of_making_a_second_app(
    hostctl_env: Path, gh: GitHubDouble
) -> None:
    from hostctl.adapters.github import GitHubUnavailable
    from hostctl.github.app import complete_setup, setup_page, start_setup
    from hostctl.host import Host

    host = Host()
    started = start_setup(host, gh.url)
    page = setup_page(host.store, started.state) or ""
    import html
    import re
    from urllib.parse import parse_qs, urlsplit

    import httpx

    action = html.unescape(re.search(r'action="([^"]+)"', page)[1])  # type: ignore[index]
    manifest = html.unescape(re.search(r'value="([^"]+)"', page)[1])  # type: ignore[index]
    back = httpx.post(action, data={"manifest": manifest}).headers["location"]
    complete_setup(
        host.store, host.settings, started.state, parse_qs(urlsplit(back).query)["code"][0]
    )
    settings = Settings.from_env()
    assert github.app_connected(settings)
    gh.fail("GET", r"^/app$", 503)
    with pytest.raises(GitHubUnavailable):
        github.app_connected(settings)
    gh.fail("GET", r"^/app$", 401)
    assert not github.app_connected(settings)
    assert len(gh.apps) == 1
