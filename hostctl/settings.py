"""The box's settings: the environment (HOSTCTL_ROOT, HOSTCTL_ETC, HOSTCTL_NAMESPACE,
HOSTCTL_HTTP_PORT) and the server config. Paths come from `hostctl.core.paths`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.core.paths import Paths
from hostctl.server_config import ServerConfig, load_server_config


@dataclass(frozen=True)
class Settings:
    root: Path
    etc: Path
    namespace: str
    http_port_override: int | None

    @classmethod
    def from_env(cls) -> Settings:
        port = os.environ.get("HOSTCTL_HTTP_PORT")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise HostctlError(
                f"HOSTCTL_HTTP_PORT={port!r} is not a port number", "set it to e.g. 8080"
            )
        return cls(
            root=Path(os.environ.get("HOSTCTL_ROOT", "/var/lib/hostctl")),
            etc=Path(os.environ.get("HOSTCTL_ETC", "/etc/hostctl")),
            namespace=os.environ.get("HOSTCTL_NAMESPACE", "hostctl"),
            http_port_override=int(port) if port else None,
        )

    @cached_property
    def paths(self) -> Paths:
        return Paths(self.root, self.etc)

    @cached_property
    def server(self) -> ServerConfig:
        return load_server_config(self.paths.server_config)

    @property
    def http_port(self) -> int:
        return self.http_port_override or self.server.http_port
