"""Linking an app to its repository: the repo to fetch, and on GitHub (with a token) a
webhook and a read-only deploy key that hostctl creates, remembers and alone removes;
with the GitHub App, nothing per repository (its installation reads it)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from hostctl.adapters.github import NotInstalled, RepoNotFound, web_url
from hostctl.adapters.system import hostname
from hostctl.core.errors import HostctlError
from hostctl.credentials.github import GitHubSettings, load_github
from hostctl.github.app import clone_url, install_url
from hostctl.github.keys import app_deploy_key
from hostctl.github.repo import parse_repo
from hostctl.host import Host
from hostctl.hostnames import webhook_url


@dataclass(frozen=True)
class Linked:
    repo: str
    branch: str
    made: list[str] = field(default_factory=list)  # what was created or updated on GitHub
    todo: str | None = None  # what the user must do by hand, if anything


def link_app(host: Host, app: str, repo: str, branch: str) -> Linked:
    """Point the app at ``repo``/``branch``; with a GitHub token, make (or update, never
    duplicate) the webhook and the deploy key. Re-running it changes nothing more."""
    found = host.store.app(app)
    check_branch(branch)
    spec = parse_repo(repo)
    github = load_github(host.settings) if spec.github else None
    if found.github.get("repo") and found.github.get("repo") != spec.github:
        unlink_github(host, app)  # moving to another repository: clean up the old one
        found = host.store.app(app)
    if spec.github and github is not None and github.app is not None:
        return link_through_app(host, app, spec.github, branch, github)
    ids = dict(found.github)
    ids.pop("repo_id", None)  # the repository's id is recorded again at its next push
    made = []
    if spec.github and github is not None:
        with github.api() as api:
            if spec.over_ssh:
                key = app_deploy_key(host.settings, app)
                title = f"hostctl {app} on {hostname()}"
                ids["key_id"] = api.ensure_deploy_key(
                    spec.github, title, key.public_key_openssh, ids.get("key_id")
                )
                made.append(f"read-only deploy key {ids['key_id']}")
            elif ids.get("key_id"):  # an https fetch never uses a deploy key: drop ours
                api.remove_deploy_key(spec.github, ids.pop("key_id"))
                shutil.rmtree(host.settings.paths.deploy_keys(app), ignore_errors=True)
            ids["hook_id"] = api.ensure_webhook(
                spec.github, webhook_url(host, app), found.webhook_secret, ids.get("hook_id")
            )
            made.append(f"webhook {ids['hook_id']} → {webhook_url(host, app)}")
    host.store.set_repo(app, spec.url, branch)
    host.store.set_github(app, ids | {"repo": spec.github} if spec.github else {})
    host.store.audit("apps:connect", app, f"{spec.url} ({branch}); {'; '.join(made)}")
    todo = None
    if spec.github and github is None:
        todo = (
            "no GitHub token is set (`hostctl github connect --token …`), so add the webhook "
            "yourself: its URL and secret are in `hostctl apps info "
            f"{app} --show-secrets` (content type application/json, push events)"
        )
    return Linked(spec.url, branch, made, todo)


def link_through_app(
    host: Host, app: str, repo: str, branch: str, github: GitHubSettings
) -> Linked:
    """With the GitHub App: nothing is made on the repository; the App's installation
    must see it (checked now, so a missing installation is said at once)."""
    try:
        with github.api() as api:
            installation = api.repo_installation(repo, install_url(github))
    except NotInstalled as exc:
        # no "run the command again": after `apps create` the app exists, and what to run
        # next is the caller's to say
        raise NotInstalled(
            exc.message,
            f"install the App on {repo} at {install_url(github)} (or add the repository to "
            "its installation), then link the app again.",
        ) from exc
    todo = None
    if host.store.app(app).github.keys() & {"hook_id", "key_id"}:
        todo = unlink_github(host, app)[0]  # linked in token mode before: say what stays
    url = clone_url(github, repo)
    host.store.set_repo(app, url, branch)
    host.store.set_github(app, {"repo": repo, "installation": installation})
    slug = github.app.slug if github.app else ""
    made = [f"GitHub App {slug} (installation {installation}) can read {repo}"]
    host.store.audit("apps:connect", app, f"{url} ({branch}); {made[0]}")
    return Linked(url, branch, made, todo)


def unlink_app(host: Host, app: str) -> list[str]:
    """Forget the app's repository and remove what hostctl made on GitHub for it."""
    host.store.app(app)
    removed = unlink_github(host, app)
    host.store.set_repo(app, None, "main")
    host.store.audit("apps:disconnect", app, "; ".join(removed))
    return removed


def unlink_github(host: Host, app: str) -> list[str]:
    found = host.store.app(app)
    repo = found.github.get("repo")
    hook_id, key_id = found.github.get("hook_id"), found.github.get("key_id")
    removed = []
    if repo and (hook_id or key_id):
        github = load_github(host.settings)
        if github is None:
            raise HostctlError(
                f"{app} has a webhook and deploy key on {repo}, and no GitHub token is set"
                " to remove them",
                "run `hostctl github connect --token …` first, or remove them on GitHub",
            )
        if github.app is not None:
            # made with a token that is no longer saved: the App may not delete them
            removed.append(
                f"hostctl's webhook and deploy key on {repo} from token mode are left there "
                "(connected with a GitHub App now): delete them at "
                f"{web_url(github.api_url)}/{repo}/settings/hooks and .../settings/keys"
            )
        else:
            removed += remove_made(github, repo, hook_id, key_id)
    host.store.set_github(app, {})
    shutil.rmtree(host.settings.paths.deploy_keys(app), ignore_errors=True)
    return removed


def remove_made(
    github: GitHubSettings, repo: str, hook_id: int | None, key_id: int | None
) -> list[str]:
    removed = []
    try:
        with github.api() as api:
            if hook_id and api.remove_webhook(repo, hook_id):
                removed.append(f"webhook {hook_id} on {repo}")
            if key_id and api.remove_deploy_key(repo, key_id):
                removed.append(f"deploy key {key_id} on {repo}")
    except RepoNotFound:
        # Deleted, renamed or no longer visible to the token: what hostctl made there
        # went with it (or is out of reach); keeping the ids would block this for good.
        removed.append(
            f"the record of its webhook and deploy key on {repo} (GitHub no longer "
            "shows that repository to the token: deleted, renamed or out of its reach; "
            "remove them on GitHub by hand if the repository still exists)"
        )
    return removed


def check_branch(branch: str) -> None:
    bad = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{")
    if not branch or branch.startswith(("-", "/")) or any(b in branch for b in bad):
        raise HostctlError(f"{branch!r} is not a branch name", "e.g. --branch main")
