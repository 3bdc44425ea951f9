"""The saved GitHub connection, kept as server config under HOSTCTL_ETC: ``github.json``
(the API's URL, and a token or the GitHub App's id, slug and webhook secret) and, for an
App, its private key in ``github-app.pem``. Both are written atomically and created 0600.

The two files of an App are written key first; ``github.json`` records the key's
SHA-256, so a crash between the two writes (a new key beside the old App's id) is
reported as such instead of GitHub refusing every JWT."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from hostctl.adapters.github import (
    DEFAULT_API_URL,
    AppIdentity,
    GitHub,
    app_jwt,
    installation_token,
)
from hostctl.core.errors import HostctlError
from hostctl.core.private_files import read_private, write_private, write_private_text
from hostctl.settings import Settings


@dataclass(frozen=True)
class GitHubApp:
    """The GitHub App hostctl made through the manifest flow."""

    id: int
    slug: str
    name: str
    owner: str  # the account that owns the app: a user or an organization
    webhook_secret: str = field(repr=False)
    org: bool = False  # owned by an organization (its settings live under /organizations)


@dataclass(frozen=True)
class GitHubSettings:
    token: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    app: GitHubApp | None = None
    private_key: str = field(default="", repr=False)
    key_path: str = ""  # the private key's file, for errors

    @property
    def mode(self) -> str:
        return "app" if self.app else "token"

    @property
    def identity(self) -> AppIdentity:
        if self.app is None:
            raise ValueError("not connected with a GitHub App")
        return AppIdentity(
            self.api_url, self.app.id, self.app.slug, self.private_key, self.key_path
        )

    def api(self, *, max_attempts: int = 4, timeout: float = 20.0) -> GitHub:
        """The client for the token, or for the App itself (a fresh JWT)."""
        if self.app is None:
            return GitHub(self.token, self.api_url, max_attempts=max_attempts, timeout=timeout)
        return GitHub(
            app_jwt(self.app.id, self.private_key, key_path=self.key_path),
            self.api_url,
            max_attempts=max_attempts,
            timeout=timeout,
            auth_hint="run `hostctl github status`; if the app was deleted on GitHub, run "
            "`hostctl github disconnect` and `hostctl github connect --app` again",
            app_install_url=self.identity.install_url,
        )

    def repo_api(
        self,
        repo: str,
        *,
        max_attempts: int = 4,
        timeout: float = 20.0,
        deadline: float | None = None,
    ) -> GitHub:
        """The client for calls on ``repo``: the token, or the App's installation token
        (minting it counts against ``deadline``, a time.monotonic(), too)."""
        if self.app is None:
            return GitHub(
                self.token,
                self.api_url,
                max_attempts=max_attempts,
                timeout=timeout,
                deadline=deadline,
            )
        identity = self.identity
        token = installation_token(
            identity, repo, max_attempts=max_attempts, timeout=timeout, deadline=deadline
        )
        return GitHub(
            token,
            self.api_url,
            max_attempts=max_attempts,
            timeout=timeout,
            app_install_url=identity.install_url,
            deadline=deadline,
        )


HINT = "run `hostctl github connect` again"


def load_github(settings: Settings) -> GitHubSettings | None:
    return read_private(
        settings.paths.github_connection,
        lambda data: build(settings, data),
        "GitHub connection",
        HINT,
    )


def build(settings: Settings, data: dict[str, Any]) -> GitHubSettings:
    if "app" not in data:
        return GitHubSettings(token=str(data["token"]), api_url=str(data["api_url"]))
    app = data["app"]
    key_path = settings.paths.github_app_key
    if not key_path.is_file():
        raise HostctlError(f"the GitHub App's private key {key_path} is missing", HINT)
    private_key = key_path.read_text()
    if app.get("key_sha256", fingerprint(private_key)) != fingerprint(private_key):
        raise HostctlError(
            f"the GitHub App's private key {key_path} is not the key of the App "
            f"{app['slug']} (a `hostctl github connect --app` was interrupted)",
            "run `hostctl github connect --app` again",
        )
    return GitHubSettings(
        api_url=str(data["api_url"]),
        app=GitHubApp(
            int(app["id"]),
            str(app["slug"]),
            str(app["name"]),
            str(app["owner"]),
            str(app["webhook_secret"]),
            bool(app.get("org")),
        ),
        private_key=private_key,
        key_path=str(key_path),
    )


def fingerprint(private_key: str) -> str:
    return hashlib.sha256(private_key.encode()).hexdigest()


def save_github(settings: Settings, github: GitHubSettings) -> None:
    """Save the connection; a token replaces an App and an App a token."""
    paths = settings.paths
    if github.app is None:
        write_private(paths.github_connection, {"token": github.token, "api_url": github.api_url})
        paths.github_app_key.unlink(missing_ok=True)
        return
    app = github.app
    write_private_text(paths.github_app_key, github.private_key)
    write_private(
        paths.github_connection,
        {
            "api_url": github.api_url,
            "app": {
                "id": app.id,
                "slug": app.slug,
                "name": app.name,
                "owner": app.owner,
                "webhook_secret": app.webhook_secret,
                "org": app.org,
                "key_sha256": fingerprint(github.private_key),
            },
        },
    )
