"""The server config: hostctl.yml under HOSTCTL_ETC (default /etc/hostctl).

Validated into frozen dataclasses; every key is optional.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.core.names import check_hostname
from hostctl.core.yaml_sections import (
    PIDS,
    PORTS,
    Limits,
    Resources,
    Section,
    parse_yaml,
    read_resources,
)

DEFAULT_AGENT_LISTEN = "127.0.0.1:8470"
KEEP_RELEASES = (1, 100)  # the documented range (docs/server.md)


@dataclass(frozen=True)
class AgentConfig:
    """Where the agent listens (loopback or the tailnet only; the tailnet address only
    when ``tailnet`` asks for it) and the public base URL GitHub posts webhooks to
    (default: https://hooks.<domain> with Cloudflare)."""

    listen: tuple[str, ...] = (DEFAULT_AGENT_LISTEN,)
    public_url: str | None = None
    tailnet: bool = False


TAILNET = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd7a:115c:a1e0::/48"))


def agent_address(text: str) -> tuple[str, int]:
    """IP:PORT on loopback or the tailnet, where the agent may listen; ValueError why not."""
    host, _, port = text.strip().rpartition(":")
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
        number = int(port)
    except ValueError:
        raise ValueError("expected IP:PORT, e.g. 127.0.0.1:8470") from None
    if not 0 < number < 65536:
        raise ValueError("expected IP:PORT, e.g. 127.0.0.1:8470")
    if not (address.is_loopback or any(address in net for net in TAILNET)):
        raise ValueError("the agent binds to loopback or the tailnet only")
    return str(address), number


def read_agent(section: Section | None) -> AgentConfig:
    if section is None:
        return AgentConfig()
    section.only("listen", "public_url", "tailnet")
    listen = section.data.get("listen", list(AgentConfig.listen))
    if isinstance(listen, str):
        listen = [listen]
    if not isinstance(listen, list) or not listen or not all(isinstance(a, str) for a in listen):
        section.fail(section.key_path("listen"), "should be HOST:PORT or a list of them")
    for address in listen:
        try:
            agent_address(address)
        except ValueError as exc:
            section.fail(section.key_path("listen"), f"{address}: {exc}")
    public_url = section.string("public_url")
    if public_url is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", public_url):
        section.fail(
            section.key_path("public_url"), "should be a URL like https://hooks.example.com"
        )
    tailnet = section.data.get("tailnet", False)
    if not isinstance(tailnet, bool):
        section.fail(section.key_path("tailnet"), "should be true or false")
    return AgentConfig(
        listen=tuple(listen),
        public_url=public_url.rstrip("/") if public_url else None,
        tailnet=tailnet,
    )


BUILD_KEYS = ("memory", "pids", "cache_max_age", "cache_max_size")
CACHE_AGE = Limits("a number of seconds", 0, 366 * 86400, open_minimum=True)


@dataclass(frozen=True)
class BuildCache:
    """How much of BuildKit's cache from hostctl's builds is kept: what was used within
    ``max_age`` seconds, up to ``max_size`` bytes (least recently used goes first)."""

    max_age: float = 7 * 86400
    max_size: int = 2 * 1024**3


def read_build(section: Section | None, defaults: Resources) -> Resources:
    if section is None:
        return defaults
    section.only(*BUILD_KEYS)
    return Resources(
        memory=section.memory("memory", defaults.memory),
        pids=section.integer("pids", defaults.pids, *PIDS) or defaults.pids,
    )


def read_build_cache(section: Section | None) -> BuildCache:
    defaults = BuildCache()
    if section is None:
        return defaults
    section.only(*BUILD_KEYS)
    return BuildCache(
        max_age=section.seconds("cache_max_age", defaults.max_age, CACHE_AGE),
        max_size=section.memory("cache_max_size", defaults.max_size),
    )


APP_SUBNETS = ipaddress.IPv4Network("10.201.0.0/16")


@dataclass(frozen=True)
class NetworkConfig:
    """Where app networks' subnets come from: the first free /``app_prefix`` of
    ``app_subnets`` that no Docker network and no host route uses. A /24 holds 253
    containers: web scaled to 100 twice over during a swap, with room for the rest; the
    /16 holds 256 apps."""

    app_subnets: ipaddress.IPv4Network = APP_SUBNETS
    app_prefix: int = 24


APP_PREFIX = (16, 28)  # a /28 still holds 13 containers


def read_network(section: Section | None) -> NetworkConfig:
    defaults = NetworkConfig()
    if section is None:
        return defaults
    section.only("app_subnets", "app_prefix")
    text = section.string("app_subnets")
    subnets = defaults.app_subnets
    if text is not None:
        try:
            subnets = ipaddress.IPv4Network(text.strip())
        except ValueError:
            section.fail(
                section.key_path("app_subnets"),
                "should be an IPv4 network like 10.201.0.0/16 (no host bits set)",
            )
        if not subnets.is_private:
            section.fail(section.key_path("app_subnets"), "should be a private range")
    prefix = section.integer("app_prefix", defaults.app_prefix, *APP_PREFIX, "a prefix length")
    assert prefix is not None
    if prefix < subnets.prefixlen:
        section.fail(
            section.key_path("app_prefix"),
            f"should be at least app_subnets' own prefix length ({subnets.prefixlen})",
        )
    return NetworkConfig(app_subnets=subnets, app_prefix=prefix)


EDGE_EVERYWHERE = "*"  # every interface
EDGE_TUNNEL = "tunnel"  # the address cloudflared reaches the edge on


@dataclass(frozen=True)
class EdgeConfig:
    """Where Caddy listens: IP addresses, ``tunnel`` and ``*``. None: loopback and the
    tunnel's address while Cloudflare is connected, else every interface."""

    listen: tuple[str, ...] | None = None


def read_edge(section: Section | None) -> EdgeConfig:
    if section is None:
        return EdgeConfig()
    section.only("listen")
    listen = section.data.get("listen")
    if listen is None:
        return EdgeConfig()
    if isinstance(listen, str):
        listen = [listen]
    if not isinstance(listen, list) or not listen or not all(isinstance(a, str) for a in listen):
        section.fail(section.key_path("listen"), "should be an address or a list of them")
    found = []
    for entry in listen:
        entry = entry.strip()
        if entry not in (EDGE_EVERYWHERE, EDGE_TUNNEL):
            try:
                entry = str(ipaddress.ip_address(entry.strip("[]")))
            except ValueError:
                section.fail(
                    section.key_path("listen"),
                    f"{entry}: expected an IP address (the port is http_port), "
                    f"{EDGE_TUNNEL!r} or {EDGE_EVERYWHERE!r}",
                )
        found.append(entry)
    if EDGE_EVERYWHERE in found and len(found) > 1:
        section.fail(section.key_path("listen"), f"{EDGE_EVERYWHERE!r} already means every address")
    return EdgeConfig(listen=tuple(dict.fromkeys(found)))


@dataclass(frozen=True)
class ServerConfig:
    """The box-wide settings in $HOSTCTL_ETC/hostctl.yml; every key is optional."""

    domain: str = "localhost"
    http_port: int = 80
    resources: Resources = field(default_factory=Resources)
    drain_timeout: float = 30.0
    keep_releases: int = 5
    # Image builds: memory for each build container, processes for all builds together.
    build: Resources = field(default_factory=lambda: Resources(memory=2 * 1024**3, pids=2048))
    build_cache: BuildCache = field(default_factory=BuildCache)  # `build:` too
    agent: AgentConfig = field(default_factory=AgentConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    # The `backup:` section as written; hostctl.backup.config validates it.
    backup: Mapping[str, Any] = field(default_factory=dict)


def load_server_config(path: Path) -> ServerConfig:
    if not path.exists():
        return ServerConfig()
    top = Section("hostctl.yml", parse_yaml(path.read_text(), str(path)))
    top.source = str(path)
    top.only(
        "domain",
        "http_port",
        "resources",
        "drain_timeout",
        "keep_releases",
        "build",
        "agent",
        "edge",
        "network",
        "backup",
    )
    defaults = ServerConfig()
    domain = top.string("domain", defaults.domain) or defaults.domain
    try:
        check_hostname(domain)
    except HostctlError:
        top.fail("domain", "should be a DNS name like example.com")
    return ServerConfig(
        domain=domain,
        http_port=top.integer("http_port", defaults.http_port, *PORTS, "a TCP port")
        or defaults.http_port,
        resources=read_resources(top.section("resources"), defaults.resources),
        drain_timeout=top.seconds("drain_timeout", defaults.drain_timeout),
        keep_releases=top.integer("keep_releases", defaults.keep_releases, *KEEP_RELEASES)
        or defaults.keep_releases,
        build=read_build(top.section("build"), defaults.build),
        build_cache=read_build_cache(top.section("build")),
        agent=read_agent(top.section("agent")),
        edge=read_edge(top.section("edge")),
        network=read_network(top.section("network")),
        backup=dict(backup.data) if (backup := top.section("backup")) else {},
    )
