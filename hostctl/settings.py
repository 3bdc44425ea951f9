"""Where hostctl keeps things, from the environment and the server config.

Every path hostctl writes is under HOSTCTL_ROOT (state) or HOSTCTL_ETC (server config),
so a test or a second instance isolates itself by setting those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hostctl.config import ServerConfig, load_server_config
from hostctl.errors import HostctlError


@dataclass(frozen=True)
class Settings:
    root: Path
    etc: Path
    namespace: str
    http_port_override: int | None

    @classmethod
    def from_env(cls) -> Settings:
        port = os.environ.get("HOSTCTL_HTTP_PORT")
        if port is not None and not port.isdigit():
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
    def server(self) -> ServerConfig:
        return load_server_config(self.etc / "hostctl.yml")

    @property
    def http_port(self) -> int:
        return self.http_port_override or self.server.http_port

    @property
    def db_path(self) -> Path:
        return self.root / "state.db"

    def dir(self, *parts: str) -> Path:
        """A private directory under the root, created on first use."""
        path = self.root.joinpath(*parts)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
