"""Linked repositories that are renamed or transferred. GitHub keeps a repository's id
through both, and every delivery names the id: once an app has seen it, deliveries are
matched by id (a new repository under the old name is not the linked one), and the app
follows the new name, its fetch URL included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hostctl.github.repo import NAME, OWNER
from hostctl.state import Store
from hostctl.state.github_app import change_repositories, installations
from hostctl.state.store import App


def delivered_repository(payload: Mapping[str, Any]) -> tuple[int | None, str]:
    """The delivery's repository: GitHub's id for it (None when absent) and full name."""
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        return None, ""
    number = repository.get("id")
    known = isinstance(number, int) and not isinstance(number, bool)
    return (number if known else None), str(repository.get("full_name") or "")


def is_linked(linked: Mapping[str, Any], number: int | None, full_name: str) -> bool:
    """Whether a delivery's repository is the one an app is linked to (``linked``: the
    app's GitHub record): by id once recorded, by name before."""
    recorded = linked.get("repo_id")
    if isinstance(recorded, int) and number is not None:
        return recorded == number
    return bool(full_name) and str(linked.get("repo", "")).lower() == full_name.lower()


def other_repository(linked: Mapping[str, Any], number: int | None) -> str:
    """Why a delivery from a repository of the linked name is not the linked one."""
    return (
        f"{linked.get('repo')} is now another repository (GitHub id {number}, linked: "
        f"{linked.get('repo_id')}); to deploy from it, link it again"
    )


def follow_move(store: Store, app: App, number: int | None, full_name: str) -> App:
    """Record the linked repository's id, and after a rename or a transfer its new name
    and fetch URL; the app as it is now. Call only for a delivery ``is_linked`` accepts."""
    old = str(app.github.get("repo") or "")
    if number is None or not old:
        return app
    owner, _, name = full_name.partition("/")
    moved = full_name != old and bool(OWNER.fullmatch(owner) and NAME.fullmatch(name))
    if app.github.get("repo_id") == number and not moved:
        return app
    github = app.github | {"repo_id": number} | ({"repo": full_name} if moved else {})
    repo = moved_url(app.repo, old, full_name) if moved else app.repo
    with store.transaction():
        store.set_github(app.name, github)
        store.set_repo(app.name, repo, app.branch)
        if moved:
            detail = f"GitHub repository {number}: {old} is now {full_name}; fetching {repo}"
            store.audit("apps:repo-moved", app.name, detail)
    installation = app.github.get("installation")
    if moved and isinstance(installation, int):
        known = next((i for i in installations(store) if i.id == installation), None)
        if known is not None and known.repositories is not None:
            change_repositories(store, installation, known.account, [full_name], [old])
    return replace(app, github=github, repo=repo)


def moved_url(url: str | None, old: str, new: str) -> str | None:
    """``url`` fetching ``new`` where it fetched ``old`` (``…/OLD.git``, ``…:OLD``);
    another URL (a mirror given by hand) is kept."""
    if url is None:
        return None
    suffix = ".git" if url.endswith(".git") else ""
    path = url.removesuffix(suffix)
    head = path[: len(path) - len(old)]
    if path.lower().endswith(old.lower()) and head.endswith(("/", ":")):
        return f"{head}{new}{suffix}"
    return url
