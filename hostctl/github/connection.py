"""The GitHub connection: a token and the API's URL, kept as server config.

``github.json`` under HOSTCTL_ETC, written atomically and created 0600 because it holds
the token. The token is checked against GitHub (``GET /user``) before it is saved, so a
saved token worked at least once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hostctl.adapters.github import DEFAULT_API_URL, GitHub, check_api_url
from hostctl.core.errors import HostctlError
from hostctl.core.private_files import read_private, write_private
from hostctl.host import Host
from hostctl.settings import Settings

TOKEN_PREFIXES = ("github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")


@dataclass(frozen=True)
class GitHubSettings:
    token: str
    api_url: str = DEFAULT_API_URL

    def api(self, *, max_attempts: int = 4, timeout: float = 20.0) -> GitHub:
        return GitHub(self.token, self.api_url, max_attempts=max_attempts, timeout=timeout)


@dataclass(frozen=True)
class GitHubStatus:
    connected: bool
    api_url: str | None = None
    token: str | None = None  # masked
    login: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Disconnected:
    removed: bool
    linked_apps: tuple[str, ...] = ()  # apps that still have a webhook or key on GitHub


def load_github(settings: Settings) -> GitHubSettings | None:
    return read_private(
        settings.paths.github_connection,
        lambda data: GitHubSettings(token=str(data["token"]), api_url=str(data["api_url"])),
        "GitHub connection",
        "run `hostctl github connect --token TOKEN` again",
    )


def save_github(settings: Settings, github: GitHubSettings) -> None:
    write_private(settings.paths.github_connection, asdict(github))


def connect_github(target: Host | Settings, token: str, api_url: str = DEFAULT_API_URL) -> str:
    """Check the token with GitHub, then save it; returns the login it belongs to."""
    settings = target.settings if isinstance(target, Host) else target
    token = token.strip()
    if not token:
        raise HostctlError("the GitHub token is empty", "pass --token TOKEN")
    github = GitHubSettings(token, check_api_url(api_url))
    with github.api() as api:
        login = api.whoami()
    save_github(settings, github)
    if isinstance(target, Host):
        target.store.audit("github:connect", None, f"as {login} at {github.api_url}")
    return login


def disconnect_github(target: Host | Settings) -> Disconnected:
    """Forget the token. What hostctl made on GitHub stays; the apps still linked are named
    (with a Host) so the caller can say `hostctl apps disconnect` removes it."""
    settings = target.settings if isinstance(target, Host) else target
    path = settings.paths.github_connection
    removed = path.exists()
    path.unlink(missing_ok=True)
    linked: tuple[str, ...] = ()
    if isinstance(target, Host):
        linked = tuple(app.name for app in target.store.apps() if app.github)
        if removed:
            target.store.audit("github:disconnect")
    return Disconnected(removed, linked)


def github_status(settings: Settings) -> GitHubStatus:
    """The saved connection, and whether GitHub still accepts the token."""
    github = load_github(settings)
    if github is None:
        return GitHubStatus(connected=False)
    login, error = None, None
    try:
        with github.api(max_attempts=1) as api:  # a status answers now, never waits
            login = api.whoami()
    except HostctlError as exc:
        error = exc.message
    return GitHubStatus(True, github.api_url, masked_token(github.token), login, error)


def masked_token(token: str) -> str:
    """Only the kind of token shows (``github_pat_********``), never any of its secret."""
    prefix = next((p for p in TOKEN_PREFIXES if token.startswith(p)), "")
    return f"{prefix}********" if token else ""
