"""Tailscale, through its CLI: the box's tailnet address, and its state for `doctor`."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime

from hostctl.core.errors import HostctlError


def tailnet_ipv4() -> str | None:
    """The box's tailnet IPv4 address, or None when Tailscale is absent or not up."""
    try:
        done = subprocess.run(
            ["tailscale", "ip", "-4"], capture_output=True, text=True, timeout=5, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    address = done.stdout.strip().splitlines()
    return address[0] if done.returncode == 0 and address else None


@dataclass(frozen=True)
class TailscaleStatus:
    backend_state: str  # Running, NeedsLogin, Stopped, ...
    online: bool  # the coordination server sees this node
    ssh: bool  # Tailscale SSH is on (the node advertises SSH host keys)
    key_expiry: datetime | None  # None: key expiry is disabled for this node
    addresses: tuple[str, ...]


def tailscale_status() -> TailscaleStatus | None:
    """`tailscale status --json`, or None when Tailscale is not installed."""
    try:
        done = subprocess.run(
            ["tailscale", "status", "--json"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired as exc:
        raise HostctlError(
            "`tailscale status` did not answer in 10 s", "is tailscaled running?"
        ) from exc
    # Not logged in or stopped still prints the JSON (and exits 0); a daemon that cannot
    # be reached prints no JSON.
    try:
        return parse_status(done.stdout)
    except ValueError as exc:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise HostctlError(
            f"`tailscale status` failed: {said[0]}", "start it: systemctl start tailscaled"
        ) from exc


def parse_status(text: str) -> TailscaleStatus:
    """The fields hostctl reads from `tailscale status --json`; ValueError if not that."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a status object")
    me = data.get("Self") or {}
    expiry = me.get("KeyExpiry")
    return TailscaleStatus(
        backend_state=str(data.get("BackendState", "")),
        online=bool(me.get("Online")),
        ssh=bool(me.get("sshHostKeys")),
        key_expiry=datetime.fromisoformat(expiry) if expiry else None,
        addresses=tuple(str(a) for a in data.get("TailscaleIPs") or me.get("TailscaleIPs") or ()),
    )
