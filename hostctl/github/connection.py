"""Connecting to GitHub: the token is checked against GitHub (``GET /user``) before it
is saved (hostctl.credentials.github), so a saved token worked at least once."""

from __future__ import annotations

from dataclasses import dataclass

from hostctl.adapters.github import DEFAULT_API_URL, check_api_url
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import GitHubSettings, load_github, save_github
from hostctl.host import Host
from hostctl.settings import Settings

TOKEN_PREFIXES = ("github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")


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
