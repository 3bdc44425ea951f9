"""Where an app's /data volume lives on this host, and new volumes for restores.

Backups read and restores write a volume's files straight from the host (hostctl runs as
root on the Docker host), at the Mountpoint the engine reports: no helper container, and
the SQLite locks are the same kernel locks the app's containers take.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.host import Host


def volume_path(host: Host, volume: str) -> Path:
    path = host.docker.volume_path(volume)
    if path is None:
        raise HostctlError(
            f"the volume {volume} does not exist",
            "see `docker volume ls`; `hostctl restore APP` can bring the data back from a backup",
        )
    if not path.is_dir():
        raise HostctlError(
            f"the files of volume {volume} are not reachable at {path}",
            "run hostctl as root on the Docker host itself",
        )
    return path


def new_volume(host: Host, app: str, origin: str) -> tuple[str, Path]:
    """A fresh, labelled volume for a restore; returns its name and its path on the host."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = f"{host.default_volume(app)}-{stamp}-{secrets.token_hex(2)}"
    host.docker.ensure_volume(name, host.labels(app, restored_from=origin))
    return name, volume_path(host, name)


def volume_exists(host: Host, volume: str) -> bool:
    return host.docker.volume_path(volume) is not None
