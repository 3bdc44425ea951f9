"""Reconcile: make the engine and the edge match the state store.

It runs whenever hostctl starts (CLI or agent). It finishes what a crash interrupted:
releases left half-way are marked failed and their containers removed, jobs whose
worker died are queued again (once), a missing web container is started again, and
Caddy gets every app's route from the state store.
"""

from __future__ import annotations

import shutil

from hostctl.adapters.caddy import Route
from hostctl.build.plan import RuntimeSpec
from hostctl.cloudflare.sync import reconcile_cloudflare
from hostctl.deploy.locks import app_lock_path, file_lock, retiring_lock_path, try_lock
from hostctl.deploy.report import Reporter, Silent
from hostctl.deploy.swap import container_spec, swap
from hostctl.errors import HostctlError
from hostctl.host import Host
from hostctl.state import App
from hostctl.state.jobs import recover_jobs

RELEASE = "io.hostctl.release"
PROCESS = "io.hostctl.process"


def reconcile(host: Host, out: Reporter | None = None) -> list[str]:
    """Repair what needs it; returns a line per repair made."""
    out = out or Silent()
    repairs: list[str] = []
    host.docker.ensure_network(host.network, host.labels())
    locks = host.settings.dir("locks")
    for release in host.store.unfinished_releases():
        with try_lock(app_lock_path(locks, release.app)) as free:
            if free:
                host.store.fail_release(
                    release.app,
                    release.number,
                    "interrupted: hostctl stopped during the deploy; the previous release "
                    "kept serving",
                )
                repairs.append(f"{release.app}: release {release.number} was interrupted")
    repairs += recover_jobs(host.store)
    with file_lock(locks / "edge.lock"):
        host.caddy.ensure_running(routes(host))
    for app in host.store.apps():
        with try_lock(app_lock_path(locks, app.name)) as free:
            if free:
                repairs += repair_app(host, app, out)
    repairs += reconcile_cloudflare(host)  # never raises: an outage leaves the sync pending
    return repairs


WEBHOOKS_ROUTE = "_webhooks"  # not an app name: those start with a letter


def routes(host: Host) -> list[Route]:
    found = [Route(app.name, app.hostnames, upstream(host, app)) for app in host.store.apps()]
    hostname = host.webhook_hostname()
    if hostname:
        agent = host.settings.server.agent.listen[0]
        found.append(Route(WEBHOOKS_ROUTE, (hostname,), agent, path="/hooks/*"))
    return found


def upstream(host: Host, app: App) -> str | None:
    if app.current_release is None or app.web_container is None:
        return None
    release = host.store.release(app.name, app.current_release)
    state = host.docker.state(app.web_container, host.network)
    if release.spec is None or state is None or state.ip is None:
        return None
    return f"{state.ip}:{RuntimeSpec.from_json(release.spec).port}"


def remove_stale_containers(host: Host, app: App) -> list[str]:
    """Containers of other releases, and web containers that do not serve."""
    removed = []
    current = str(app.current_release)
    for container in host.docker.containers(host.labels(app.name), host.network):
        if container.name == app.web_container:
            continue
        stale = container.labels.get(RELEASE) != current or container.labels.get(PROCESS) == "web"
        if stale:
            host.docker.remove(container.name)
            removed.append(f"{app.name}: removed leftover container {container.name}")
    return removed


def repair_app(host: Host, app: App, out: Reporter) -> list[str]:
    repairs = []
    work = host.settings.root / "work" / app.name
    if work.is_dir() and any(work.iterdir()):
        shutil.rmtree(work)  # a source tree left by a deploy that was killed
        repairs.append(f"{app.name}: removed an interrupted deploy's source tree")
    with try_lock(retiring_lock_path(host.settings.dir("locks"), app.name)) as not_retiring:
        if not_retiring:  # else a finished deploy is stopping its old containers
            repairs += remove_stale_containers(host, app)
    if app.current_release is None:
        return repairs
    release = host.store.release(app.name, app.current_release)
    if release.spec is None:
        return repairs
    web = host.docker.state(app.web_container, host.network) if app.web_container else None
    if web is None or web.status in ("exited", "dead", "created"):
        try:
            swap(host, release, out, new_release=False)
            repairs.append(f"{app.name}: started release {release.number} again")
        except HostctlError as exc:
            repairs.append(f"{app.name}: could not start release {release.number}: {exc}")
        return repairs
    running = {
        c.labels.get(PROCESS)
        for c in host.docker.containers(
            host.labels(app.name, release=str(release.number)), host.network
        )
    }
    for process, command in RuntimeSpec.from_json(release.spec).processes.items():
        if process not in running:
            host.docker.run(container_spec(host, release, process, command))
            repairs.append(f"{app.name}: started missing {process} process")
    return repairs
