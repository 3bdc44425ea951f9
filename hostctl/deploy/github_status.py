"""Commit statuses on GitHub for deploys of apps connected to a GitHub repository.

Best effort and short, because it runs on the deploy path: one attempt, no waiting out a
rate limit, a few seconds at most. A failure is written to the job's log (and the agent's
log) and never changes the deploy's outcome.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime

from hostctl.core.errors import HostctlError
from hostctl.core.progress import Reporter
from hostctl.host import Host
from hostctl.hostnames import app_urls
from hostctl.state import Release
from hostctl.state.queue import Job

log = logging.getLogger("hostctl.agent")
TIMEOUT = 5.0  # seconds for the whole status call: a deploy never waits longer on GitHub


def report_status(
    host: Host,
    found: Job,
    state: str,
    description: str,
    release: Release | None = None,
    out: Reporter | None = None,
) -> None:
    """Set the commit's status; a GitHub problem is logged (to ``out``, the job's log, when
    given), never fails or delays the deploy."""
    try:
        post_status(host, found, state, description, release)
    except Exception as exc:  # a status must never change a deploy's outcome
        log.warning("event=github-status-failed app=%s job=%s error=%r", found.app, found.id, exc)
        if out is not None:
            why = exc.message if isinstance(exc, HostctlError) else repr(exc)
            with contextlib.suppress(OSError, ValueError):  # nor may writing it down
                out.detail(f"GitHub commit status {state!r} not set: {why}")


def post_status(
    host: Host, found: Job, state: str, description: str, release: Release | None
) -> None:
    app = host.store.find_app(found.app)
    repo = app.github.get("repo") if app else None
    sha = (release.commit_sha if release else None) or found.ref
    if app is None or not repo or not sha or len(sha) != 40:
        return
    from hostctl.credentials.github import load_github

    settings = load_github(host.settings)
    if settings is None:
        return
    if state != "pending":  # when it went live or failed, on the commit itself
        description = f"{description} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    # With a GitHub App: an installation token for the repository (minted, or cached);
    # minting is two more calls, all within the one deadline.
    deadline = time.monotonic() + TIMEOUT
    with settings.repo_api(repo, max_attempts=1, timeout=TIMEOUT, deadline=deadline) as github:
        github.set_status(repo, sha, state, description, next(iter(app_urls(host, app)), None))
