"""The Docker label names hostctl puts on what it creates. Every container, image,
network and volume carries the namespace; app objects carry the app too."""

from __future__ import annotations

LABEL = "io.hostctl"
NAMESPACE = f"{LABEL}.namespace"
APP = f"{LABEL}.app"
RELEASE = f"{LABEL}.release"
PROCESS = f"{LABEL}.process"
STOP_TIMEOUT = f"{LABEL}.stop-timeout"  # the grace period a container was started with
DEFAULT_STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL when a release retires
MAX_STOP_TIMEOUT = 3600.0  # hostctl.yml allows no more; a label is clamped to it
TUNNEL = f"{LABEL}.tunnel"
EDGE = f"{LABEL}.edge"  # the address a cloudflared container reaches the edge on


def labels(namespace: str, app: str | None = None, **more: str) -> dict[str, str]:
    found = {NAMESPACE: namespace}
    if app is not None:
        found[APP] = app
    found.update({f"{LABEL}.{key}": value for key, value in more.items()})
    return found
