"""The Docker engine, through the docker SDK (DOCKER_HOST is respected)."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hostctl.core.errors import DISK_FULL, HostctlError, disk_full
from hostctl.core.imports import hidden
from hostctl.core.labels import DEFAULT_STOP_TIMEOUT, MAX_STOP_TIMEOUT, STOP_TIMEOUT

# Hidden while the SDK loads: paramiko, for ssh:// engines hostctl never uses (~16 MiB),
# and charset_normalizer (~2.5 MiB), with which requests guesses the encoding of a text
# body that names none; without it requests reads such a body as UTF-8, which is what
# the engine sends. Both libraries are optional to what imports them.
with hidden("paramiko", "charset_normalizer"), warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Unable to find acceptable character detection")
    import docker
    import docker.errors
    import requests.exceptions
    from docker.models.containers import Container
    from docker.transport import UnixHTTPAdapter
    from docker.types import IPAMConfig, IPAMPool, LogConfig


class SocketPool(UnixHTTPAdapter):  # type: ignore[misc]
    """One connection pool for the engine's unix socket. The SDK keys its pools by each
    request's whole URL, so every container id and query string got a pool of its own
    that kept its connection open (up to 25 a client): ~80 pools, sockets and responses
    an agent held after 30 deploys. Requests to tcp:// engines pool by host already."""

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        return self.get_connection(self.socket_path, proxies)


def pool_by_socket(client: docker.DockerClient) -> docker.DockerClient:
    adapter = client.api.adapters.get("http+docker://")
    if isinstance(adapter, UnixHTTPAdapter):
        client.api.mount(
            "http+docker://",
            SocketPool(adapter.socket_path, adapter.timeout, 1, adapter.max_pool_size),
        )
        adapter.close()
    return client


# The engine runs one `system df` and one prune of each kind at a time, and refuses
# another meanwhile ("a disk usage operation is already running", "a prune operation is
# already running"): an agent's prune, a deploy's and doctor's may meet.
ENGINE_BUSY = "operation is already running"
BUSY_WAIT_SECONDS = 60.0  # each takes seconds; several may queue


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    labels: dict[str, str]
    network: str
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    volume: str | None = None
    memory: int = 512 * 1024**2
    pids: int = 256
    cpus: float | None = None
    restart: bool = True
    extra_hosts: dict[str, str] = field(default_factory=dict)
    stop_timeout: float = DEFAULT_STOP_TIMEOUT  # SIGTERM → SIGKILL; kept as a label
    user: str | None = None  # None: the image's user


@dataclass(frozen=True)
class BuildLimits:
    timeout: float  # seconds for the whole build
    memory: int  # bytes, for each build container (no swap beyond it; classic builder)
    cgroup_parent: str | None = None  # a group whose pids.max bounds the builds' processes


@dataclass(frozen=True)
class Builder:
    """What builds images: BuildKit through a docker CLI, or the SDK's classic builder."""

    kind: str  # "buildx", "buildkit" (DOCKER_BUILDKIT=1 docker build) or "classic"
    cli: str | None  # the docker CLI that runs the build; None: the classic builder
    why: str  # why this one, for doctor

    @property
    def buildkit(self) -> bool:
        return self.cli is not None

    def describe(self) -> str:
        if self.kind == "buildx":
            return f"BuildKit (`{self.cli} buildx build`)"
        if self.kind == "buildkit":
            return f"BuildKit (`DOCKER_BUILDKIT=1 {self.cli} build`, {self.why})"
        return f"the classic builder ({self.why})"


@dataclass(frozen=True)
class CacheRecord:
    """One record of the engine's BuildKit build cache (`docker system df -v`)."""

    id: str
    parents: tuple[str, ...]  # the records it was built on
    kind: str
    description: str
    size: int
    in_use: bool
    last_used: str  # RFC 3339, as the engine gives it


@dataclass(frozen=True)
class ContainerState:
    name: str
    status: str
    labels: dict[str, str]
    ip: str | None
    exit_code: int
    restart_count: int
    started_at: str


@dataclass(frozen=True)
class EngineInfo:
    version: str
    root: Path  # where the engine keeps images, containers and volumes
    live_restore: bool = False  # containers keep running while the engine restarts


@dataclass(frozen=True)
class DiskUsage:
    images: int
    image_bytes: int  # counting layers they share with other images
    unique_image_bytes: int  # what removing them all would free
    build_cache_bytes: int
    cache: tuple[CacheRecord, ...] = ()  # the build cache's records, for telling ours apart


Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Subnets:
    """Where a network's subnet comes from: the first free /``prefix`` in ``pool``;
    ``where`` names the setting, for the error when the pool is full."""

    pool: ipaddress.IPv4Network
    prefix: int
    where: str


def free_subnet(
    pool: ipaddress.IPv4Network, prefix: int, taken: list[Subnet]
) -> ipaddress.IPv4Network | None:
    """The first /``prefix`` of ``pool`` that overlaps none of ``taken`` (None: none left)."""
    for candidate in pool.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(other) for other in taken if other.version == 4):
            return candidate
    return None


def host_routes() -> list[Subnet]:
    """The IPv4 networks the host routes to (its interfaces' subnets among them), from
    /proc/net/route; the default route is left out, as it would overlap everything."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    found: list[Subnet] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        # Destination and mask are 32-bit hex in the host's byte order.
        destination, mask = (
            socket.inet_ntoa(struct.pack("=I", int(value, 16))) for value in (fields[1], fields[7])
        )
        route = ipaddress.ip_network(f"{destination}/{mask}", strict=False)
        if route.prefixlen:
            found.append(route)
    return found


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def unreachable(exc: Exception) -> HostctlError:
    return HostctlError(
        f"cannot reach the Docker engine at {engine_address()}",
        "start it (systemctl start docker), or run scripts/test which starts one",
    )


def engine_error(exc: docker.errors.APIError, what: str) -> HostctlError:
    detail = exc.explanation or str(exc)
    if DISK_FULL in str(detail).lower():
        return disk_full(what)
    return HostctlError(
        f"Docker could not {what}: {detail}",
        "check that dockerd runs (`docker info`) and read its log",
    )


class Docker:
    """hostctl's view of the engine: its containers, images, networks and volumes."""

    @cached_property
    def client(self) -> docker.DockerClient:
        if engine_address().startswith("ssh://"):
            raise HostctlError(
                f"hostctl does not reach Docker engines over SSH (DOCKER_HOST={engine_address()})",
                "run hostctl on the box itself (from a laptop: hostctl --host root@BOX …), "
                "with DOCKER_HOST unset or a unix:// or tcp:// address",
            )
        try:
            client = pool_by_socket(docker.from_env(timeout=120))
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise unreachable(exc) from exc
        return client

    def call(self, action: Callable[[], Any], what: str) -> Any:
        """Run an SDK call, turning engine failures into errors a user can act on."""
        try:
            return action()
        except requests.exceptions.ConnectionError as exc:
            raise unreachable(exc) from exc
        except requests.exceptions.Timeout as exc:
            raise HostctlError(
                f"Docker did not answer in time to {what}",
                "it may be busy (a large build cache, many images); try again, "
                "and see `hostctl doctor`",
            ) from exc
        except docker.errors.APIError as exc:
            raise engine_error(exc, what) from exc

    # the engine

    def engine(self) -> EngineInfo:
        info = self.call(self.client.info, "describe the engine")
        return EngineInfo(
            str(info.get("ServerVersion", "?")),
            Path(info["DockerRootDir"]),
            bool(info.get("LiveRestoreEnabled")),
        )

    def call_in_turn(self, action: Callable[[], Any], what: str) -> Any:
        """``call`` an engine operation that runs one at a time: wait for the one running."""
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        while True:
            try:
                return self.call(action, what)
            except HostctlError as exc:
                if ENGINE_BUSY not in exc.message or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def disk_usage(self, labels: dict[str, str]) -> DiskUsage:
        """The images carrying ``labels`` (Docker's own `system df`), and the engine's build
        cache, which carries no labels: BuildKit's records are the engine's, not an app's."""
        found = self.call_in_turn(self.client.df, "measure disk usage")
        wanted = label_filters(labels)
        images = [
            image
            for image in found.get("Images") or []
            if all(item in label_filters(image.get("Labels") or {}) for item in wanted)
        ]
        return DiskUsage(
            images=len(images),
            image_bytes=sum(int(i.get("Size") or 0) for i in images),
            unique_image_bytes=sum(
                max(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0), 0) for i in images
            ),
            build_cache_bytes=sum(int(c.get("Size") or 0) for c in found.get("BuildCache") or []),
            cache=tuple(cache_record(c) for c in found.get("BuildCache") or []),
        )

    def build_cache(self) -> list[CacheRecord]:
        found = self.call_in_turn(self.client.df, "list the build cache")
        return [cache_record(c) for c in found.get("BuildCache") or []]

    def prune_build_cache(self, ids: list[str]) -> int:
        """Remove these build cache records (and no other); returns the bytes freed. A
        record something still uses stays."""
        if not ids:
            return 0
        # The engine matches the id filter as a regular expression (ids are [a-z0-9]).
        wanted = {"id": f"^({'|'.join(sorted(ids))})$"}
        done = self.call_in_turn(
            lambda: self.client.api.prune_builds(filters=wanted, all=True),
            "prune the build cache",
        )
        return int(done.get("SpaceReclaimed") or 0)

    def prune_dangling_images(self, labels: dict[str, str]) -> int:
        """Remove the untagged images carrying ``labels``; returns the bytes freed."""
        done = self.call_in_turn(
            lambda: self.client.images.prune(
                filters={"dangling": True, "label": label_filters(labels)}
            ),
            "prune dangling images",
        )
        return int(done.get("SpaceReclaimed") or 0)

    # networks and volumes

    def ensure_network(
        self,
        name: str,
        labels: dict[str, str],
        bridge: str | None = None,
        subnets: Subnets | None = None,
    ) -> None:
        """A bridge network; ``bridge`` names its interface on the host (for firewall rules).
        With ``subnets`` its subnet is the first free one of that range; without, Docker
        picks one from its default pools (about 30 networks in all). An existing network
        keeps its subnet."""
        found = self.call(lambda: self.client.networks.list(names=[name]), "list networks")
        if any(network.name == name for network in found):  # names= matches substrings
            return
        options = {"com.docker.network.bridge.name": bridge} if bridge else None
        if subnets is None:
            self.call(
                lambda: self.client.networks.create(
                    name, driver="bridge", labels=labels, options=options
                ),
                f"create network {name}",
            )
            return
        taken = [*self.network_subnets(), *host_routes()]
        while (subnet := free_subnet(subnets.pool, subnets.prefix, taken)) is not None:
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))])
            try:
                self.client.networks.create(
                    name, driver="bridge", labels=labels, options=options, ipam=ipam
                )
                return
            except docker.errors.APIError as exc:
                # Another network took it meanwhile (a concurrent creation): the next one.
                if "overlap" not in str(exc.explanation or exc).lower():
                    raise engine_error(exc, f"create network {name}") from exc
                taken.append(subnet)
            except requests.exceptions.ConnectionError as exc:
                raise unreachable(exc) from exc
        raise HostctlError(
            f"no free /{subnets.prefix} subnet is left in {subnets.pool} for network {name}",
            f"widen {subnets.where}, or destroy apps you no longer need",
        )

    def network_subnets(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The subnets of every network the engine has, whoever made it."""
        found = self.call(lambda: self.client.api.networks(), "list networks")
        return [
            ipaddress.ip_network(pool["Subnet"], strict=False)
            for network in found
            for pool in (network.get("IPAM") or {}).get("Config") or []
            if pool.get("Subnet")
        ]

    def remove_network(self, name: str) -> None:
        """Remove the network unless a container still uses it (the engine refuses: 403)."""

        def remove() -> None:
            for network in self.client.networks.list(names=[name]):
                if network.name == name:
                    try:
                        network.remove()
                    except docker.errors.NotFound:
                        pass
                    except docker.errors.APIError as exc:
                        if exc.status_code != 403:
                            raise

        self.call(remove, f"remove network {name}")

    def network_gateway(self, name: str) -> str | None:
        """The host's own address on a bridge network (None: no such network)."""
        found = self.call(lambda: self.client.networks.list(names=[name]), "list networks")
        for network in found:
            if network.name == name:
                for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
                    if pool.get("Gateway"):
                        return str(pool["Gateway"])
        return None

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.call(lambda: self.client.volumes.create(name, labels=labels), "create volume")

    def volume_path(self, name: str) -> Path | None:
        """Where the engine keeps a local volume's files on this host (None: no such volume)."""

        def inspect() -> Any:
            try:
                return self.client.volumes.get(name)
            except docker.errors.NotFound:
                return None

        found = self.call(inspect, "inspect volume")
        return Path(found.attrs["Mountpoint"]) if found is not None else None

    def volumes(self, labels: dict[str, str]) -> list[str]:
        found = self.call(
            lambda: self.client.volumes.list(filters={"label": label_filters(labels)}),
            "list volumes",
        )
        return sorted(v.name for v in found)

    def remove_volume(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.volumes.get(name).remove(force=True)

    # images

    def builder(self) -> Builder:
        """The builder this process uses (chosen once: see pick_builder)."""
        driver, _ = self.cgroup_setup()
        return pick_builder(driver, os.environ.get("HOSTCTL_BUILDER", "auto"))

    def build(
        self,
        context: Path,
        tag: str,
        labels: dict[str, str],
        on_line: Callable[[str], None],
        limits: BuildLimits,
        dockerfile: str = "Dockerfile",
    ) -> None:
        """Build an image within ``limits`` with this process's builder; a build past its
        timeout is cancelled (the engine stops a build when its client hangs up)."""
        builder = self.builder()
        if builder.cli is None:
            self.build_classic(context, tag, labels, on_line, limits, dockerfile)
        else:
            build_with_cli(builder, context, tag, labels, on_line, limits, dockerfile)

    def build_classic(
        self,
        context: Path,
        tag: str,
        labels: dict[str, str],
        on_line: Callable[[str], None],
        limits: BuildLimits,
        dockerfile: str,
    ) -> None:
        """The SDK's classic builder: memory for each step's container, the cgroup parent."""
        api = self.call(lambda: docker.from_env(timeout=limits.timeout + 30).api, "connect")
        if limits.cgroup_parent:  # not an argument of the SDK's build; the API takes it
            api.params = {"cgroupparent": limits.cgroup_parent}
        responses: list[requests.Response] = []
        api.hooks["response"].append(lambda response, *args, **kwargs: responses.append(response))
        expired = threading.Event()

        def hang_up() -> None:
            expired.set()
            for response in responses:
                sock: Any = getattr(response.raw.connection, "sock", None)
                with contextlib.suppress(OSError, AttributeError):
                    sock.shutdown(socket.SHUT_RDWR)

        def stream() -> None:
            try:
                for chunk in api.build(
                    path=str(context),
                    dockerfile=dockerfile,
                    tag=tag,
                    labels=labels,
                    rm=True,
                    forcerm=True,
                    decode=True,
                    container_limits={"memory": limits.memory, "memswap": limits.memory},
                ):
                    if "error" in chunk:
                        message = str(chunk["error"]).strip()
                        if DISK_FULL in message.lower():
                            raise disk_full("build the image")
                        raise HostctlError(
                            f"the build failed: {message}",
                            "fix the build (see the log above), commit and deploy again",
                        )
                    for line in str(chunk.get("stream", "")).splitlines():
                        if line.strip():
                            on_line(line.rstrip())
            except Exception:
                if not expired.is_set():
                    raise
            if expired.is_set():
                raise HostctlError(
                    f"the build was stopped after {limits.timeout:.0f}s, its time limit",
                    "make the build faster",
                )

        watchdog = threading.Timer(limits.timeout, hang_up)
        watchdog.start()
        try:
            self.call(stream, "build the image")
        finally:
            watchdog.cancel()
            for response in responses:
                response.close()
            api.close()

    def cgroup_setup(self) -> tuple[str, str]:
        """The engine's cgroup driver (cgroupfs or systemd) and cgroup version (1 or 2)."""
        info = self.call(self.client.info, "read the engine's info")
        return str(info.get("CgroupDriver", "cgroupfs")), str(info.get("CgroupVersion", "1"))

    def image_exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def pull(self, tag: str) -> str | None:
        """Pull an image; returns why it could not be pulled, or None."""
        try:
            self.client.images.pull(tag)
        except docker.errors.DockerException as exc:
            return str(getattr(exc, "explanation", None) or exc)
        return None

    def exposed_ports(self, tag: str) -> list[int]:
        image = self.call(lambda: self.client.images.get(tag), f"inspect image {tag}")
        ports = (image.attrs.get("Config") or {}).get("ExposedPorts") or {}
        return sorted(int(port.split("/")[0]) for port in ports)

    def image_user(self, tag: str) -> str:
        """The user the image runs as ("" for root, else "user" or "user:group")."""
        image = self.call(lambda: self.client.images.get(tag), f"inspect image {tag}")
        return str((image.attrs.get("Config") or {}).get("User") or "")

    def image_entrypoint(self, tag: str) -> list[str]:
        """The image's own ENTRYPOINT ([] when it has none)."""
        image = self.call(lambda: self.client.images.get(tag), f"inspect image {tag}")
        return list((image.attrs.get("Config") or {}).get("Entrypoint") or [])

    def images(self, repository: str) -> list[str]:
        """The tags of ``repository`` (e.g. "hostctl/blog": each of the app's releases)."""
        found = self.call(lambda: self.client.images.list(name=repository), "list images")
        return [tag for image in found for tag in image.tags if tag.startswith(f"{repository}:")]

    def remove_image(self, tag: str) -> None:
        try:
            self.client.images.remove(tag, noprune=False)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError:
            pass  # still used by a container (e.g. a rollback target): keep it

    # containers

    def run(self, spec: ContainerSpec) -> None:
        self.call(lambda: self.client.containers.run(**run_arguments(spec)), f"start {spec.name}")

    def run_once(self, spec: ContainerSpec, timeout: float) -> tuple[int, str]:
        """Run a one-off container to completion; returns its exit code and output."""
        container: Container = self.call(
            lambda: self.client.containers.run(**run_arguments(spec) | {"restart_policy": None}),
            f"start {spec.name}",
        )
        try:
            result = container.wait(timeout=timeout)
            output = container.logs().decode(errors="replace")
            return int(result.get("StatusCode", 1)), output
        except requests.exceptions.ReadTimeout:
            return 124, f"timed out after {timeout:.0f}s"
        finally:
            container.remove(force=True)

    def run_attached(self, spec: ContainerSpec, tty: bool) -> int:
        """Run a one-off container with this process's stdin, stdout and stderr (a TTY
        when ``tty``) until it exits; returns its exit code. The docker CLI attaches: it
        handles raw mode, window size and signals as `docker run -it` does."""
        cli = shutil.which("docker")
        if cli is None:
            raise HostctlError(
                "the docker command is not installed, and hostctl attaches through it",
                "install the Docker CLI (docker-ce-cli), or use --detach",
            )
        # detach=False makes the container attachable: stdin closes when ours does.
        extra = {"restart_policy": None, "tty": tty, "stdin_open": True, "detach": False}
        self.call(
            lambda: self.client.containers.create(**run_arguments(spec) | extra),
            f"create {spec.name}",
        )
        try:
            return subprocess.run([cli, "start", "--attach", "--interactive", spec.name]).returncode
        finally:
            self.remove(spec.name, timeout=0)

    def state(self, name: str, network: str) -> ContainerState | None:
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        return container_state(container, network)

    def socket_tables(self, name: str) -> str:
        """/proc/net/tcp and tcp6 as the container sees them ("" if they cannot be read,
        e.g. an image without `cat`): which ports its processes listen on."""
        try:
            container = self.client.containers.get(name)
            result = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], user="0")
        except docker.errors.DockerException:
            return ""
        return bytes(result.output or b"").decode(errors="replace")

    def containers(self, labels: dict[str, str], network: str) -> list[ContainerState]:
        found = self.call(
            lambda: self.client.containers.list(all=True, filters={"label": label_filters(labels)}),
            "list containers",
        )
        return [container_state(c, network) for c in found]

    def logs(self, name: str, tail: int | str = 100, follow: bool = False) -> Iterator[str]:
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return
        if not follow:
            yield from container.logs(tail=tail).decode(errors="replace").splitlines()
            return
        buffer = b""
        for chunk in container.logs(stream=True, follow=True, tail=tail):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")

    def remove(self, name: str, timeout: float | None = None) -> None:
        """Stop (SIGTERM, then SIGKILL after ``timeout``, by default the grace period the
        container was created with) and remove. Gone, or going, is fine."""

        def stop_and_remove() -> None:
            try:
                container = self.client.containers.get(name)
                grace = timeout if timeout is not None else stop_timeout_of(container)
                container.stop(timeout=math.ceil(grace))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another hostctl is removing it
                    raise
                self.wait_gone(name)

        self.call(stop_and_remove, f"remove {name}")

    def events(self, types: list[str], actions: list[str]) -> Any:
        """The engine's events as they happen (dicts); close() ends the iteration."""
        return self.call(
            lambda: self.client.events(decode=True, filters={"type": types, "event": actions}),
            "watch the engine's events",
        )

    def wait_gone(self, name: str) -> None:
        """Until another caller's removal of ``name`` is over (its volume is free then)."""
        deadline = time.monotonic() + GONE_SECONDS
        while time.monotonic() < deadline:
            try:
                self.client.containers.get(name)
            except docker.errors.NotFound:
                return
            time.sleep(0.1)
        raise HostctlError(
            f"{name} was still being removed after {GONE_SECONDS:.0f}s",
            "see `docker ps -a`; hostctl removes it again on its next start",
        )


GONE_SECONDS = 60.0
BUILDER_CHOICES = ("auto", "buildkit", "classic")
# The CLI built before 23.0 drives the engine's BuildKit itself; later ones need buildx.
BUILDKIT_CLI_BEFORE = 23
# BuildKit's plain progress: a step's digest line says nothing to a reader.
DIGEST_LINE = re.compile(r"#\d+ sha256:[0-9a-f]{64}")


@functools.cache
def pick_builder(driver: str, wanted: str) -> Builder:
    """BuildKit through ``docker buildx build`` when a docker CLI has buildx, else through a
    CLI that still takes DOCKER_BUILDKIT=1; else the classic builder. ``wanted`` is
    HOSTCTL_BUILDER (auto, buildkit or classic). BuildKit runs build steps in the engine's
    own group, which hostctl can bound only with the cgroupfs driver (cgroups.py; `hostctl
    setup` sets it); so with the systemd driver even ``buildkit`` gets the classic builder."""
    if wanted not in BUILDER_CHOICES:
        raise HostctlError(
            f"HOSTCTL_BUILDER={wanted} is not a builder",
            f"set it to one of {', '.join(BUILDER_CHOICES)}, or unset it",
        )
    if wanted == "classic":
        return Builder("classic", None, "HOSTCTL_BUILDER=classic")
    if driver != "cgroupfs":
        why = f"BuildKit's steps cannot be bounded with {driver}; `hostctl setup` sets cgroupfs"
        return Builder("classic", None, why)
    clis = docker_clis()
    for cli in clis:
        if probe([cli, "buildx", "version"]) is not None:
            return Builder("buildx", cli, "buildx")
    for cli in clis:
        version = probe([cli, "version", "--format", "{{.Client.Version}}"])
        major = re.match(r"(\d+)\.", version or "")
        if major is not None and int(major[1]) < BUILDKIT_CLI_BEFORE:
            return Builder("buildkit", cli, f"client {version}")
    if wanted == "buildkit":
        raise HostctlError(
            "HOSTCTL_BUILDER=buildkit, and no docker CLI here builds with BuildKit",
            "install the buildx plugin (docker-buildx), or unset HOSTCTL_BUILDER",
        )
    return Builder("classic", None, "no docker CLI here builds with BuildKit")


def docker_clis() -> list[str]:
    """Each docker CLI on PATH, then Debian's, once each."""
    found = [str(Path(folder) / "docker") for folder in os.get_exec_path()]
    found.append("/usr/bin/docker")
    unique: dict[str, str] = {}
    for cli in found:
        if os.access(cli, os.X_OK):
            unique.setdefault(os.path.realpath(cli), cli)
    return list(unique.values())


def probe(argv: list[str]) -> str | None:
    """What a quick command prints (None: it failed)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def stamp_context(context: Path) -> None:
    """Give every file of the build context this build's own modification time.

    BuildKit sends only the files whose size and time differ from its copy of the app's
    previous context. A git export carries the commit's time in whole seconds, so two
    commits in one second that change a file to one of the same size would build the old
    content. Its cache keys are content hashes: unchanged layers still hit."""
    now = time.time_ns()
    for root, directories, files in os.walk(context):
        for name in [*directories, *files]:
            os.utime(os.path.join(root, name), ns=(now, now), follow_symlinks=False)


def build_with_cli(
    builder: Builder,
    context: Path,
    tag: str,
    labels: dict[str, str],
    on_line: Callable[[str], None],
    limits: BuildLimits,
    dockerfile: str,
) -> None:
    """BuildKit through the docker CLI (the SDK cannot drive BuildKit's session): plain
    progress streams to ``on_line``; past the timeout the CLI is killed, and the engine
    cancels the build it was running. Steps are bounded by the engine's build group."""
    assert builder.cli is not None
    stamp_context(context)
    command = ["buildx", "build", "--load"] if builder.kind == "buildx" else ["build"]
    argv = [builder.cli, *command, "--progress=plain", "--tag", tag]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--file", str(context / dockerfile), str(context)]  # an absolute one stays
    env = os.environ | {"DOCKER_BUILDKIT": "1", "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
    expired = threading.Event()
    tail: list[str] = []
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise HostctlError(
            f"could not run {builder.cli}: {exc}", "set HOSTCTL_BUILDER=classic to build without it"
        ) from exc

    def hang_up() -> None:
        expired.set()
        process.kill()

    watchdog = threading.Timer(limits.timeout, hang_up)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line.strip() and not DIGEST_LINE.fullmatch(line):
                tail = [*tail[-19:], line]
                on_line(line)
        code = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if expired.is_set():
        raise HostctlError(
            f"the build was stopped after {limits.timeout:.0f}s, its time limit",
            "make the build faster",
        )
    if code != 0:
        if any(DISK_FULL in line.lower() for line in tail):
            raise disk_full("build the image")
        errors = [line for line in tail if line.lower().startswith("error")]
        message = (errors or tail or [f"{builder.cli} exited with {code}"])[-1]
        raise HostctlError(
            f"the build failed: {message.split(':', 1)[1].strip() if errors else message}",
            "fix the build (see the log above), commit and deploy again",
        )


# Docker's default capabilities less those an app has no use for: raw sockets (ping,
# spoofing), device nodes, audit messages, file capabilities, capability bounding sets and
# chroot. CHOWN, SETUID, SETGID, DAC_OVERRIDE, FOWNER, KILL and NET_BIND_SERVICE stay, so
# an image whose entrypoint starts as root and switches user (gosu, su-exec) still works.
CAP_DROP = ["AUDIT_WRITE", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "SYS_CHROOT"]


def stop_timeout_of(container: Container) -> float:
    """The grace period in the container's label, clamped: a label is not trusted."""
    try:
        grace = float(container.labels.get(STOP_TIMEOUT, DEFAULT_STOP_TIMEOUT))
    except ValueError:
        return DEFAULT_STOP_TIMEOUT
    if math.isnan(grace):
        return DEFAULT_STOP_TIMEOUT
    return min(max(grace, 0.0), MAX_STOP_TIMEOUT)


def run_arguments(spec: ContainerSpec) -> dict[str, Any]:
    return {
        "image": spec.image,
        "name": spec.name,
        "command": spec.command,
        "entrypoint": spec.entrypoint,
        "environment": spec.env,
        "labels": spec.labels | {STOP_TIMEOUT: f"{spec.stop_timeout:g}"},
        "network": spec.network,
        "volumes": {spec.volume: {"bind": "/data", "mode": "rw"}} if spec.volume else None,
        "mem_limit": spec.memory,
        "pids_limit": spec.pids,
        "nano_cpus": int(spec.cpus * 1e9) if spec.cpus else None,
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": CAP_DROP,
        "user": spec.user,
        "restart_policy": {"Name": "unless-stopped"} if spec.restart else None,
        "init": True,
        "detach": True,
        "log_config": LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
        "extra_hosts": spec.extra_hosts or None,
    }


def container_state(container: Container, network: str) -> ContainerState:
    attrs = container.attrs
    state = attrs.get("State") or {}
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerState(
        name=container.name or "",
        status=state.get("Status", "unknown"),
        labels=container.labels,
        ip=(networks.get(network) or {}).get("IPAddress") or None,
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(attrs.get("RestartCount") or 0),
        started_at=state.get("StartedAt", ""),
    )


def cache_record(found: dict[str, Any]) -> CacheRecord:
    return CacheRecord(
        id=str(found.get("ID") or ""),
        # API 1.42 moved `Parent` to a list, `Parents` (and leaves `Parent` empty)
        parents=tuple(str(p) for p in found.get("Parents") or [found.get("Parent")] if p),
        kind=str(found.get("Type") or ""),
        description=str(found.get("Description") or ""),
        size=int(found.get("Size") or 0),
        in_use=bool(found.get("InUse")),
        last_used=str(found.get("LastUsedAt") or found.get("CreatedAt") or ""),
    )


def label_filters(labels: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in labels.items()]
