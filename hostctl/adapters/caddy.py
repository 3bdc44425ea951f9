"""Caddy, the edge proxy, driven through its admin API on a unix socket.

Caddy runs as a host process (not a container): it reaches app containers by their
address on hostctl's private Docker network, and no app port is published on the host.
Each app has one route addressed by ``@id``; a swap is a single PATCH of its upstreams.
An address being drained is parked in a route no request matches, so Caddy keeps its
in-flight counter (``/reverse_proxy/upstreams``) until the requests finish.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx

from hostctl.core.errors import HostctlError

DRAINING_ROUTE = "hostctl-draining"
NOT_FOUND_ROUTE = "hostctl-not-found"
ROUTES = "/config/apps/http/servers/edge/routes"
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Route:
    """One app's entry at the edge: its hostnames and where they go (None: no release yet)."""

    app: str
    hostnames: tuple[str, ...]
    upstream: str | None
    path: str | None = None  # only these paths (the agent's webhooks), e.g. /hooks/*


def route_id(app: str) -> str:
    return f"hostctl-app-{app}"


class Caddy:
    def __init__(self, state_dir: Path, http_port: int) -> None:
        self.state_dir = state_dir
        self.http_port = http_port
        self.socket = state_dir / "admin.sock"
        self.config_file = state_dir / "caddy.json"
        self.log_file = state_dir / "caddy.log"

    @cached_property
    def api(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url="http://localhost",
            timeout=30,
        )

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.api.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise HostctlError(
                f"cannot reach Caddy's admin API at {self.socket}: {exc}",
                f"see {self.log_file}; hostctl restarts Caddy on its next command",
            ) from exc
        if response.status_code >= 400:
            raise HostctlError(
                f"Caddy refused {method} {path}: {response.text.strip()}",
                f"see {self.log_file}",
            )
        return response.json() if response.content else None

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self.api.get("/config/").status_code == 200
        except httpx.TransportError:
            return False

    def ensure_running(self, routes: list[Route]) -> None:
        """Start Caddy if its admin API does not answer; make its routes these."""
        migrate_accept_queues()
        if self.running():
            self.load(routes)
        else:
            self.start(routes)

    def start(self, routes: list[Route]) -> None:
        binary = shutil.which(os.environ.get("HOSTCTL_CADDY", "caddy"))
        if binary is None:
            raise HostctlError(
                "Caddy is not installed", "install it (apt-get install caddy) and try again"
            )
        self.socket.unlink(missing_ok=True)
        self.write_config(routes)
        env = os.environ | {
            "XDG_CONFIG_HOME": str(self.state_dir),
            "XDG_DATA_HOME": str(self.state_dir),
            "HOME": str(self.state_dir),
        }
        with self.log_file.open("ab") as log:
            subprocess.Popen(
                [binary, "run", "--config", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # outlives this command, like a service
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.running():
            if time.monotonic() > deadline:
                tail = self.log_file.read_text(errors="replace").splitlines()[-5:]
                raise HostctlError(
                    "Caddy did not start: " + " / ".join(tail),
                    f"is port {self.http_port} free? See {self.log_file}",
                )
            time.sleep(0.05)

    def write_config(self, routes: list[Route], draining: list[str] | None = None) -> Any:
        config = self.config(routes, draining or [])
        self.config_file.write_text(json.dumps(config, indent=2))
        return config

    def load(self, routes: list[Route]) -> None:
        """Replace every route; addresses still draining stay parked."""
        config = self.write_config(routes, self.draining())
        if self.request("GET", "/config/") != config:
            self.request("POST", "/load", config)

    def config(self, routes: list[Route], draining: list[str]) -> dict[str, Any]:
        server = {
            "listen": [f":{self.http_port}"],
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

    def app_route(self, route: Route) -> dict[str, Any]:
        if route.upstream is None:
            handler: dict[str, Any] = {
                "handler": "static_response",
                "status_code": 503,
                "body": f"{route.app} has no release yet\n",
            }
        else:
            handler = self.proxy([route.upstream])
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

    def switch(self, app: str, upstream: str) -> list[str]:
        """Send all of the app's hostnames to ``upstream`` in one config change.

        The addresses it served before are parked to drain, and returned. Each change
        reloads Caddy, so a switch is exactly one change.
        """
        routes = self.request("GET", ROUTES) or []
        app_route = next((r for r in routes if r.get("@id") == route_id(app)), None)
        parked = next((r for r in routes if r.get("@id") == DRAINING_ROUTE), None)
        if app_route is None or parked is None:
            raise HostctlError(
                f"Caddy has no route for {app}", "run `hostctl apps` to reconcile the edge"
            )
        old = [u["dial"] for u in app_route["handle"][0].get("upstreams", [])]
        old = [address for address in old if address != upstream]
        still_draining = [a for a in self.draining() if self.in_flight(a) > 0]
        app_route["handle"] = [self.proxy([upstream])]
        parked["handle"] = [self.proxy(sorted({*still_draining, *old}))]
        self.request("PATCH", ROUTES, routes)
        return old

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
