"""Linked repositories that are renamed or transferred. GitHub keeps a repository's id
through both, and every delivery names the id: once an app has seen it, deliveries are
matched by id (a new repository under the old name is not the linked one), and the app
follows the new name, its fetch URL included, and in App mode the installation the
repository is in now (a transfer moves it to another account's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.github.repo import github_name
from hostctl.state import Store
from hostctl.state.github_app import change_repositories, installations
from hostctl.state.store import App


def delivered_repository(payload: Mapping[str, Any]) -> tuple[int | None, str]:
    """The delivery's repository: GitHub's id for it (None when absent) and full name."""
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        return None, ""
    return number_in(repository), str(repository.get("full_name") or "")


def number_in(item: Any) -> int | None:
    """An object's GitHub id, when it has one."""
    number = item.get("id") if isinstance(item, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def is_linked(linked: Mapping[str, Any], number: int | None, full_name: str) -> bool:
    """Whether a delivery's repository is the one an app is linked to (``linked``: the
    app's GitHub record): by id once recorded, by name before."""
    recorded = linked.get("repo_id")
    if isinstance(recorded, int) and number is not None:
        return recorded == number
    return bool(full_name) and str(linked.get("repo", "")).lower() == full_name.lower()


def other_repository(app: App, number: int | None) -> str:
    """Why a delivery from a repository of the linked name is not the linked one."""
    return (
        f"{app.github.get('repo')} is now another repository (GitHub id {number}, linked: "
        f"{app.github.get('repo_id')}); to deploy from it, link it again: "
        f"`hostctl apps connect {app.name} --repo {app.github.get('repo')}`"
    )


def follow_move(store: Store, app: App, payload: Mapping[str, Any]) -> App:
    """After a push ``is_linked`` accepted: record the repository's id, and after a
    rename or a transfer its new name, fetch URL and installation. ``app`` itself when
    there is nothing to record (every push but the first and a move's: no write).
    Read again inside the transaction, so a link changed meanwhile (`apps connect`) is
    left alone."""
    if moved_record(app, payload) is None:
        return app
    with store.transaction():
        now = store.app(app.name)
        if now.github.get("repo") != app.github.get("repo") or now.repo != app.repo:
            return now
        change = moved_record(now, payload)
        if change is None:
            return now
        github, old, new = change
        repo = moved_url(now.repo, old, new) if new else now.repo
        store.set_github(app.name, github)
        store.set_repo(app.name, repo, now.branch)
        if new:
            detail = f"GitHub repository {github['repo_id']}: {old} is now {new}; fetching {repo}"
            store.audit("apps:repo-moved", app.name, detail)
    if new:
        before, after = now.github.get("installation"), github.get("installation")
        move_in_installations(store, before, after, old, new)
    return store.app(app.name)


def moved_record(
    app: App, payload: Mapping[str, Any]
) -> tuple[dict[str, Any], str, str | None] | None:
    """The app's GitHub record after this push (with the repository's id, a new name, a
    new installation), its old name and the new one (None: not moved); None when the
    push changes nothing."""
    number, full_name = delivered_repository(payload)
    old = str(app.github.get("repo") or "")
    if number is None or not old:
        return None
    new = moved_name(old, full_name)
    github = app.github | {"repo_id": number} | ({"repo": new} if new else {})
    installation = number_in(payload.get("installation"))  # App mode only
    if installation is not None and "installation" in github:
        github["installation"] = installation  # a transfer, or the App installed anew
    return None if github == app.github else (github, old, new)


def moved_name(old: str, full_name: str) -> str | None:
    """The repository's new OWNER/NAME, or None when it did not move (a difference in
    case only is GitHub's spelling of the same name)."""
    if full_name.lower() == old.lower():
        return None
    try:
        return github_name(full_name, full_name)
    except HostctlError:
        return None


def moved_url(url: str | None, old: str, new: str) -> str | None:
    """``url`` fetching ``new`` where it named ``old`` (``…/OLD(.git)``, ``…:OLD.git``);
    a URL that did not name it is kept."""
    if url is None:
        return None
    bare = url.rstrip("/")
    suffix = ".git" if bare.endswith(".git") else ""
    path = bare.removesuffix(suffix)
    head = path[: len(path) - len(old)]
    if path.lower().endswith(old.lower()) and head.endswith(("/", ":")):
        return f"{head}{new}{suffix}"
    return url


def move_in_installations(store: Store, before: Any, after: Any, old: str, new: str) -> None:
    """The repositories recorded for the App's installations follow the move."""
    for installation in installations(store):
        if installation.repositories is None:
            continue  # all of the account's repositories: nothing named
        if installation.id == before:
            change_repositories(store, installation.id, installation.account, [], [old])
        if installation.id == after:
            change_repositories(store, installation.id, installation.account, [new], [])
