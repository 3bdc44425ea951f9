"""Reconcile: make the engine, the edge, the queue and Cloudflare match the state store.

It sits above every other room and runs whenever hostctl starts (CLI or agent); commands
get their context through `open_host` here. It finishes what a crash interrupted:
releases left half-way are marked failed and their containers removed, jobs whose
worker died are queued again (once), a missing web container is started again, and
Caddy gets every app's route from the state store.
"""

from __future__ import annotations

import shutil
from collections import Counter

from hostctl.cloudflare.sync import reconcile_cloudflare
from hostctl.core.errors import HostctlError
from hostctl.core.labels import PROCESS
from hostctl.core.locks import try_lock
from hostctl.core.progress import Reporter, Silent
from hostctl.deploy.rules import process_counts, stale_containers
from hostctl.deploy.swap import container_spec, swap
from hostctl.edge import edge_locked, refresh_edge, shared_network_needed
from hostctl.host import Host
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import App
from hostctl.state.queue import recover_jobs


def reconcile(
    host: Host, out: Reporter | None = None, cloudflare: bool = False, only: str | None = None
) -> list[str]:
    """Repair what needs it; returns a line per repair made. Only the agent asks for
    ``cloudflare``: a command never calls an outside API just to start (commands that
    change hostnames sync them themselves). With ``only``, an app's containers are
    repaired for that app alone (a deploy of it: about six engine calls per app would
    make a deploy slower with every app on the box); the rest stays box-wide."""
    out = out or Silent()
    repairs: list[str] = []
    if shared_network_needed(host):
        host.docker.ensure_network(host.network, host.labels())
    else:  # apps have networks of their own; nothing else uses it
        host.docker.remove_network(host.network)
    if host.store.apps():
        host.ensure_firewall()  # after a reboot
    for release in host.store.unfinished_releases():
        with try_lock(host.settings.paths.app_lock(release.app)) as free:
            if free:
                host.store.fail_release(
                    release.app,
                    release.number,
                    "interrupted: hostctl stopped during the deploy; the previous release "
                    "kept serving",
                )
                repairs.append(f"{release.app}: release {release.number} was interrupted")
    repairs += recover_jobs(host.store)
    with edge_locked(host):
        refresh_edge(host)
    for app in host.store.apps():
        if only is not None and app.name != only:
            continue
        with try_lock(host.settings.paths.app_lock(app.name)) as free:
            if free:
                repairs += repair_isolated(host, app, out)
    if cloudflare:
        repairs += reconcile_cloudflare(host)  # never raises: an outage leaves it pending
    return repairs


def remove_stale_containers(host: Host, app: App) -> list[str]:
    """Containers of other releases, and web containers that do not serve."""
    removed = []
    containers = host.docker.containers(host.labels(app.name), host.app_network(app.name))
    for name in stale_containers(app, containers):
        host.docker.remove(name)
        removed.append(f"{app.name}: removed leftover container {name}")
    return removed


def repair_isolated(host: Host, app: App, out: Reporter) -> list[str]:
    """Repair one app; whatever goes wrong is recorded for it, and the others still run."""
    try:
        return repair_app(host, app, out)
    except Exception as exc:  # one bad app must never stop the repair of the others
        why = exc.message if isinstance(exc, HostctlError) else f"{type(exc).__name__}: {exc}"
        host.store.audit("reconcile-failed", app.name, why)
        return [f"{app.name}: could not be reconciled: {why}"]


def repair_app(host: Host, app: App, out: Reporter) -> list[str]:
    repairs = []
    work = host.settings.paths.work(app.name)
    if work.is_dir() and any(work.iterdir()):
        shutil.rmtree(work)  # a source tree left by a deploy that was killed
        repairs.append(f"{app.name}: removed an interrupted deploy's source tree")
    with try_lock(host.settings.paths.retiring_lock(app.name)) as not_retiring:
        if not_retiring:  # else a finished deploy is stopping its old containers
            repairs += remove_stale_containers(host, app)
    if app.current_release is None:
        return repairs
    release = host.store.release(app.name, app.current_release)
    if release.spec is None:
        return repairs
    network = host.app_network(app.name)
    spec = RuntimeSpec.from_json(release.spec)
    counts = process_counts(spec.processes, spec.formation, app.scale)
    webs = [host.docker.state(name, network) for name in app.serving]
    # No address on the app's network: a container from before networks were per app.
    down = [w for w in webs if w is None or w.status in ("exited", "dead", "created")]
    lost = [w for w in webs if w is not None and w.status == "running" and w.ip is None]
    if down or lost or (not webs and counts.get("web", 0) > 0):
        try:
            swap(host, release, out, new_release=False)
            repairs.append(f"{app.name}: started release {release.number} again")
        except HostctlError as exc:
            repairs.append(f"{app.name}: could not start release {release.number}: {exc}")
        return repairs
    running = Counter(
        c.labels.get(PROCESS)
        for c in host.docker.containers(host.labels(app.name, release=str(release.number)), network)
    )
    for process, command in spec.processes.items():
        if process != "web" and running[process] < counts[process]:
            for _ in range(counts[process] - running[process]):
                host.docker.run(container_spec(host, release, process, command))
            repairs.append(f"{app.name}: started missing {process} process")
    return repairs


def open_host(
    host: Host | None = None, out: Reporter | None = None, only: str | None = None
) -> tuple[Host, list[str]]:
    """The host, reconciled: anything a crash left half-done is repaired first (of the
    apps' containers, ``only`` that app's)."""
    host = host or Host()
    return host, reconcile(host, out, only=only)
