"""The context every command works in: the box's settings, the state store, the Docker
engine and the edge, and how hostctl names what it creates. It imports no feature."""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from typing import TYPE_CHECKING

from hostctl.adapters import firewall
from hostctl.adapters.caddy import Caddy, CaddyProcess, PidFile, SystemdUnit, unit_runs
from hostctl.adapters.system import systemd_running
from hostctl.core import labels
from hostctl.core.paths import CADDY_UNIT, SYSTEMD_UNITS
from hostctl.settings import Settings
from hostctl.state import Store

if TYPE_CHECKING:
    from hostctl.adapters.docker import Docker


class Host:
    def __init__(self, settings: Settings | None = None, read_only: bool = False) -> None:
        self.settings = settings or Settings.from_env()
        self.store = Store(self.settings.paths.database, read_only)

    @cached_property
    def docker(self) -> Docker:
        # Imported when used: the Docker SDK costs 0.2 s, which a git push's forced
        # command and hook need not pay.
        from hostctl.adapters.docker import Docker

        return Docker()

    @cached_property
    def caddy(self) -> Caddy:
        paths = self.settings.paths
        return Caddy(
            paths.caddy, self.settings.http_port, paths.caddy_start_lock, self.caddy_process()
        )

    def caddy_process(self) -> CaddyProcess:
        """systemd's unit once `hostctl setup` installed it for this state directory (and
        systemd runs); else a Caddy hostctl starts itself."""
        config = self.settings.paths.caddy / "caddy.json"
        if systemd_running() and unit_runs(SYSTEMD_UNITS / CADDY_UNIT, config):
            return SystemdUnit(CADDY_UNIT)
        return PidFile(self.settings.paths.caddy_pid)

    @property
    def network(self) -> str:
        """The network of the namespace's own containers (cloudflared); apps have theirs."""
        return self.settings.namespace

    def app_network(self, app: str) -> str:
        """The app's private network: Docker keeps other apps' containers off it."""
        return f"{self.settings.namespace}-{app}"

    @property
    def bridges(self) -> str:
        """The prefix of the host interfaces of this namespace's app networks."""
        return "hc" + hashlib.sha256(self.settings.namespace.encode()).hexdigest()[:5]

    def ensure_firewall(self) -> None:
        firewall.ensure_rules(self.settings.namespace, self.bridges)

    def ensure_app_network(self, app: str) -> None:
        """The app's network, and the firewall rules that keep its containers off the
        host and the metadata service."""
        self.ensure_firewall()
        bridge = self.bridges + hashlib.sha256(app.encode()).hexdigest()[:8]  # ≤ 15 chars
        from hostctl.adapters.docker import Subnets  # the SDK is loaded by now: self.docker

        network = self.settings.server.network
        subnets = Subnets(
            network.app_subnets,
            network.app_prefix,
            f"network/app_subnets in {self.settings.paths.server_config}",
        )
        self.docker.ensure_network(
            self.app_network(app), self.labels(app), bridge=bridge, subnets=subnets
        )

    def labels(self, app: str | None = None, **more: str) -> dict[str, str]:
        return labels.labels(self.settings.namespace, app, **more)

    def volume(self, app: str) -> str:
        """The app's /data volume: the default one, unless a restore moved the app."""
        found = self.store.find_app(app)
        return found.volume if found and found.volume else self.default_volume(app)

    def default_volume(self, app: str) -> str:
        return f"{self.settings.namespace}-{app}-data"

    def image_repository(self, app: str) -> str:
        return f"{self.settings.namespace}/{app}"

    def image_tag(self, app: str, release: int) -> str:
        return f"{self.image_repository(app)}:{release}"

    def container_name(self, app: str, process: str, release: int) -> str:
        return f"{self.settings.namespace}-{app}-{process}-{release}-{secrets.token_hex(3)}"
