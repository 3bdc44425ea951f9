"""The zero-downtime swap: start, health gate, switch, drain, stop; then workers.

The commit point is recording the new web container as serving, made under the edge
lock right before Caddy switches; reconcile treats that record as the truth, so a crash
on either side of it leaves a box that reconcile can put right.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from hostctl.adapters.docker import ContainerSpec
from hostctl.core.errors import HostctlError
from hostctl.core.locks import shared_lock
from hostctl.core.progress import Reporter
from hostctl.deploy.health import wait_until_healthy
from hostctl.deploy.rules import process_command
from hostctl.edge import edge_locked
from hostctl.host import Host
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import Release

RELEASE_TIMEOUT = 600


def container_spec(
    host: Host, release: Release, process: str, command: str | None, one_off: bool = False
) -> ContainerSpec:
    assert release.spec is not None and release.image is not None
    spec = RuntimeSpec.from_json(release.spec)
    entrypoint, argv = process_command(command) if command else (None, None)
    return ContainerSpec(
        name=host.container_name(release.app, process, release.number),
        image=release.image,
        labels=host.labels(release.app, release=str(release.number), process=process),
        network=host.app_network(release.app),
        command=argv,
        entrypoint=entrypoint,
        env=release.env | {"PORT": str(spec.port), "TINI_KILL_PROCESS_GROUP": "1"},
        volume=host.volume(release.app),
        memory=spec.resources.memory,
        pids=spec.resources.pids,
        cpus=spec.resources.cpus,
        restart=not one_off,
        stop_timeout=spec.stop_timeout,
    )


def prepare(host: Host, release: Release, out: Reporter) -> None:
    """What the release's containers need first: the app's network, and /data owned by
    the image's user (a volume written by an older release that ran as root is not)."""
    assert release.image is not None
    host.ensure_app_network(release.app)
    user = host.docker.image_user(release.image)
    who, _, group = user.partition(":")
    if who in ("", "root", "0"):
        return
    folder = host.docker.volume_path(host.volume(release.app))
    if who.isdigit() and (group or "0").isdigit() and folder is not None and folder.is_dir():
        # Numbers need no lookup in the image: done here, with no helper container.
        hand_over(folder, int(who), int(group) if group else None)
        return
    not_theirs = ["!", "-user", who, *(["-o", "!", "-group", group] if group else [])]
    helper = replace(
        container_spec(host, release, "data-owner", None, one_off=True),
        entrypoint=["find"],
        command=["/data", "-xdev", "(", *not_theirs, ")", "-exec", "chown", "-h", user, "{}", "+"],
        user="0:0",
    )
    code, output = host.docker.run_once(helper, timeout=RELEASE_TIMEOUT)
    if code != 0:  # e.g. an image without find: the app may not need /data at all
        last = output.strip().splitlines()[-1:] or [f"exit code {code}"]
        out.step(f"Could not give /data to the image's user {user}: {last[0]}")


def hand_over(folder: Path, uid: int, gid: int | None) -> None:
    """Give everything under ``folder`` (a volume on this host) to uid:gid. The running
    app can swap a directory for a link at any time, so nothing is reached by path: each
    entry is changed relative to its open directory, and links are never followed."""

    def own(name: str, directory: int | None) -> None:
        found = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if found.st_uid != uid or (gid is not None and found.st_gid != gid):
            os.chown(name, uid, -1 if gid is None else gid, dir_fd=directory, follow_symlinks=False)

    own(str(folder), None)
    for _, directories, files, directory in os.fwalk(folder, follow_symlinks=False):
        for name in [*directories, *files]:
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile by the app
                own(name, directory)


def run_release_command(
    host: Host, release: Release, command: str, out: Reporter, timeout: float = RELEASE_TIMEOUT
) -> None:
    out.step(f"Running the release command: {command}")
    prepare(host, release, out)
    spec = container_spec(host, release, "release", command, one_off=True)
    code, output = host.docker.run_once(spec, timeout=timeout)
    for line in output.splitlines():
        out.detail(line)
    if code != 0:
        tail = "\n".join(f"  | {line}" for line in output.splitlines()[-15:])
        raise HostctlError(
            f"the release command failed with exit code {code}\n{tail}",
            "fix it and deploy again; the previous release is still serving",
        )


@dataclass
class Leftovers:
    """The old containers a swap took out of service. A job stops them after it is
    recorded as done, so followers and the app's next deploy need not wait for that.
    From hand-off to stop, the app's retiring lock keeps reconcile off them."""

    app: str
    containers: list[str] = field(default_factory=list)
    held: ExitStack = field(default_factory=ExitStack)

    def hand_off(self, host: Host, names: list[str]) -> None:
        if names and not self.containers:
            retiring = host.settings.paths.retiring_lock(self.app)
            self.held.enter_context(shared_lock(retiring))
        self.containers += names

    def stop(self, host: Host, out: Reporter) -> None:
        """All at once, each with its own grace period (hostctl.yml: stop_timeout)."""
        with self.held:
            if not self.containers:
                return
            with ThreadPoolExecutor(len(self.containers)) as pool:
                list(pool.map(host.docker.remove, self.containers))
            out.step(f"Stopped {len(self.containers)} old container(s)")
            self.containers.clear()


def swap(
    host: Host,
    release: Release,
    out: Reporter,
    *,
    new_release: bool = True,
    leftovers: Leftovers | None = None,
) -> None:
    """Put ``release`` in service with no lost request. On failure nothing changes.

    The old containers are stopped before returning, or handed to ``leftovers``."""
    assert release.spec is not None
    spec = RuntimeSpec.from_json(release.spec)
    app = release.app
    network = host.app_network(app)
    prepare(host, release, out)
    before = [c.name for c in host.docker.containers(host.labels(app), network)]

    web = container_spec(host, release, "web", spec.processes.get("web"))
    out.step(f"Starting {web.name}")
    host.docker.run(web)
    try:
        address = wait_until_healthy(host.docker, web.name, network, spec.port, spec.health)
    except BaseException:
        host.docker.remove(web.name, timeout=5)
        raise
    out.step(f"Healthy at {address}{spec.health.path}")

    with edge_locked(host):
        # A container that restarted since its health check may have another address.
        now = host.docker.state(web.name, network)
        if now is None or now.status != "running" or f"{now.ip}:{spec.port}" != address:
            host.docker.remove(web.name, timeout=5)
            raise HostctlError(
                f"{web.name} restarted after its health check, so it was not put in service",
                "see `hostctl logs`, and deploy again; the previous release is still serving",
            )
        if new_release:
            host.store.make_live(app, release.number, web.name)
        else:
            host.store.set_web_container(app, web.name)
        old_addresses = host.caddy.switch(app, address)
    out.step("Switched traffic to the new container")

    drain(host, old_addresses, out)
    for process, command in spec.processes.items():
        if process != "web":
            worker = container_spec(host, release, process, command)
            host.docker.run(worker)
            out.step(f"Started {process} process {worker.name}")
    old = leftovers if leftovers is not None else Leftovers(app)
    old.hand_off(host, before)
    if leftovers is None:
        old.stop(host, out)


def drain(host: Host, addresses: list[str], out: Reporter) -> None:
    deadline = time.monotonic() + host.settings.server.drain_timeout
    for address in addresses:
        waiting = host.caddy.in_flight(address)
        if waiting:
            out.step(f"Draining {waiting} in-flight request(s) from {address}")
        while waiting and time.monotonic() < deadline:
            time.sleep(0.1)
            waiting = host.caddy.in_flight(address)
