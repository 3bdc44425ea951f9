"""GitHub App mode: the manifest flow that makes the app, and git fetches with the
installation token.

The manifest flow: `hostctl github connect --app` records a one-time setup (a random
state, valid for an hour and used once) and prints the agent's page for it; that page
posts the app's manifest to GitHub; GitHub sends the browser back to the agent's
callback with a code, which the agent exchanges for the app's id, slug, webhook secret
and private key, saved 0600 (hostctl.credentials.github).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hostctl.adapters.github import GitHub, installation_token, web_url
from hostctl.adapters.system import hostname
from hostctl.core.errors import HostctlError
from hostctl.core.names import LOOPBACK_HOSTS
from hostctl.credentials.github import GitHubApp, GitHubSettings, load_github, save_github
from hostctl.host import Host
from hostctl.hostnames import webhook_base_url
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.github_app import (
    Setup,
    add_setup,
    cancel_setup,
    claim_setup,
    find_setup,
    finish_setup,
)

AGAIN = "run `hostctl github connect --app` again for a new link"
SETUP_SECONDS = 3600  # a setup link is refused an hour after it was made
SETUP_PATH = "/hooks/github-app"  # under /hooks/: the only paths the edge sends the agent
GIT_USER = "x-access-token"
TOKEN_VARIABLE = "HOSTCTL_GIT_TOKEN"  # noqa: S105 (the name of a variable)
# Answers git's "get" with the token from the environment and ignores "store" and
# "erase": the token is never written anywhere, not even by a helper configured on the box.
CREDENTIAL_HELPER = (
    '!f() { cat >/dev/null; test "$1" = get || exit 0; '
    f'echo username={GIT_USER}; echo "password=${TOKEN_VARIABLE}"; }}; f'
)


def git_token_env(token: str, web: str) -> dict[str, str]:
    """Environment for a git child that fetches over HTTPS with ``token`` from ``web``
    (https://github.com, or the Enterprise server) and from no other host.

    The token is in a variable only that child (and its credential helper) sees; the
    helpers configured on the box are reset first (an empty ``credential.helper``).
    """
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": f"credential.{web}.helper",
        "GIT_CONFIG_VALUE_1": CREDENTIAL_HELPER,
        TOKEN_VARIABLE: token,
    }


GitCredentials = Callable[[bool], dict[str, str]]  # fresh → environment for git


def git_credentials(
    settings: Settings, linked: dict[str, Any], source: str
) -> GitCredentials | None:
    """How a fetch of ``source`` for an app linked through the GitHub App (``linked``:
    the app's GitHub record) gets its token: only when ``source`` is the linked
    repository's URL. None otherwise (another app, or another source given by hand),
    which fetches as before, with no token."""
    github_repo = linked.get("repo")
    if not github_repo or not linked.get("installation"):
        return None
    connection = load_github(settings)
    if connection is None or connection.app is None:
        return None
    if source.rstrip("/").lower() != clone_url(connection, github_repo).lower():
        return None
    identity = connection.identity
    web = web_url(connection.api_url)

    def credentials(fresh: bool) -> dict[str, str]:
        return git_token_env(installation_token(identity, github_repo, fresh=fresh), web)

    return credentials


def clone_url(connection: GitHubSettings, repo: str) -> str:
    return f"{web_url(connection.api_url)}/{repo}.git"


def install_url(connection: GitHubSettings) -> str:
    return connection.identity.install_url


def delete_url(connection: GitHubSettings) -> str:
    """The page where the app is deleted on GitHub (hostctl cannot do it)."""
    app = connection.app
    assert app is not None
    base = web_url(connection.api_url)
    if app.org:
        return f"{base}/organizations/{app.owner}/settings/apps/{app.slug}/advanced"
    return f"{base}/settings/apps/{app.slug}/advanced"


# the manifest flow: the CLI's half


@dataclass(frozen=True)
class Started:
    state: str
    url: str  # the agent's one-time page
    warning: str | None = None  # when the URL only opens on the box itself


def loopback_warning(url: str) -> str | None:
    """What to do when the agent has no public URL: GitHub sends the browser back to
    this address, which only the box itself reaches (or an SSH tunnel to it)."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    port = parts.port or 80
    return (
        f"{parts.hostname} is this box: GitHub sends your browser back to this URL, so it "
        "must open from the browser's machine. Set agent.public_url (or connect Cloudflare) "
        f"for a public one, or open a tunnel from your computer first: "
        f"`ssh -L {port}:{parts.hostname}:{port} USER@BOX`"
    )


# GitHub's rule for account names: letters, digits and single inner hyphens, 1-39 long
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


def start_setup(host: Host, api_url: str, org: str | None = None) -> Started:
    if org is not None and not LOGIN.fullmatch(org):
        raise HostctlError(
            f"{org!r} is not a GitHub organization name",
            "pass the organization's login as in its URL, e.g. --org acme",
        )
    base = webhook_base_url(host)
    setup = Setup(secrets.token_urlsafe(24), api_url, base, org, time.time(), None, None)
    add_setup(host.store, setup)
    url = f"{base}{SETUP_PATH}/new/{setup.state}"
    return Started(setup.state, url, loopback_warning(url))


def wait_for_setup(host: Host, state: str, timeout: float, poll: float = 0.5) -> GitHubSettings:
    """The saved App once the agent's callback has run; an error if it failed or timed out.

    A wait that ends without an app (a timeout, or Ctrl-C) expires the link: nobody
    would see what it made, and it would replace the saved connection unannounced."""
    try:
        return poll_setup(host, state, timeout, poll)
    except BaseException:
        cancel_setup(host.store, state, time.time(), "cancelled: nobody waits for it any more")
        raise


def poll_setup(host: Host, state: str, timeout: float, poll: float) -> GitHubSettings:
    deadline = time.monotonic() + timeout
    while True:
        found = find_setup(host.store, state)
        if found is not None and found.outcome == "ok":
            connection = load_github(host.settings)
            if connection is None or connection.app is None:
                raise HostctlError(
                    "the GitHub App was made but is no longer saved",
                    "run `hostctl github connect --app` again",
                )
            return connection
        if found is not None and found.outcome:
            raise HostctlError(
                f"GitHub did not create the app: {found.outcome}",
                "run `hostctl github connect --app` again",
            )
        if time.monotonic() >= deadline:
            raise HostctlError(
                f"the GitHub App was not created within {timeout:.0f} s",
                "open the URL in a browser while the agent (`hostctl serve`) runs and is "
                "reachable at it, then run `hostctl github connect --app` again (the link "
                "printed is no longer valid)",
            )
        time.sleep(poll)


# the manifest flow: the agent's half


def manifest(setup: Setup) -> dict[str, object]:
    base = setup.base_url
    return {
        "name": f"hostctl-{hostname()}"[:34],
        "url": base,
        "hook_attributes": {"url": f"{base}/hooks/github", "active": True},
        "redirect_url": f"{base}{SETUP_PATH}/callback",
        "public": False,
        "default_permissions": {"contents": "read", "metadata": "read", "statuses": "write"},
        "default_events": ["push"],
    }


def setup_page(store: Store, state: str) -> str | None:
    """The page that posts the manifest to GitHub; None for an unknown, used or old state."""
    setup = find_setup(store, state)
    if setup is None or setup.used_at is not None:
        return None
    if setup.created_at < time.time() - SETUP_SECONDS:
        return None
    base = web_url(setup.api_url)
    where = f"/organizations/{setup.org}" if setup.org else ""
    action = f"{base}{where}/settings/apps/new?state={state}"
    return (
        "<!doctype html><meta charset=utf-8><title>Create the hostctl GitHub App</title>"
        f'<form id=f method=post action="{html.escape(action)}">'
        f'<input type=hidden name=manifest value="{html.escape(json.dumps(manifest(setup)))}">'
        "<p>Sending you to GitHub to create the app…</p>"
        "<button type=submit>Create the GitHub App</button></form>"
        "<script>document.getElementById('f').submit()</script>"
    )


def complete_setup(store: Store, settings: Settings, state: str, code: str) -> GitHubSettings:
    """Exchange GitHub's code for the app and save it; the state is used up either way."""
    setup = claim_setup(store, state, time.time(), time.time() - SETUP_SECONDS)
    if setup is None:
        raise HostctlError(
            "this setup link is unknown, expired (after an hour) or already used",
            "run `hostctl github connect --app` again for a new link",
        )
    try:
        # no authentication: a 401 means GitHub refused the code, not a token
        with GitHub("", setup.api_url, auth_hint=AGAIN) as api:
            made = api.convert_manifest(code)
        owner = made.get("owner") or {}
        connection = GitHubSettings(
            api_url=setup.api_url,
            app=GitHubApp(
                int(made["id"]),
                str(made["slug"]),
                str(made.get("name") or made["slug"]),
                str(owner.get("login") or ""),
                str(made["webhook_secret"]),
                owner.get("type") == "Organization",
            ),
            private_key=str(made["pem"]),
        )
        save_github(settings, connection)
    except HostctlError as exc:
        finish_setup(store, state, exc.message)
        raise
    finish_setup(store, state, "ok")
    store.audit("github:connect", None, f"GitHub App {connection.app and connection.app.slug}")
    return connection
