"""Looking at running apps: their containers and logs."""

from __future__ import annotations

from collections.abc import Iterator

from hostctl.deploy.reconcile import PROCESS, RELEASE
from hostctl.errors import HostctlError
from hostctl.host import Host


def processes(host: Host, app: str) -> list[tuple[str, str, str, str, str]]:
    host.store.app(app)
    containers = host.docker.containers(host.labels(app), host.network)
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
    containers = host.docker.containers(labels, host.network)
    if not containers:
        raise HostctlError(
            f"{app} has no running {process} process",
            f"see `hostctl ps {app}`, or `hostctl logs {app} --release N` for a deploy log",
        )
    name = found.web_container if process == "web" and found.web_container else containers[0].name
    yield from host.docker.logs(name, tail=lines, follow=follow)


def release_log(host: Host, app: str, number: int) -> Iterator[str]:
    host.store.release(app, number)
    path = host.settings.root / "logs" / app / f"release-{number}.log"
    if not path.exists():
        raise HostctlError(f"no log kept for release {number} of {app}", "it may have been pruned")
    yield from path.read_text(errors="replace").splitlines()
