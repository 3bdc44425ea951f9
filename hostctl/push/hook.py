"""The pre-receive hook of an app's push repository: deploy the pushed commit of the
app's branch and report until it is live. Deploying before the ref moves means a push
whose deploy fails is refused: `git push` exits non-zero and the branch stays put."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hostctl.adapters import git
from hostctl.core.errors import HostctlError
from hostctl.core.progress import Reporter
from hostctl.host import Host
from hostctl.queue import follow, superseded, wake_agent
from hostctl.state.queue import Job, enqueue

ZERO = "0" * 40


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def parse_updates(lines: Iterable[str]) -> list[Update]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    return updates


def pre_receive(
    host: Host, repo: Path, updates: list[Update], pusher: str, out: Reporter
) -> Job | None:
    """Deploy the update of the app's branch, if any; other refs just land."""
    app = host.store.app(repo.name.removesuffix(".git"))
    branch_ref = f"refs/heads/{app.branch}"
    for update in updates:
        if update.ref != branch_ref:
            out.step(f"{update.ref} is not the deploy branch ({app.branch}); not deploying it")
    deploying = [u for u in updates if u.ref == branch_ref]
    if not deploying:
        return None
    update = deploying[0]
    if update.new == ZERO:
        raise HostctlError(
            f"deleting {app.branch} would not undeploy {app.name}, so it is refused",
            f"to remove the app: `hostctl apps destroy {app.name}`",
        )
    spooled = host.settings.paths.spooled_tree(app.name, update.new)
    # The pushed objects are only visible to this process (git's quarantine), so the
    # tree is handed to the deploy as an archive.
    git.archive(repo, update.new, spooled)
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]  # the deploy must not see the quarantine
    try:
        queued = enqueue(host.store, app.name, f"push:{pusher}", str(repo), update.new)
        wake_agent(host.settings)
        out.step(f"Deploying {update.new[:10]} of {app.name} (job {queued.id})")
        final = follow(host, queued.id, out, stop_later=True)
        if final.ref != update.new:  # a newer push won: this commit was never live
            raise superseded(queued, final)
        return final
    finally:
        spooled.unlink(missing_ok=True)
