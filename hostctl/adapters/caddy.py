"""Caddy, the edge proxy, driven through its admin API on a unix socket.

Caddy runs as a host process (not a container): it reaches app containers by their
address on hostctl's private Docker network, and no app port is published on the host.
Each app has one route addressed by ``@id``; a swap is a single PATCH of its upstreams.
There is only ever one Caddy per state directory: hostctl knows it (``CaddyProcess``: a
pid file, or the systemd unit `hostctl setup` installs), starts one under a lock, and never starts a
second beside one that is alive but does not answer (both would bind the port).
An address being drained is parked in a route no request matches, so Caddy keeps its
in-flight counter (``/reverse_proxy/upstreams``) until the requests finish.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from hostctl.adapters.system import run
from hostctl.core.errors import HostctlError
from hostctl.core.locks import file_lock
from hostctl.core.private_files import write_private, write_private_text

DRAINING_ROUTE = "hostctl-draining"
NOT_FOUND_ROUTE = "hostctl-not-found"
ROUTES = "/config/apps/http/servers/edge/routes"
START_TIMEOUT = 15.0
API_TIMEOUT = 30.0
PROBE_TIMEOUT = 5.0  # a Caddy that does not answer /config/ in this long is unresponsive
ALL_INTERFACES = "*"
NO_RELEASE = "has no release yet"
NO_WEB = "has no web process running"


@dataclass(frozen=True)
class Route:
    """One app's entry at the edge: its hostnames and where they go (none: no release yet,
    or a release with no web process)."""

    app: str
    hostnames: tuple[str, ...]
    upstreams: tuple[str, ...]
    idle: str = NO_RELEASE  # what a request gets with no upstream (503)
    path: str | None = None  # only these paths (the agent's webhooks), e.g. /hooks/*


def route_id(app: str) -> str:
    return f"hostctl-app-{app}"


class CaddyProcess(Protocol):
    """Who runs Caddy and knows its process: hostctl itself with a pid file, or systemd
    (whose unit holds the command and environment)."""

    def pid(self) -> int | None:
        """Our Caddy's pid while it is alive, else None."""
        ...

    def launch(self, command: list[str], env: dict[str, str], log: Path) -> None: ...


@dataclass(frozen=True)
class PidFile:
    """A Caddy that hostctl starts itself, in its own session, and records in a pid file.
    A process is ours when it runs a config file beside the pid file (Caddy's state
    directory), so a reused pid or another instance's Caddy is never mistaken for it."""

    path: Path

    def pid(self) -> int | None:
        try:
            recorded = int(self.path.read_text().strip())
        except (OSError, ValueError):
            recorded = None
        if recorded is not None and self.is_ours(recorded):
            return recorded
        # One started before there was a pid file (or whose file was lost) is ours too.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and self.is_ours(int(entry.name)):
                self.record(int(entry.name))
                return int(entry.name)
        return None

    def is_ours(self, pid: int) -> bool:
        """An app's process can take any argv, so argv alone proves nothing: ours runs the
        caddy binary, as this user, in this pid namespace, with a config beside the file."""
        process = Path(f"/proc/{pid}")
        try:
            argv = (process / "cmdline").read_bytes().split(b"\0")
            binary = os.readlink(process / "exe")
            same_namespace = os.readlink(process / "ns/pid") == os.readlink("/proc/self/ns/pid")
            owner = process.stat().st_uid
        except OSError:
            return False  # gone (a zombie's cmdline is empty, so it is not ours either)
        caddy = shutil.which(os.environ.get("HOSTCTL_CADDY", "caddy"))
        if caddy is None or binary != os.path.realpath(caddy):
            return False
        if not same_namespace or owner != os.geteuid():
            return False
        return any(
            flag == b"--config" and Path(os.fsdecode(value)).parent == self.path.parent
            for flag, value in itertools.pairwise(argv)
        )

    def launch(self, command: list[str], env: dict[str, str], log: Path) -> None:
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                env=env,
                start_new_session=True,  # outlives this command, like a service
            )
        self.record(process.pid)

    def record(self, pid: int) -> None:
        write_private_text(self.path, f"{pid}\n")


@dataclass(frozen=True)
class SystemdUnit:
    """A Caddy that systemd runs as ``unit`` (written by `hostctl setup` with the same
    command and environment as ``Caddy.start`` would use): hostctl starts it through
    systemctl, never spawns one itself, and the unit's main process is ours."""

    unit: str

    def pid(self) -> int | None:
        shown = run("systemctl", "show", "--property=MainPID", "--value", self.unit).strip()
        return int(shown) if shown.isdigit() and int(shown) > 0 else None

    def launch(self, command: list[str], env: dict[str, str], log: Path) -> None:
        with contextlib.suppress(HostctlError):  # a unit that gave up may start again
            run("systemctl", "reset-failed", self.unit)
        run("systemctl", "restart", self.unit)


def unit_runs(unit_file: Path, config_file: Path) -> bool:
    """Does this unit file run the Caddy of this state directory (not another instance's)?"""
    try:
        return f"--config {config_file}\n" in unit_file.read_text()
    except OSError:
        return False


def caddy_command(binary: str, config_file: Path) -> list[str]:
    return [binary, "run", "--config", str(config_file)]


def caddy_environment(state_dir: Path) -> dict[str, str]:
    """Caddy's own environment, not hostctl's: that may hold API tokens."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(state_dir),
        "XDG_CONFIG_HOME": str(state_dir),
        "XDG_DATA_HOME": str(state_dir),
    }


def read_tail(log: Path) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-5:]
    except FileNotFoundError:
        return ["(no log yet)"]


def process_state(pid: int) -> str:
    """The kernel's one-letter state of a process (R, S, T stopped, …; "" if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[0]


class Caddy:
    def __init__(
        self, state_dir: Path, http_port: int, start_lock: Path, process: CaddyProcess
    ) -> None:
        self.state_dir = state_dir
        self.http_port = http_port
        self.start_lock = start_lock
        self.process = process
        self.socket = state_dir / "admin.sock"
        self.config_file = state_dir / "caddy.json"
        self.log_file = state_dir / "caddy.log"

    def call(self, method: str, path: str, body: Any, timeout: float) -> tuple[int, bytes]:
        """One request to the admin API (a connection each: Caddy's answers are small).
        http.client, not an HTTP library: the agent stays small."""
        connection = UnixConnection(self.socket, timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, payload, headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            status, content = self.call(method, path, body, API_TIMEOUT)
        except (OSError, http.client.HTTPException) as exc:
            raise HostctlError(
                f"cannot reach Caddy's admin API at {self.socket}: {exc}",
                f"see {self.log_file}; hostctl restarts Caddy on its next command",
            ) from exc
        if status >= 400:
            raise HostctlError(
                f"Caddy refused {method} {path}: {content.decode(errors='replace').strip()}",
                f"see {self.log_file}",
            )
        return json.loads(content) if content else None

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self.call("GET", "/config/", None, PROBE_TIMEOUT)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def ensure_running(self, routes: list[Route], listen: tuple[str, ...]) -> None:
        """Start Caddy if none of ours runs; make its routes these and its listen
        addresses these (IP addresses, or ``*`` for every interface)."""
        migrate_accept_queues()
        if self.running():
            self.load(routes, listen)
            return
        with file_lock(self.start_lock):  # one start at a time
            if self.running():  # another command started it meanwhile
                self.load(routes, listen)
                return
            pid = self.process.pid()
            if pid is not None and self.answers_in_time(pid):
                self.load(routes, listen)
                return
            self.start(routes, listen)

    def answers_in_time(self, pid: int) -> bool:
        """Our Caddy is alive but did not answer: give it until START_TIMEOUT. False when
        it exits meanwhile; an error when it still does not answer, never a second Caddy
        beside it (both would bind the port and share the requests)."""
        deadline = time.monotonic() + START_TIMEOUT
        while process_state(pid) not in ("", "T", "t", "Z"):
            if self.running():
                return True
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        state = process_state(pid)
        if state in ("", "Z"):
            return False
        stopped = " and is stopped (SIGSTOP)" if state in ("T", "t") else ""
        raise HostctlError(
            f"Caddy (pid {pid}) is running{stopped}, but its admin API at {self.socket} "
            "does not answer; hostctl does not start a second Caddy beside it",
            f"resume it (kill -CONT {pid}) or stop it (kill {pid}), then run the command "
            f"again; see {self.log_file}",
        )

    def start(self, routes: list[Route], listen: tuple[str, ...]) -> None:
        binary = shutil.which(os.environ.get("HOSTCTL_CADDY", "caddy"))
        if binary is None:
            raise HostctlError(
                "Caddy is not installed", "install it (apt-get install caddy) and try again"
            )
        self.socket.unlink(missing_ok=True)
        self.write_config(routes, listen)
        command = caddy_command(binary, self.config_file)
        self.process.launch(command, caddy_environment(self.state_dir), self.log_file)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.running():
            if time.monotonic() > deadline:
                tail = read_tail(self.log_file)
                raise HostctlError(
                    "Caddy did not start: " + " / ".join(tail),
                    f"is port {self.http_port} free on {', '.join(listen)}? See {self.log_file}",
                )
            time.sleep(0.05)

    def write_config(
        self, routes: list[Route], listen: tuple[str, ...], draining: list[str] | None = None
    ) -> Any:
        """Write the config Caddy starts with: atomically, so a full disk leaves the last
        one whole."""
        config = self.config(routes, listen, draining or [])
        try:
            write_private(self.config_file, config)
        except OSError as exc:
            raise HostctlError(
                f"cannot write Caddy's config {self.config_file}: {exc.strerror or exc}",
                f"free space on the disk holding {self.state_dir} (df -h {self.state_dir}), "
                "then run the command again; Caddy keeps serving its current routes",
            ) from exc
        return config

    def load(self, routes: list[Route], listen: tuple[str, ...]) -> None:
        """Replace every route and the listen addresses; addresses still draining stay
        parked."""
        config = self.write_config(routes, listen, self.draining())
        if self.request("GET", "/config/") != config:
            self.request("POST", "/load", config)

    def config(
        self, routes: list[Route], listen: tuple[str, ...], draining: list[str]
    ) -> dict[str, Any]:
        server = {
            "listen": [self.address(host) for host in listen],
            "automatic_https": {"disable": True},  # TLS ends at Cloudflare's edge
            "routes": [
                *(self.app_route(route) for route in routes),
                {
                    "@id": DRAINING_ROUTE,
                    "match": [{"host": ["draining.hostctl.invalid"]}],
                    "handle": [self.proxy(draining)],
                    "terminal": True,
                },
                {
                    "@id": NOT_FOUND_ROUTE,
                    "handle": [
                        {
                            "handler": "static_response",
                            "status_code": 404,
                            "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                            "body": "404 page not found: no app answers to this hostname\n",
                        }
                    ],
                },
            ],
        }
        return {
            "admin": {
                "listen": f"unix/{self.socket}",
                "origins": ["localhost"],
                "config": {"persist": False},
            },
            "apps": {"http": {"http_port": self.http_port, "servers": {"edge": server}}},
        }

    def address(self, host: str) -> str:
        if host == ALL_INTERFACES:
            return f":{self.http_port}"
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{self.http_port}"
        return f"{host}:{self.http_port}"

    def app_route(self, route: Route) -> dict[str, Any]:
        if not route.upstreams:
            handler: dict[str, Any] = {
                "handler": "static_response",
                "status_code": 503,
                "body": f"{route.app} {route.idle}\n",
            }
        else:
            handler = self.proxy(list(route.upstreams))
        match: dict[str, Any] = {"host": list(route.hostnames)}
        if route.path:
            match["path"] = [route.path]
        return {
            "@id": route_id(route.app),
            "match": [match],
            "handle": [handler],
            "terminal": True,
        }

    def proxy(self, upstreams: list[str]) -> dict[str, Any]:
        handler: dict[str, Any] = {
            "handler": "reverse_proxy",
            "upstreams": [{"dial": address} for address in upstreams],
            # A request that meets a closed port mid-switch is retried, not failed.
            "load_balancing": {"try_duration": "10s", "try_interval": "100ms"},
        }
        if self.version >= (2, 7):
            handler["stream_close_delay"] = "5m"  # keep WebSockets across unrelated reloads
        return handler

    @cached_property
    def version(self) -> tuple[int, int]:
        binary = shutil.which(os.environ.get("HOSTCTL_CADDY", "caddy")) or "caddy"
        try:
            out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
        except OSError:
            return (0, 0)
        match = re.search(r"v?(\d+)\.(\d+)", out.stdout)
        return (int(match.group(1)), int(match.group(2))) if match else (0, 0)

    # the swap

    def switch(self, app: str, upstreams: list[str]) -> list[str]:
        """Send all of the app's hostnames to ``upstreams`` in one config change (none:
        a 503, for an app with no web process).

        The addresses it served before are parked to drain together, and returned. Each
        change reloads Caddy, so a switch is exactly one change.
        """
        routes = self.request("GET", ROUTES) or []
        app_route = next((r for r in routes if r.get("@id") == route_id(app)), None)
        parked = next((r for r in routes if r.get("@id") == DRAINING_ROUTE), None)
        if app_route is None or parked is None:
            raise HostctlError(
                f"Caddy has no route for {app}", "run `hostctl apps` to reconcile the edge"
            )
        old = [u["dial"] for u in app_route["handle"][0].get("upstreams", [])]
        old = [address for address in old if address not in upstreams]
        still_draining = [a for a in self.draining() if self.in_flight(a) > 0]
        route = Route(app, (), tuple(upstreams), idle=NO_WEB)
        app_route["handle"] = self.app_route(route)["handle"]
        parked["handle"] = [self.proxy(sorted({*still_draining, *old}))]
        self.request("PATCH", ROUTES, routes)
        return old

    def routed(self) -> dict[str, tuple[str, ...]]:
        """Each app's upstream addresses as Caddy serves them now (none: a 503)."""
        found = {}
        for route in self.request("GET", ROUTES) or []:
            name = str(route.get("@id", ""))
            if name.startswith(route_id("")):
                upstreams = route["handle"][0].get("upstreams", [])
                found[name.removeprefix(route_id(""))] = tuple(u["dial"] for u in upstreams)
        return found

    def draining(self) -> list[str]:
        parked = self.request("GET", f"/id/{DRAINING_ROUTE}/handle/0/upstreams") or []
        return [u["dial"] for u in parked]

    def in_flight(self, address: str) -> int:
        for upstream in self.request("GET", "/reverse_proxy/upstreams") or []:
            if upstream.get("address") == address:
                return int(upstream.get("num_requests", 0))
        return 0


def migrate_accept_queues() -> None:
    """Ask Linux to hand queued connections to the new listener when Caddy reloads.

    Caddy binds a fresh SO_REUSEPORT socket on every config change and closes the old
    one; without this, connections waiting in the old socket's queue are reset.
    """
    knob = Path("/proc/sys/net/ipv4/tcp_migrate_req")
    try:
        if knob.read_text().strip() != "1":
            knob.write_text("1\n")
    except OSError:
        pass  # older kernel or no permission: reloads may reset a rare connection


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the admin API's unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock
