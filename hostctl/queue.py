"""Deploys as jobs: every deploy (CLI, webhook, git push) is queued, then run by the
agent's workers, or by the caller itself when no agent runs, with the same lease."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hostctl.core.errors import HostctlError
from hostctl.core.locks import try_lock
from hostctl.core.progress import Logged, Reporter, Silent
from hostctl.host import Host
from hostctl.settings import Settings
from hostctl.state import Release, Store
from hostctl.state.queue import (
    LEASE_SECONDS,
    Job,
    claim,
    enqueue,
    finish,
    job,
    lease_owner,
    owner_state,
    recover_jobs,
    renew_lease,
    requeue,
)

if TYPE_CHECKING:
    from hostctl.deploy.swap import Leftovers

POLL_SECONDS = 0.05  # a follower reads the job's row and log: cheap, and 0.1 s sooner
WEBHOOK = "webhook:"  # the trigger of a webhook's job: webhook:<delivery id>


class JobInterrupted(HostctlError):
    """The worker is stopping; the job goes back to the queue before the swap begins."""


class StalePush(HostctlError):
    """A webhook's commit is no longer its branch's head: the job is skipped."""


def agent_running(settings: Settings) -> bool:
    with try_lock(settings.paths.agent_lock) as free:
        return not free


def wake_address(settings: Settings) -> bytes:
    """The agent's wake socket: an abstract unix socket (nothing on disk, no length limit
    on the state root's path), one per state root."""
    root = hashlib.sha256(str(settings.paths.agent_lock).encode()).hexdigest()[:24]
    return f"\0hostctl-wake-{root}".encode()


def wake_agent(settings: Settings) -> None:
    """Tell the agent's workers a job is queued, so they claim it now rather than at
    their next look at the queue. Without an agent listening this does nothing."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(b"1", wake_address(settings))


def submit_deploy(
    host: Host, app: str, source: str | None, ref: str | None, trigger: str, out: Reporter
) -> Job:
    """Queue a deploy and follow it to its end (running it here when no agent runs).

    Returns the job; a newer deploy that superseded it is followed, then reported as an
    error, since this source was not the one deployed.
    """
    from hostctl.deploy.pipeline import resolve_source

    host.store.app(app)
    source, ref = resolve_source(host, app, source, ref)
    queued = enqueue(host.store, app, trigger, source, ref)
    wake_agent(host.settings)
    final = follow(host, queued.id, out)
    if final.id != queued.id:
        raise superseded(queued, final)
    return final


def superseded(queued: Job, final: Job) -> HostctlError:
    return HostctlError(
        f"job {queued.id} was superseded by job {final.id}, a newer deploy of {queued.app}"
        f" ({final.status}), so what it asked for was not deployed",
        "run it again if it should be live",
    )


def follow(host: Host, job_id: int, out: Reporter, stop_later: bool = False) -> Job:
    """Print a job's log as it grows until the job ends; a superseded job is followed by
    the newer one that replaced it. With no agent running, the job is run right here;
    ``stop_later``: its old containers are drained and stopped by a detached child, so
    the caller (a git push) returns as soon as the new release serves."""
    printed = 0
    waiting_said = False
    while True:
        current = job(host.store, job_id)
        path = host.settings.paths.job_log(current.app, current.id)
        printed = replay(path, printed, out)
        if current.status == "superseded" and current.superseded_by:
            out.step(f"Job {job_id} was superseded by job {current.superseded_by}, a newer deploy")
            job_id, printed, waiting_said = current.superseded_by, 0, False
            continue
        if current.finished:
            return current
        worker_died = current.status == "running" and owner_state(current.lease_owner) == "dead"
        if worker_died and recover_jobs(host.store):
            continue  # it is queued again (or failed): look again
        if current.status == "queued" and not agent_running(host.settings):
            claimed = claim(host.store, lease_owner(), job_id)
            if claimed is not None:
                return run_job(host, claimed, out, stop_later=stop_later)
        if current.status == "queued" and not waiting_said:
            out.step(f"Job {job_id} is queued behind a running deploy of {current.app}")
            waiting_said = True
        time.sleep(POLL_SECONDS)


def replay(path: Path, offset: int, out: Reporter) -> int:
    """Pass on the whole lines written to a job log since ``offset``; returns the new one."""
    if not path.exists():
        return offset
    with path.open("rb") as file:
        file.seek(offset)
        chunk = file.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if line.startswith("-----> "):
            out.step(line[7:])
        else:
            out.detail(line.removeprefix("       "))
    return offset + len(complete)


def run_job(
    host: Host,
    claimed: Job,
    out: Reporter,
    stopping: Callable[[], bool] = bool,
    on_finished: Callable[[Job], None] = lambda done: None,
    stop_later: bool = False,
) -> Job:
    """Run a job this process has claimed, renewing its lease, to a final status.

    The job is done once its release serves; the old containers are drained and stopped
    after that (``on_finished`` runs in between), and after every tenth build of the app
    hostctl's build cache is pruned, while the app's next job may already start; with
    ``stop_later``, by a detached child process while this call returns."""
    # The deploy code (and the Docker SDK) loads only where a job runs: a git push's
    # hook that an agent serves never needs it.
    from hostctl.deploy.github_status import report_status
    from hostctl.deploy.pipeline import cache_prune_due, deploy, stale_push
    from hostctl.deploy.swap import Leftovers

    log = Logged(host.settings.paths.job_log(claimed.app, claimed.id), out)
    release: list[Release] = []
    leftovers = Leftovers(claimed.app)

    def checkpoint() -> None:
        if stopping():
            raise JobInterrupted("the agent is stopping", "the job runs again when it starts")

    lease = LeaseKeeper(host.settings, claimed)
    final = True
    try:
        assert claimed.source is not None, "deploy jobs always have a source"
        report_status(host, claimed, "pending", f"Deploying ({claimed.trigger})", out=log)
        head_only = False
        if claimed.trigger.startswith(WEBHOOK) and claimed.ref:
            # Only the branch's head deploys: a replayed old delivery must not roll back.
            stale = stale_push(host, claimed.app, claimed.source, claimed.ref)
            if stale:
                raise StalePush(stale)
            head_only = True
        done = deploy(
            host,
            claimed.app,
            claimed.source,
            claimed.ref,
            claimed.trigger,
            log,
            checkpoint,
            release.append,
            leftovers,
            fetched=head_only,  # by the stale-push check
        )
        finish(host.store, claimed.id, "done", release=done.number)
        report_status(host, claimed, "success", f"Release {done.number} is live", done, out=log)
    except StalePush as exc:
        log.step(f"Not deploying: {exc.message}")
        finish(host.store, claimed.id, "skipped", exc.message)
        report_status(host, claimed, "error", f"Not deployed: {exc.message}", out=log)
    except HostctlError as exc:
        if isinstance(exc.__cause__, JobInterrupted):
            log.step("Stopped before the swap; the job will run again")
            requeue(host.store, claimed.id)
            final = False
        else:
            log.step(f"Failed: {exc.message}")
            number = release[0].number if release else None
            finish(host.store, claimed.id, "failed", exc.message, number)
            report_status(host, claimed, "failure", exc.message, out=log)
    except Exception as exc:  # a bug of ours: the job and its commit status still end
        log.step(f"Failed: hostctl hit an unexpected error: {exc!r}")
        finish(host.store, claimed.id, "failed", f"unexpected error: {exc!r}")
        report_status(host, claimed, "failure", "hostctl failed unexpectedly", out=log)
        raise
    except BaseException:
        finish(host.store, claimed.id, "failed", "interrupted")
        raise
    finally:
        lease.stop()
        log.close()
        if final and claimed.ref:  # a requeued push job still needs its spooled tree
            host.settings.paths.spooled_tree(claimed.app, claimed.ref).unlink(missing_ok=True)
    final_job = job(host.store, claimed.id)
    on_finished(final_job)
    prune = bool(release) and final and cache_prune_due(host, claimed.app)  # a build ran
    if stop_later and (leftovers.containers or prune):
        clean_up_detached(host, leftovers, prune, out)
    else:
        clean_up(host, leftovers, prune, out)
    return final_job


def clean_up(host: Host, leftovers: Leftovers, prune: bool, out: Reporter) -> None:
    """What follows a job: stop the old containers; prune the build cache when due."""
    from hostctl.deploy.pipeline import prune_build_cache

    try:
        leftovers.stop(host, out)
    except Exception as exc:  # the job is done whatever happens here; reconcile retries
        out.step(f"Could not stop an old container yet: {exc}")
    if prune:
        try:
            prune_build_cache(host, out)
        except Exception as exc:  # the same: the job is done, the next prune tries again
            out.step(f"Could not prune the build cache: {exc}")


def clean_up_detached(host: Host, leftovers: Leftovers, prune: bool, out: Reporter) -> None:
    """Clean up in a forked child, in a session of its own with its standard streams on
    /dev/null (git and sshd wait for those to close), and return at once. The child's
    copy of the retiring lock keeps reconcile off the old containers until they are
    stopped. A process with other threads cleans up itself: a fork would copy only this
    one."""
    if threading.active_count() > 1:
        clean_up(host, leftovers, prune, out)
        return
    if os.fork():
        leftovers.held.close()  # closes this copy only: the child's keeps the lock
        return
    try:
        os.setsid()
        quiet = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(quiet, stream)
        clean_up(Host(host.settings), leftovers, prune, Silent())  # not the parent's connections
    finally:
        os._exit(0)


class LeaseKeeper:
    """Renews a job's lease from a thread (with its own connection) while it runs."""

    def __init__(self, settings: Settings, claimed: Job) -> None:
        self.settings = settings
        self.claimed = claimed
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.renew, name=f"lease-{claimed.id}", daemon=True)
        self.thread.start()

    def renew(self) -> None:
        store = Store(self.settings.paths.database)
        try:
            owner = self.claimed.lease_owner or ""
            while not self.stopped.wait(LEASE_SECONDS / 3):
                try:
                    renew_lease(store, self.claimed.id, owner)
                except sqlite3.Error:
                    continue  # e.g. busy; the next renewal comes well before expiry
        finally:
            store.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
