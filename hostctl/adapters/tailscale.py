"""Tailscale, through its CLI: only the box's tailnet address is needed so far."""

from __future__ import annotations

import subprocess


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
