"""The saved GitHub connection: a token and the API's URL, kept as server config in
``github.json`` under HOSTCTL_ETC, written atomically and created 0600 (it holds the
token)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hostctl.adapters.github import DEFAULT_API_URL, GitHub
from hostctl.core.private_files import read_private, write_private
from hostctl.settings import Settings


@dataclass(frozen=True)
class GitHubSettings:
    token: str
    api_url: str = DEFAULT_API_URL

    def api(self, *, max_attempts: int = 4, timeout: float = 20.0) -> GitHub:
        return GitHub(self.token, self.api_url, max_attempts=max_attempts, timeout=timeout)


def load_github(settings: Settings) -> GitHubSettings | None:
    return read_private(
        settings.paths.github_connection,
        lambda data: GitHubSettings(token=str(data["token"]), api_url=str(data["api_url"])),
        "GitHub connection",
        "run `hostctl github connect --token TOKEN` again",
    )


def save_github(settings: Settings, github: GitHubSettings) -> None:
    write_private(settings.paths.github_connection, asdict(github))
