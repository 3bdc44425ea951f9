"""The zero-downtime swap: start every process, health gate, check, switch, drain, stop.

The commit point is recording the new web containers as serving, made under the edge
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

from hostctl.adapters.docker import ContainerSpec, ContainerState
from hostctl.core.errors import HostctlError
from hostctl.core.labels import PROCESS
from hostctl.core.locks import shared_lock
from hostctl.core.progress import Reporter
from hostctl.deploy.health import wait_until_healthy
from hostctl.deploy.rules import entrypoint_arguments, process_command, process_counts
from hostctl.edge import edge_locked, in_flight, switch_route
from hostctl.host import Host
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import Release

RELEASE_TIMEOUT = 600
PROCESS_CHECK_SECONDS = 5  # a non-web process must keep running this long after it starts


def container_spec(
    host: Host, release: Release, process: str, command: str | None, one_off: bool = False
) -> ContainerSpec:
    assert release.spec is not None and release.image is not None
    spec = RuntimeSpec.from_json(release.spec)
    env = release.env | {"PORT": str(spec.port), "TINI_KILL_PROCESS_GROUP": "1"}
    entrypoint: list[str] | None = None
    argv: list[str] | None = None
    if command and host.docker.image_entrypoint(release.image):
        argv = entrypoint_arguments(command, env)  # the image's ENTRYPOINT runs them
    elif command:
        entrypoint, argv = process_command(command)
    return ContainerSpec(
        name=host.container_name(release.app, process, release.number),
        image=release.image,
        labels=host.labels(release.app, release=str(release.number), process=process),
        network=host.app_network(release.app),
        command=argv,
        entrypoint=entrypoint,
        env=env,
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
            "fix it and deploy again",
        )


@dataclass
class Leftovers:
    """What a swap took out of service: the addresses the edge still has requests in
    flight to, and the old containers. A job drains and stops them after it is recorded
    as done, so followers (a git push) and the app's next deploy need not wait for that.
    From hand-off to stop, the app's retiring lock keeps reconcile off them."""

    app: str
    containers: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    held: ExitStack = field(default_factory=ExitStack)

    def hand_off(self, host: Host, names: list[str], addresses: list[str]) -> None:
        if names and not self.containers:
            retiring = host.settings.paths.retiring_lock(self.app)
            self.held.enter_context(shared_lock(retiring))
        self.containers += names
        self.addresses += addresses

    def stop(self, host: Host, out: Reporter) -> None:
        """Drain, then stop them all at once, each with its own grace period (hostctl.yml:
        stop_timeout)."""
        with self.held:
            drain(host, self.addresses, out)
            self.addresses.clear()
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
    scale: dict[str, int] | None = None,
) -> None:
    """Put ``release`` in service with no lost request. On failure nothing changes.

    Every process starts next to the old ones: each web container must pass its health
    check and every other process must keep running for its first seconds before the
    route switches to all of the web containers at once. ``scale`` (else the app's) says
    how many of each run. The old containers are drained and stopped before returning,
    or handed to ``leftovers``."""
    assert release.spec is not None
    spec = RuntimeSpec.from_json(release.spec)
    app = release.app
    network = host.app_network(app)
    counts = process_counts(spec.processes, spec.formation, scale or host.store.app(app).scale)
    prepare(host, release, out)
    before = [c.name for c in host.docker.containers(host.labels(app), network)]

    specs = [
        container_spec(host, release, process, command)
        for process, command in spec.processes.items()
        for _ in range(counts[process])
    ]
    webs = [c.name for c in specs if c.labels[PROCESS] == "web"]
    started: list[str] = []
    committed = False
    try:
        for container in specs:
            out.step(f"Starting {container.labels[PROCESS]} process {container.name}")
            host.docker.run(container)
            started.append(container.name)
        since = time.monotonic()
        addresses = health_gate(host, webs, network, spec)
        for address in addresses:
            out.step(f"Healthy at {address}{spec.health.path}")
        others = [c.name for c in specs if c.labels[PROCESS] != "web"]
        check_processes(host, others, network, since, out)
        with edge_locked(host):
            still_there(host, webs, addresses, network, spec.port)
            if new_release:
                host.store.make_live(app, release.number, webs)
            else:
                host.store.set_web_containers(app, webs)
            committed = True  # reconcile puts the edge right from here on
            old_addresses = switch_route(host, app, addresses)
    except BaseException:
        if not committed:
            remove_all(host, started)
        raise
    out.step(f"Switched traffic to {len(webs)} web container(s)" if webs else "No web process")

    old = leftovers if leftovers is not None else Leftovers(app)
    old.hand_off(host, before, old_addresses)
    if leftovers is None:
        old.stop(host, out)


def health_gate(host: Host, webs: list[str], network: str, spec: RuntimeSpec) -> list[str]:
    """Each web container's address once it answers; they start up side by side."""
    if not webs:
        return []

    def gate(name: str) -> str:
        return wait_until_healthy(host.docker, name, network, spec.port, spec.health)

    with ThreadPoolExecutor(len(webs)) as pool:
        return list(pool.map(gate, webs))


def check_processes(
    host: Host, names: list[str], network: str, since: float, out: Reporter
) -> None:
    """Fail when a non-web process exits or restarts within its first seconds."""
    if not names:
        return
    out.step(f"Checking that {len(names)} other process(es) keep running")
    deadline = since + PROCESS_CHECK_SECONDS
    while True:
        for name in names:
            state = host.docker.state(name, network)
            if state is None or state.status != "running" or state.restart_count > 0:
                raise process_failed(host, name, state)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.5)


def process_failed(host: Host, name: str, state: ContainerState | None) -> HostctlError:
    process = state.labels.get(PROCESS, "") if state else ""
    if state is not None and state.restart_count > 0:
        what = f"kept crashing (restarted {state.restart_count} time(s))"
    else:
        what = f"exited with code {state.exit_code}" if state else "is gone"
    logs = list(host.docker.logs(name, tail=20))
    shown = "\n".join(f"  | {line}" for line in logs) if logs else "  (no output)"
    return HostctlError(
        f"the {process} process {name} {what} in its first {PROCESS_CHECK_SECONDS:g}s\n"
        f"last lines of its output:\n{shown}",
        f"fix its command in the Procfile, or scale it to 0 (`hostctl scale APP {process}=0`)",
    )


def still_there(host: Host, webs: list[str], addresses: list[str], network: str, port: int) -> None:
    """A container that restarted since its health check may have another address."""
    for name, address in zip(webs, addresses, strict=True):
        now = host.docker.state(name, network)
        if now is None or now.status != "running" or f"{now.ip}:{port}" != address:
            raise HostctlError(
                f"{name} restarted after its health check, so it was not put in service",
                "see `hostctl logs`, and deploy again",
            )


def remove_all(host: Host, names: list[str]) -> None:
    if names:
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda name: host.docker.remove(name, timeout=5), names))


def drain(host: Host, addresses: list[str], out: Reporter) -> None:
    deadline = time.monotonic() + host.settings.server.drain_timeout
    for address in addresses:
        waiting = in_flight(host, address)
        if waiting:
            out.step(f"Draining {waiting} in-flight request(s) from {address}")
        while waiting and time.monotonic() < deadline:
            time.sleep(0.1)
            waiting = in_flight(host, address)
