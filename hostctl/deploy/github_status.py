"""Commit statuses on GitHub for deploys of apps connected to a GitHub repository."""

from __future__ import annotations

import logging

from hostctl.errors import HostctlError
from hostctl.host import Host
from hostctl.state import Release
from hostctl.state.jobs import Job

log = logging.getLogger("hostctl.agent")


def report_status(
    host: Host, found: Job, state: str, description: str, release: Release | None = None
) -> None:
    """Set the commit's status; a GitHub problem is logged, never fails the deploy."""
    app = host.store.find_app(found.app)
    repo = app.github.get("repo") if app else None
    sha = (release.commit_sha if release else None) or found.ref
    if app is None or not repo or not sha or len(sha) != 40:
        return
    from hostctl.github.settings import load_github

    settings = load_github(host.settings)
    if settings is None:
        return
    try:
        with settings.api(max_attempts=2) as github:
            github.set_status(repo, sha, state, description, next(iter(host.urls(app)), None))
    except HostctlError as exc:
        log.warning("event=github-status-failed app=%s job=%s error=%r", app.name, found.id, exc)
