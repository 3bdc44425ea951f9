"""App lifecycle: create, list, inspect, destroy."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from typing import Any

from hostctl.cloudflare.sync import check_new_hostnames, sync_after_change
from hostctl.deploy.locks import app_lock_path, file_lock
from hostctl.deploy.reconcile import PROCESS, RELEASE, routes
from hostctl.errors import HostctlError
from hostctl.github.link import Linked, check_branch, link_app, unlink_github
from hostctl.github.repo import parse_repo
from hostctl.host import Host
from hostctl.names import check_app_name, check_hostname
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


def create_app(
    host: Host,
    name: str,
    domains: list[str],
    force: bool = False,
    repo: str | None = None,
    branch: str = "main",
) -> tuple[App, Linked | None]:
    """Create an app. With Cloudflare connected, a hostname held by a DNS record hostctl
    did not make is refused before anything is created, unless ``force``. With ``repo``,
    the app is linked to it (on GitHub: webhook and deploy key)."""
    check_app_name(name)
    if repo is not None:
        parse_repo(repo)  # a bad spec is refused before anything is created
        check_branch(branch)
    hostnames = [check_hostname(d) for d in domains] or [host.default_hostname(name)]
    claim_hostnames(host, name, hostnames)
    check_new_hostnames(host, hostnames, force)
    host.docker.ensure_volume(host.volume(name), host.labels(name))
    app = host.store.create_app(name, hostnames)
    host.store.audit("apps:create", name, ", ".join(hostnames))
    with file_lock(host.settings.dir("locks") / "edge.lock"):
        host.caddy.ensure_running(routes(host))
    sync_after_change(host, hostnames if force else None)  # an outage leaves it pending
    if repo is None:
        return app, None
    try:
        linked = link_app(host, name, repo, branch)
    except HostctlError as exc:
        raise HostctlError(
            f"created {name}, but linking it to {repo} failed: {exc.message}",
            f"{exc.hint or ''} Then run `hostctl apps connect {name} --repo {repo}`.".strip(),
        ) from exc
    return host.store.app(name), linked


def claim_hostnames(host: Host, name: str, hostnames: list[str]) -> None:
    for other in host.store.apps():
        taken = set(other.hostnames) & set(hostnames)
        if other.name != name and taken:
            raise HostctlError(
                f"{', '.join(sorted(taken))} already belongs to app {other.name}",
                f"remove it there first (`hostctl apps info {other.name}`), or choose another",
            )


def app_status(host: Host, app: App) -> AppStatus:
    containers = host.docker.containers(host.labels(app.name), host.network)
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
    elif web is None:
        status = "down"
    else:
        status = web.status
    return AppStatus(
        name=app.name,
        status=status,
        release=app.current_release,
        urls=host.urls(app),
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
        "webhook_url": host.webhook_url(name),
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


def destroy_app(host: Host, name: str, keep_data: bool) -> list[str]:
    """Remove the app's containers, route, images and (unless keep_data) its volume."""
    host.store.app(name)
    volume = host.volume(name)
    removed = []
    with file_lock(app_lock_path(host.settings.dir("locks"), name)):
        for container in host.docker.containers(host.labels(name), host.network):
            host.docker.remove(container.name)
            removed.append(f"container {container.name}")
        removed += unlink_before_destroy(host, name)
        host.store.delete_app(name)
        with file_lock(host.settings.dir("locks") / "edge.lock"):
            host.caddy.ensure_running(routes(host))
        removed.append("route")
        cloudflare = sync_after_change(host)
        if cloudflare is not None:
            pending = cloudflare.pending or cloudflare.error
            removed.append("Cloudflare DNS and ingress" + (" (pending)" if pending else ""))
        for tag in host.docker.images(host.image_repository(name)):
            host.docker.remove_image(tag)
            removed.append(f"image {tag}")
        if not keep_data:  # the current volume, and any a restore kept for --undo
            for data in sorted({volume, *host.docker.volumes(host.labels(name))}):
                host.docker.remove_volume(data)
                removed.append(f"volume {data}")
        shutil.rmtree(host.settings.root / "repos" / f"{name}.git", ignore_errors=True)
        shutil.rmtree(host.settings.root / "git" / f"{name}.git", ignore_errors=True)
        shutil.rmtree(host.settings.root / "logs" / name, ignore_errors=True)
        host.store.audit("apps:destroy", name, "; ".join(removed))
    return removed


def unlink_before_destroy(host: Host, name: str) -> list[str]:
    """Remove the app's webhook and deploy key from GitHub; a failure is reported, and
    does not stop the destroy (the user can delete them on GitHub)."""
    try:
        return unlink_github(host, name)
    except HostctlError as exc:
        return [f"not the GitHub webhook and deploy key ({exc.message})"]
