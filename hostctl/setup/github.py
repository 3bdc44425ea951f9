"""The GitHub step: `hostctl github connect` with the token setup was given. The token is
checked with GitHub before it is saved, so a refused one stops setup here."""

from __future__ import annotations

from hostctl.adapters.github import DEFAULT_API_URL, check_api_url
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import load_github
from hostctl.github.connection import connect_github
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.steps import Step


def steps(settings: Settings, answers: Answers, api_url: str = DEFAULT_API_URL) -> list[Step]:
    token = answers.github_token
    if token is None:
        return []
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
