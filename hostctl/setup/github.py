"""The GitHub step: `hostctl github connect` with the token setup was given. The token is
checked with GitHub before it is saved, so a refused one stops setup here. The answer
``app`` makes a GitHub App instead (`hostctl github connect --app`): the step prints the
agent's one-time URL and waits until GitHub has sent the browser back. GitHub Enterprise
Server: its API URL in HOSTCTL_GITHUB_API_URL."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from hostctl.adapters.github import DEFAULT_API_URL, GitHubUnavailable, check_api_url
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import load_github
from hostctl.github import API_URL_ENV
from hostctl.github.connection import connect_github
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.questions import GITHUB_APP
from hostctl.setup.steps import Step

APP_TIMEOUT = 900.0  # seconds the step waits for the person to go through GitHub's pages


def say_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def steps(
    settings: Settings,
    answers: Answers,
    api_url: str | None = None,  # default: HOSTCTL_GITHUB_API_URL, else github.com's
    say: Callable[[str], None] = say_on_stderr,
    timeout: float = APP_TIMEOUT,
) -> list[Step]:
    token = answers.github_token
    if token is None:
        return []
    api_url = api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
    if token.strip() == GITHUB_APP:
        return [
            Step(
                name="github",
                goal="a GitHub App is connected and GitHub accepts its key",
                check=lambda: app_connected(settings),
                apply=lambda: make_app(settings, api_url, say, timeout),
            )
        ]
    return [
        Step(
            name="github",
            goal="the GitHub token is saved and GitHub accepts it",
            check=lambda: connected(settings, token.strip(), api_url),
            apply=lambda: connect(settings, token, api_url),
        )
    ]


def connected(settings: Settings, token: str, api_url: str) -> bool:
    saved = load_github(settings)
    if saved is None or saved.token != token or saved.api_url != check_api_url(api_url):
        return False
    try:
        with saved.api(max_attempts=1) as api:
            api.whoami()
    except HostctlError:
        return False  # apply connects again, and says why GitHub refuses
    return True


def connect(settings: Settings, token: str, api_url: str) -> None:
    try:
        connect_github(settings, token, api_url)
    except HostctlError as exc:
        raise HostctlError(
            f"GitHub refused the token: {exc.message}",
            "make a token (https://github.com/settings/tokens) and give it to "
            "`hostctl setup --github-token`, or leave it out to skip GitHub",
        ) from exc


def app_connected(settings: Settings) -> bool:
    """Whether the saved App still works. GitHub out of reach is an error, not a "no": a
    re-run must not make a second App on GitHub because of a network blip."""
    try:
        saved = load_github(settings)
        if saved is None or saved.app is None:
            return False
        with saved.api(max_attempts=1) as api:
            api.app()
    except GitHubUnavailable:
        raise
    except HostctlError:
        return False  # the App or its key is refused (401/404): apply makes the app again
    return True


def make_app(settings: Settings, api_url: str, say: Callable[[str], None], timeout: float) -> None:
    from hostctl.github.app import install_url, start_setup, wait_for_setup
    from hostctl.host import Host

    host = Host(settings)
    started = start_setup(host, check_api_url(api_url))
    warning = f"Warning: {started.warning}\n" if started.warning else ""
    say(f"{warning}Open this URL in a browser to create the GitHub App: {started.url}")
    made = wait_for_setup(host, started.state, timeout)
    say(f"Install the GitHub App on your repositories: {install_url(made)}")
