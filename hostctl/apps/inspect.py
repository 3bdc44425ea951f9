"""Looking at apps: status, details, containers and logs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.core.labels import PROCESS, RELEASE
from hostctl.host import Host
from hostctl.hostnames import app_urls, webhook_url
from hostctl.state import App


@dataclass(frozen=True)
class AppStatus:
    name: str
    status: str
    release: int | None
    urls: list[str]
    processes: dict[str, int]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def app_status(host: Host, app: App) -> AppStatus:
    containers = host.docker.containers(host.labels(app.name), host.app_network(app.name))
    processes: dict[str, int] = {}
    web = None
    for container in containers:
        if container.labels.get(RELEASE) == str(app.current_release):
            process = container.labels.get(PROCESS, "?")
            processes[process] = processes.get(process, 0) + (container.status == "running")
        if container.name == app.web_container:
            web = container
    if app.current_release is None:
        status = "not deployed"
    elif not app.serving:  # no web process: the app is up while its processes run
        status = "running" if any(processes.values()) else "down"
    elif web is None:
        status = "down"
    else:
        status = web.status
    return AppStatus(
        name=app.name,
        status=status,
        release=app.current_release,
        urls=app_urls(host, app),
        processes=processes,
        created_at=app.created_at,
    )


def list_apps(host: Host) -> list[AppStatus]:
    return [app_status(host, app) for app in host.store.apps()]


def app_info(host: Host, name: str) -> dict[str, Any]:
    app = host.store.app(name)
    info = app_status(host, app).to_json()
    current = host.store.release(name, app.current_release) if app.current_release else None
    info |= {
        "repo": app.repo,
        "branch": app.branch,
        "github": app.github or None,
        "webhook_url": webhook_url(host, name),
        "webhook_secret": app.webhook_secret,
        "hostnames": list(app.hostnames),
        "volume": host.volume(name),
        "image": current.image if current else None,
        "commit": current.commit_sha if current else None,
        "source": current.source if current else None,
        "port": current.spec["port"] if current and current.spec else None,
        "env_keys": sorted(host.store.env(name)),
    }
    return info


def processes(host: Host, app: str) -> list[tuple[str, str, str, str, str]]:
    host.store.app(app)
    containers = host.docker.containers(host.labels(app), host.app_network(app))
    return sorted(
        (
            c.labels.get(PROCESS, "?"),
            f"v{c.labels.get(RELEASE, '?')}",
            c.status,
            c.name,
            c.started_at[:19].replace("T", " "),
        )
        for c in containers
    )


def container_logs(host: Host, app: str, process: str, lines: int, follow: bool) -> Iterator[str]:
    found = host.store.app(app)
    labels = host.labels(app, process=process)
    if found.current_release is not None:
        labels = host.labels(app, process=process, release=str(found.current_release))
    containers = host.docker.containers(labels, host.app_network(app))
    if not containers:
        raise HostctlError(
            f"{app} has no running {process} process",
            f"see `hostctl ps {app}`, or `hostctl logs {app} --release N` for a deploy log",
        )
    name = found.web_container if process == "web" and found.web_container else containers[0].name
    yield from host.docker.logs(name, tail=lines, follow=follow)


def release_log(host: Host, app: str, number: int) -> Iterator[str]:
    host.store.release(app, number)
    path = host.settings.paths.release_log(app, number)
    if not path.exists():
        raise HostctlError(f"no log kept for release {number} of {app}", "it may have been pruned")
    yield from path.read_text(errors="replace").splitlines()
