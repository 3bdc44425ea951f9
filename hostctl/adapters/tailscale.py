"""Tailscale, through its CLI: the box's tailnet address, and its state for `doctor`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime

from hostctl.core.errors import HostctlError

REPOSITORY = "https://pkgs.tailscale.com/stable"


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
    dns_name: str = ""  # the box's MagicDNS name in its tailnet, e.g. box.tail1234.ts.net


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
        dns_name=str(me.get("DNSName") or "").rstrip("."),
    )


def installed() -> bool:
    return shutil.which("tailscale") is not None


def repository_key(distribution: str, codename: str) -> bytes:
    """The signing key of Tailscale's apt repository for this release (binary keyring)."""
    import httpx  # only `hostctl setup` needs it: the agent imports this module too

    url = f"{REPOSITORY}/{distribution}/{codename}.noarmor.gpg"
    try:
        answer = httpx.get(url, timeout=30, follow_redirects=True)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise HostctlError(
            f"could not fetch Tailscale's repository key ({url}): {exc}",
            "is pkgs.tailscale.com reachable from this box? See "
            "https://tailscale.com/download/linux for other ways to install it",
        ) from exc
    return answer.content


def up(auth_key: str | None) -> None:
    """`tailscale up --ssh`. The auth key goes through a 0600 file (``file:`` form), never
    argv; without one, tailscale prints a login URL and waits until it is opened."""
    if auth_key is None:
        tailscale("up", "--ssh", timeout=None, capture=False)
        return
    fd, path = tempfile.mkstemp(prefix="hostctl-tailscale-")  # 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(auth_key)
        tailscale("up", "--ssh", f"--auth-key=file:{path}", timeout=120)
    finally:
        os.unlink(path)


def set_ssh() -> None:
    tailscale("set", "--ssh", timeout=30)


def tailscale(*args: str, timeout: float | None, capture: bool = True) -> None:
    try:
        done = subprocess.run(
            ["tailscale", *args], capture_output=capture, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise HostctlError("tailscale is not installed", "install it, then try again") from exc
    except subprocess.TimeoutExpired as exc:
        raise HostctlError(
            f"`tailscale {args[0]}` did not finish in {timeout:.0f} s",
            "is tailscaled running (systemctl status tailscaled)?",
        ) from exc
    if done.returncode != 0:
        said = (done.stderr or "").strip() or (done.stdout or "").strip() or "no output"
        raise HostctlError(
            f"`tailscale {args[0]}` failed: {said.splitlines()[-1]}",
            "an auth key must be valid and unused (or reusable): make one at "
            "https://login.tailscale.com/admin/settings/keys",
        )


def ssh_login_works(address: str) -> bool:
    """Does `ssh root@ADDRESS true` succeed without a prompt? Host keys are not checked:
    the address is this box's own, on the tailnet, whose WireGuard link is authenticated."""
    try:
        done = subprocess.run(
            [
                *("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"),
                *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
                f"root@{address}",
                "true",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
