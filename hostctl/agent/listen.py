"""Where the agent may listen: loopback or the tailnet, never a public address."""

from __future__ import annotations

import socket

from hostctl.adapters.tailscale import tailnet_ipv4
from hostctl.core.errors import HostctlError
from hostctl.server_config import AgentConfig, agent_address


def parse_address(text: str) -> tuple[str, int]:
    try:
        return agent_address(text)
    except ValueError as exc:
        raise HostctlError(
            f"refusing to listen on {text}: {exc}",
            "public webhooks reach it through the Cloudflare tunnel; "
            "use 127.0.0.1:PORT (or the tailnet address)",
        ) from exc


def listen_addresses(config: AgentConfig, given: tuple[str, ...]) -> list[tuple[str, int]]:
    """The --listen addresses, else the configured ones, plus the tailnet address when
    agent/tailnet asks for it (Tailscale being up is not enough: the tailnet may hold
    devices that should not reach the agent)."""
    if given:
        return [parse_address(a) for a in given]
    addresses = [parse_address(a) for a in config.listen]
    if not config.tailnet:
        return addresses
    tailnet = tailnet_ipv4()
    if not tailnet:
        raise HostctlError(
            "hostctl.yml asks for the tailnet address (agent/tailnet), but Tailscale has none",
            "start Tailscale (`tailscale up`), or set agent/tailnet to false",
        )
    tailnet_address = parse_address(f"{tailnet}:{addresses[0][1]}")
    return addresses if tailnet_address in addresses else [*addresses, tailnet_address]


def bind(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HostctlError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "is another agent running? Pick another port with --listen",
        ) from exc
    sock.listen(128)
    return sock
