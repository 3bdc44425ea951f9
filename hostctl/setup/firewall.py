"""The firewall step (only with `--firewall`): inbound traffic dropped except on loopback,
the tailnet and replies; the edge port open to Docker's bridges (cloudflared); containers
unreachable from outside (DOCKER-USER, which Docker's own rules would otherwise bypass).

It never locks the user out: public SSH stays open until an SSH login over Tailscale has
been seen to work, and once closed a later run does not open it again."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from hostctl.adapters import firewall, tailscale
from hostctl.server_config import TAILNET
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.steps import Step


def ssh_over_tailscale_verified() -> bool:
    """This very session came in over the tailnet, or a login to the box's own tailnet
    address with Tailscale SSH on works."""
    if came_over_tailnet(session_ssh_connection()):
        return True
    found = tailscale.tailscale_status()
    address = tailscale.tailnet_ipv4()
    return bool(found and found.ssh and address and tailscale.ssh_login_works(address))


def session_ssh_connection() -> str:
    """SSH_CONNECTION of this process, or of its nearest ancestor that has it: sudo drops
    it from the environment, the login shell above sudo still has it."""
    if "SSH_CONNECTION" in os.environ:
        return os.environ["SSH_CONNECTION"]
    pid = os.getppid()
    while pid > 1:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return ""
        for item in environ.split(b"\0"):
            if item.startswith(b"SSH_CONNECTION="):
                return item.partition(b"=")[2].decode(errors="replace")
        pid = int(stat.rpartition(")")[2].split()[1])  # the field after the state: ppid
    return ""


def came_over_tailnet(ssh_connection: str) -> bool:
    client = ssh_connection.split()[:1]
    try:
        return bool(client) and any(ipaddress.ip_address(client[0]) in net for net in TAILNET)
    except ValueError:
        return False


def steps(
    settings: Settings,
    answers: Answers,
    verified: Callable[[], bool] = ssh_over_tailscale_verified,
) -> list[Step]:
    if not answers.firewall:
        return []
    edge = settings.http_port

    @cache  # one verdict per run: a login attempt is slow
    def ssh_open() -> bool:
        return firewall.box_firewall_state() != "closed" and not verified()

    return [
        Step(
            name="firewall",
            goal=f"chains {firewall.INPUT_CHAIN} (from INPUT: lo, {firewall.TAILNET_INTERFACE}, "
            f"replies and port {edge} from Docker's bridges; public SSH until SSH over "
            f"Tailscale works) and {firewall.DOCKER_CHAIN} (from DOCKER-USER: no new "
            "connections from outside to containers), the rest dropped",
            check=lambda: firewall.box_firewall_in_place(edge, ssh_open()),
            apply=lambda: firewall.ensure_box_firewall(edge, ssh_open()),
        )
    ]


def notes() -> list[str]:
    """What setup should say once the steps are done."""
    if firewall.box_firewall_state() != "ssh-open":
        return []
    return [
        "public SSH (port 22) stays open: an SSH login over Tailscale could not be verified. "
        "Log in over the tailnet (ssh root@BOX-TAILNET-NAME) and run `hostctl setup` "
        "again from there to close it"
    ]
