"""The agent process: the HTTP API, deploy workers, a maintenance loop (reconcile, job
recovery, scheduled backups) and app.json cron jobs. SIGTERM stops the HTTP side at once;
a worker in a deploy stops at the next step boundary before the swap (the job is queued again) or
finishes the swap it began."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from hostctl.adapters.system import release_free_memory
from hostctl.agent.events import EventReporter, event, log, setup_logging
from hostctl.agent.http import web_app
from hostctl.agent.listen import bind
from hostctl.agent.routing import COALESCE_SECONDS, Governor
from hostctl.agent.server import Server
from hostctl.agent.webhooks import MAX_BODY
from hostctl.apps import cron
from hostctl.cloudflare.sync import BRIEF, sync
from hostctl.core.errors import HostctlError
from hostctl.core.labels import NAMESPACE
from hostctl.core.locks import try_lock
from hostctl.edge import edge_locked, refresh_edge, routed, routes
from hostctl.host import Host
from hostctl.queue import run_job, wake_address
from hostctl.reconcile import reconcile
from hostctl.server_config import agent_address
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.cron import end_interrupted
from hostctl.state.queue import Job, active_job_counts, claim, lease_owner

IDLE_SECONDS = 0.5
CRON_SECONDS = 10.0  # how often due cron jobs are looked for (schedules are by the minute)
MAINTENANCE_SECONDS = 60.0
CLOUDFLARE_EVERY = 10  # maintenance rounds between full Cloudflare syncs
CACHE_PRUNE_ROUNDS = 60  # maintenance rounds between prunes of hostctl's build cache
GRACE_SECONDS = 10.0  # for requests open when the agent stops


class Agent:
    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.work_waiting = threading.Event()
        self.threads = [
            threading.Thread(target=self.work, name=f"worker-{n}", daemon=True)
            for n in range(1, workers + 1)
        ]
        self.threads.append(threading.Thread(target=self.maintain, name="maintenance", daemon=True))
        # Backups get their own thread: a large one must not hold up reconcile.
        self.threads.append(threading.Thread(target=self.back_up, name="backups", daemon=True))
        self.threads.append(threading.Thread(target=self.follow_engine, name="edge", daemon=True))
        self.threads.append(threading.Thread(target=self.route, name="routes", daemon=True))
        self.threads.append(threading.Thread(target=self.run_cron, name="cron", daemon=True))
        self.threads.append(
            threading.Thread(target=self.listen_for_wakes, name="wake", daemon=True)
        )
        self.wakes = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.cron_seconds = CRON_SECONDS
        self.engine_events: Any = None  # the open stream, closed to stop
        self.engine_changed = threading.Event()  # the routes may be stale
        self.server: Server | None = None

    def health(self, store: Store) -> dict[str, Any]:
        counts = active_job_counts(store)
        alive = all(t.is_alive() for t in self.threads)
        return {
            "healthy": alive and not self.stopping.is_set(),
            "workers": sum(t.is_alive() for t in self.threads if t.name.startswith("worker")),
            "queued": counts.get("queued", 0),
            "running": counts.get("running", 0),
        }

    def work(self) -> None:
        host = Host(self.settings)
        owner = lease_owner()
        while not self.stopping.is_set():
            self.work_waiting.clear()  # before claiming: a wake from now on is not lost
            try:
                claimed = claim(host.store, owner)
            except sqlite3.Error as exc:  # e.g. a locked database: try again shortly
                event("claim-failed", logging.WARNING, error=exc)
                claimed = None
            if claimed is None:
                self.work_waiting.wait(IDLE_SECONDS)
                continue
            event(
                "job-started",
                app=claimed.app,
                job=claimed.id,
                trigger=claimed.trigger,
                ref=claimed.ref,
                attempt=claimed.attempts,
            )
            out = EventReporter(claimed.app, claimed.id)
            try:
                run_job(host, claimed, out, self.stopping.is_set, self.job_finished)
            except Exception:  # a bug must not kill the worker; the job is failed
                log.exception("event=job-crashed app=%s job=%s", claimed.app, claimed.id)
            release_free_memory()  # the job's old containers are stopped: it is over

    def listen_for_wakes(self) -> None:
        """A process that queued a job (a git push, `hostctl deploy`) wakes the workers:
        they claim it now, not at their next look. Only root's and this user's count."""
        self.wakes.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.wakes.settimeout(IDLE_SECONDS)  # to see `stopping`
        credentials = struct.calcsize("3i")
        while not self.stopping.is_set():
            try:
                _, ancillary, _, _ = self.wakes.recvmsg(16, socket.CMSG_SPACE(credentials))
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            for level, kind, data in ancillary:
                if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS):
                    _, uid, _ = struct.unpack("3i", data[:credentials])
                    if uid in (0, os.getuid()):
                        self.work_waiting.set()

    def job_finished(self, done: Job) -> None:
        """Logged when the job's status is final; its old containers are stopped after."""
        self.work_waiting.set()  # the app's next job may start now
        level = logging.INFO if done.status == "done" else logging.WARNING
        event(
            "job-finished",
            level,
            app=done.app,
            job=done.id,
            release=done.release,
            status=done.status,
            error=done.error,
        )

    def maintain(self) -> None:
        host = Host(self.settings)
        rounds = 0

        def round_of_repairs() -> None:
            for repair in reconcile(host, cloudflare=True):
                event("repaired", detail=repair)
            # Reconcile skips Cloudflare's API when nothing changed here; drift made in
            # the dashboard is found by a full sync now and then.
            if rounds % CLOUDFLARE_EVERY == 0:
                report = sync(host, retries=BRIEF)
                for change in report.changes if report else []:
                    event("cloudflare", detail=change)
            if rounds % CACHE_PRUNE_ROUNDS == 0:
                # the deploy code (and GitHub's HTTP client) loads only when needed
                from hostctl.deploy.pipeline import prune_build_cache

                freed = prune_build_cache(host)
                if freed:
                    event("pruned-build-cache", bytes=freed)

        while not self.stopping.wait(MAINTENANCE_SECONDS):
            rounds += 1
            self.guarded(round_of_repairs)

    def follow_engine(self) -> None:
        """Tell the routes thread as soon as one of the namespace's containers starts,
        dies or joins a network: a restarted container may come back with another address."""
        host = Host(self.settings)
        while not self.stopping.is_set():

            def watch() -> None:
                self.engine_events = host.docker.events(
                    ["container", "network"], ["start", "die", "restart", "connect"]
                )
                try:
                    if self.stopping.is_set():  # stop() came before the stream was there
                        return
                    self.engine_changed.set()  # whatever happened while no stream was open
                    for found in self.engine_events:
                        if self.stopping.is_set():
                            break
                        if concerns(found, self.settings.namespace):
                            self.engine_changed.set()
                except Exception:
                    if not self.stopping.is_set():  # else: stop() closed the stream
                        raise
                finally:
                    self.engine_events.close()

            self.guarded(watch)
            self.stopping.wait(1)  # the engine went away (restarting?): watch again

    def route(self) -> None:
        """Refresh the edge once per burst of engine events (a container restarting is a
        die and a start), and again when a held route change is due."""
        host = Host(self.settings)
        governor = Governor()
        look_again: float | None = None
        while not self.stopping.is_set():
            wait = IDLE_SECONDS if look_again is None else look_again - time.monotonic()
            if self.engine_changed.wait(max(0.0, min(wait, IDLE_SECONDS))):
                self.stopping.wait(COALESCE_SECONDS)  # the rest of the burst
            elif look_again is None or time.monotonic() < look_again:
                continue
            self.engine_changed.clear()  # before reading: a later event is not lost
            if self.stopping.is_set():
                return

            def refresh_once() -> None:
                nonlocal look_again
                look_again = None  # after a failure: the next event tries again
                look_again = refresh(host, governor)

            self.guarded(refresh_once)

    def back_up(self) -> None:
        host = Host(self.settings)

        def round_of_backups() -> None:
            for line in run_due_backups(host, datetime.now(UTC)):
                event("backup", detail=line)

        while not self.stopping.wait(MAINTENANCE_SECONDS):
            self.guarded(round_of_backups)

    def run_cron(self) -> None:
        """Start each app.json cron job when its schedule comes due, each run in a thread
        of its own so a long job holds up no other."""
        host = Host(self.settings)
        self.guarded(partial(end_interrupted, host.store))
        after = self.clock()
        while not self.stopping.wait(self.cron_seconds):
            now = self.clock()
            self.guarded(partial(self.start_cron_jobs, host, after, now))
            after = now

    def start_cron_jobs(self, host: Host, after: datetime, now: datetime) -> None:
        for job in cron.due_jobs(host, after, now):
            runner = threading.Thread(
                target=self.guarded,
                args=(partial(run_cron_job, self.settings, job),),
                name=f"cron-{job.app}",
                daemon=True,
            )
            runner.start()

    def guarded(self, work: Callable[[], None]) -> None:
        """Run a round of a loop; the loop must outlive a failure or a bug."""
        try:
            work()
        except HostctlError as exc:
            event("maintenance-failed", logging.WARNING, error=exc.message)
        except Exception:
            log.exception("event=maintenance-crashed")

    def stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        event("stopping", signal=signal.Signals(signum).name)
        self.work_waiting.set()
        if self.server is not None:
            self.server.stop()
        if self.engine_events is not None:
            self.engine_events.close()

    def serve(self, addresses: list[tuple[str, int]]) -> None:
        with try_lock(self.settings.paths.agent_lock) as free:
            if not free:
                raise HostctlError(
                    "another hostctl agent is running on this box",
                    "stop it first (systemctl stop hostctl), or use that one",
                )
            sockets = [bind(a) for a in addresses]
            self.wakes.bind(wake_address(self.settings))
            setup_logging()
            host = Host(self.settings)
            for repair in reconcile(host, cloudflare=True):
                event("repaired", detail=repair)
            host.store.close()
            for thread in self.threads:
                thread.start()
            self.server = Server(
                sockets, web_app(self.settings, self.health, self.work_waiting.set), MAX_BODY
            )
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.stop)
            event(
                "listening",
                addresses=",".join(f"{h}:{p}" for h, p in addresses),
                workers=sum(t.name.startswith("worker") for t in self.threads),
            )
            routed = agent_address(self.settings.server.agent.listen[0])
            if routed not in addresses:  # e.g. `serve --listen` with another port
                event(
                    "webhooks-elsewhere",
                    logging.WARNING,
                    routed=f"{routed[0]}:{routed[1]}",
                    hint="Caddy sends webhooks to hostctl.yml's agent/listen; set it to this",
                )
            try:
                self.server.serve()
            finally:  # the workers stop between steps even if serving failed
                self.stop(signal.SIGTERM, None)
                self.server.drain(GRACE_SECONDS)
            for thread in self.threads:
                thread.join()
            self.wakes.close()
            event("stopped")


def refresh(host: Host, governor: Governor) -> float | None:
    """Serve the route table, less the changes still held; returns when to look again."""
    with edge_locked(host):
        table, look_again = governor.table(routes(host), routed(host), time.monotonic())
        refresh_edge(host, table)
    return look_again


def concerns(found: dict[str, Any], namespace: str) -> bool:
    """A container of the namespace, or a connection to one of its networks."""
    attributes = (found.get("Actor") or {}).get("Attributes") or {}
    if found.get("Type") == "container":
        return bool(attributes.get(NAMESPACE) == namespace)
    network = str(attributes.get("name", ""))
    return network == namespace or network.startswith(f"{namespace}-")


def run_cron_job(settings: Settings, job: cron.DueJob) -> None:
    host = Host(settings)
    try:
        event("cron", app=job.app, detail=cron.run_cron_job(host, job))
    finally:
        host.store.close()


def run_due_backups(host: Host, now: datetime) -> list[str]:
    from hostctl.backup.schedule import run_due_backups as run

    return run(host, now)
