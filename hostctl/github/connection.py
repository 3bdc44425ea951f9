"""Connecting to GitHub: the token is checked against GitHub (``GET /user``) before it
is saved (hostctl.credentials.github), so a saved token worked at least once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hostctl.adapters.github import DEFAULT_API_URL, check_api_url
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import GitHubSettings, load_github, save_github
from hostctl.github.app import delete_url, install_url
from hostctl.host import Host
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.github_app import Installation, forget_setups, installations

TOKEN_PREFIXES = ("github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_")


@dataclass(frozen=True)
class GitHubStatus:
    connected: bool
    api_url: str | None = None
    token: str | None = None  # masked
    login: str | None = None
    error: str | None = None
    mode: str | None = None  # "token" (webhooks and deploy keys) or "app" (a GitHub App)
    app: str | None = None  # the App's slug
    installations: tuple[SeenInstallation, ...] = ()
    install_url: str | None = None
    app_id: int | None = None


@dataclass(frozen=True)
class SeenInstallation:
    """An installation of the App, as GitHub lists it, with the repositories it sees as
    GitHub told the App's webhook (``installation`` and ``installation_repositories``)."""

    id: int
    account: str
    repository_selection: str  # "all" or "selected"
    repositories: tuple[str, ...] | None  # None: all of them, or none recorded yet

    def describe(self) -> str:
        if self.repository_selection == "all":
            return f"{self.account} (all repositories)"
        if self.repositories is None:
            return f"{self.account} (selected repositories; none recorded yet)"
        return f"{self.account} (selected repositories): {', '.join(self.repositories) or '-'}"


@dataclass(frozen=True)
class Disconnected:
    removed: bool
    linked_apps: tuple[str, ...] = ()  # apps that still have a webhook or key on GitHub
    delete_url: str | None = None  # where to delete the GitHub App hostctl made
    through_app: tuple[str, ...] = ()  # apps linked through the App: no longer deployed


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
    """Forget the token, or the GitHub App (its key and id). What hostctl made on GitHub
    stays; the apps still linked are named (with a Host) so the caller can say `hostctl
    apps disconnect` removes it, and the page to delete the App on GitHub is given."""
    settings = target.settings if isinstance(target, Host) else target
    path = settings.paths.github_connection
    removed = path.exists()
    delete = None
    try:
        saved = load_github(settings)
    except HostctlError:
        saved = None  # a damaged file is removed all the same
    if saved is not None and saved.app is not None:
        delete = delete_url(saved)
    path.unlink(missing_ok=True)
    settings.paths.github_app_key.unlink(missing_ok=True)
    linked: tuple[str, ...] = ()
    if isinstance(target, Host):
        forget_setups(target.store)
        # apps linked through the App have nothing of hostctl's on GitHub
        made = (app for app in target.store.apps() if app.github.keys() - {"repo", "installation"})
        linked = tuple(app.name for app in made)
        through_app = linked_through_app(target.store)
        if removed:
            target.store.audit("github:disconnect")
        return Disconnected(removed, linked, delete, through_app)
    return Disconnected(removed, linked, delete)


def linked_through_app(store: Store) -> tuple[str, ...]:
    """The apps linked through a GitHub App: without it (another mode, or none), they
    get no token to fetch with and no pushes until linked again."""
    return tuple(app.name for app in store.apps() if app.github.get("installation"))


def github_status(settings: Settings, store: Store | None = None) -> GitHubStatus:
    """The saved connection, and whether GitHub still accepts the token. With ``store``,
    a GitHub App's installations name the repositories recorded for them."""
    github = load_github(settings)
    if github is None:
        return GitHubStatus(connected=False)
    if github.app is not None:
        return app_status(github, installations(store) if store else [])
    login, error = None, None
    try:
        with github.api(max_attempts=1) as api:  # a status answers now, never waits
            login = api.whoami()
    except HostctlError as exc:
        error = exc.message
    return GitHubStatus(True, github.api_url, masked_token(github.token), login, error, "token")


def app_status(github: GitHubSettings, recorded: list[Installation]) -> GitHubStatus:
    """The App's slug and installations, as GitHub reports them now; the ones recorded
    when GitHub cannot be asked."""
    assert github.app is not None
    listed = {i.id: i for i in recorded}
    found = tuple(
        SeenInstallation(
            i.id, i.account, "all" if i.repositories is None else "selected", i.repositories
        )
        for i in recorded
    )
    error = None
    try:
        with github.api(max_attempts=1) as api:
            api.app()
            found = tuple(seen(i, listed) for i in api.installations())
    except HostctlError as exc:
        error = exc.message
    return GitHubStatus(
        True,
        github.api_url,
        login=github.app.owner,
        error=error,
        mode="app",
        app=github.app.slug,
        installations=found,
        install_url=install_url(github),
        app_id=github.app.id,
    )


def seen(installation: dict[str, Any], recorded: dict[int, Installation]) -> SeenInstallation:
    number = int(installation.get("id") or 0)
    account = str((installation.get("account") or {}).get("login", "?"))
    selection = "all" if installation.get("repository_selection") == "all" else "selected"
    known = recorded.get(number)
    repositories = known.repositories if known and selection == "selected" else None
    return SeenInstallation(number, account, selection, repositories)


def masked_token(token: str) -> str:
    """Only the kind of token shows (``github_pat_********``), never any of its secret."""
    prefix = next((p for p in TOKEN_PREFIXES if token.startswith(p)), "")
    return f"{prefix}********" if token else ""
