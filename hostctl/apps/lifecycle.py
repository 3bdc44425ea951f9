"""App lifecycle: create and destroy."""

from __future__ import annotations

import shutil

from hostctl.cloudflare.sync import check_new_hostnames, sync_after_change
from hostctl.core.errors import HostctlError
from hostctl.core.locks import file_lock
from hostctl.core.names import check_app_name, check_hostname
from hostctl.edge import edge_locked, refresh_edge, shared_network_needed
from hostctl.github.link import Linked, check_branch, link_app, unlink_github
from hostctl.github.repo import parse_repo
from hostctl.host import Host
from hostctl.hostnames import claim_hostnames, default_hostname
from hostctl.state import App
from hostctl.state.key_scopes import forget_app


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
    hostnames = [check_hostname(d) for d in domains] or [default_hostname(host, name)]
    claim_hostnames(host, name, hostnames)
    check_new_hostnames(host, hostnames, force)
    host.docker.ensure_volume(host.volume(name), host.labels(name))
    app = host.store.insert_app(name, hostnames)
    host.store.audit("apps:create", name, ", ".join(hostnames))
    with edge_locked(host):
        refresh_edge(host)
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


def destroy_app(host: Host, name: str, keep_data: bool) -> list[str]:
    """Remove the app's containers, route, images and (unless keep_data) its volume."""
    host.store.app(name)
    volume = host.volume(name)
    removed = []
    with file_lock(host.settings.paths.app_lock(name)):
        for container in host.docker.containers(host.labels(name), host.app_network(name)):
            host.docker.remove(container.name)
            removed.append(f"container {container.name}")
        host.docker.remove_network(host.app_network(name))
        removed.append(f"network {host.app_network(name)}")
        removed += unlink_before_destroy(host, name)
        host.store.delete_app(name)
        forget_app(host.store, name)
        with edge_locked(host):
            refresh_edge(host)
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
        for path in host.settings.paths.app_paths(name):
            shutil.rmtree(path, ignore_errors=True)
        if not host.store.apps() and not shared_network_needed(host):
            host.docker.remove_network(host.network)  # the last app: leave no network behind
            removed.append(f"network {host.network}")
        host.store.audit("apps:destroy", name, "; ".join(removed))
    return removed


def unlink_before_destroy(host: Host, name: str) -> list[str]:
    """Remove the app's webhook and deploy key from GitHub; a failure is reported, and
    does not stop the destroy (the user can delete them on GitHub)."""
    try:
        return unlink_github(host, name)
    except HostctlError as exc:
        return [f"not the GitHub webhook and deploy key ({exc.message})"]


def purge_build_cache(host: Host, name: str) -> None:
    """Move the app's builds to new BuildKit cache mounts (pip's, uv's, npm's and Go's caches,
    the saved virtualenv and node_modules): its next build installs everything afresh,
    as a first one does. The old mounts are no longer named by any build and go with
    hostctl's build cache prune (``build/cache_max_age``)."""
    host.store.app(name)  # an unknown app is an error
    with host.store.transaction():
        host.store.new_build_cache_generation(name)
        host.store.audit("apps:purge-cache", name, "the next build starts from empty caches")
