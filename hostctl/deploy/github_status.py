"""Commit statuses on GitHub for deploys of apps connected to a GitHub repository."""

from __future__ import annotations

import logging

from hostctl.host import Host
from hostctl.state import Release
from hostctl.state.jobs import Job

log = logging.getLogger("hostctl.agent")


def report_status(
    host: Host, found: Job, state: str, description: str, release: Release | None = None
) -> None:
    """Set the commit's status; a GitHub problem is logged, never fails the deploy."""
    try:
        post_status(host, found, state, description, release)
    except Exception as exc:  # a status must never change a deploy's outcome
        log.warning("event=github-status-failed app=%s job=%s error=%r", found.app, found.id, exc)


def post_status(
    host: Host, found: Job, state: str, description: str, release: Release | None
) -> None:
    app = host.store.find_app(found.app)
    repo = app.github.get("repo") if app else None
    sha = (release.commit_sha if release else None) or found.ref
    if app is None or not repo or not sha or len(sha) != 40:
        return
    from hostctl.github.settings import load_github

    settings = load_github(host.settings)
    if settings is None:
        return
    with settings.api(max_attempts=2) as github:
        github.set_status(repo, sha, state, description, next(iter(host.urls(app)), None))
