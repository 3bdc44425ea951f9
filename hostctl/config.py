"""The server config (hostctl.yml under HOSTCTL_ETC) and the optional per-app hostctl.yml.

Both are validated into frozen dataclasses. Every error names the file and the key
path, e.g. ``hostctl.yml: healthcheck/timeout: should be a number of seconds``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hostctl.errors import HostctlError
from hostctl.names import check_hostname

MEMORY = re.compile(r"(\d+)([kmg]?)b?", re.IGNORECASE)
MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class Section:
    """A mapping being validated, which knows its file and key path for error messages."""

    def __init__(self, source: str, data: object, path: str = "") -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            self.fail(path or "(top level)", "should be a mapping of keys to values")
        assert isinstance(data, Mapping)
        self.data: Mapping[str, Any] = data

    def fail(self, key_path: str, problem: str) -> None:
        raise HostctlError(
            f"{self.source}: {key_path}: {problem}",
            f"fix {self.source} and try again",
        )

    def key_path(self, key: str) -> str:
        return f"{self.path}/{key}" if self.path else key

    def only(self, *allowed: str) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(
                    self.key_path(str(key)),
                    f"unknown key; allowed keys are: {', '.join(allowed)}",
                )

    def section(self, key: str) -> Section | None:
        if self.data.get(key) is None:
            return None
        return Section(self.source, self.data[key], self.key_path(key))

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is not None and not isinstance(value, str):
            self.fail(self.key_path(key), "should be a string")
        return None if value is None else str(value)

    def integer(self, key: str, default: int | None = None, minimum: int = 0) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.key_path(key), "should be an integer")
        if value < minimum:
            self.fail(self.key_path(key), f"should be at least {minimum}")
        return int(value)

    def seconds(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.fail(self.key_path(key), "should be a number of seconds")
        return float(value)

    def memory(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        match = MEMORY.fullmatch(str(value).strip())
        if not match or isinstance(value, bool):
            self.fail(self.key_path(key), "should be a size like 256m or 1g")
        assert match is not None
        return int(match.group(1)) * MEMORY_UNITS[match.group(2).lower()]


def parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise HostctlError(
            f"{source}: not valid YAML{where}", f"fix the syntax of {source} and try again"
        ) from exc


@dataclass(frozen=True)
class Resources:
    """Limits for each app container; the box sets defaults, an app may override them."""

    memory: int = 512 * 1024**2
    pids: int = 256
    cpus: float | None = None


def read_resources(section: Section | None, defaults: Resources) -> Resources:
    if section is None:
        return defaults
    section.only("memory", "pids", "cpus")
    cpus = section.data.get("cpus", defaults.cpus)
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int | float)):
        section.fail(section.key_path("cpus"), "should be a number of CPUs, e.g. 0.5")
    return Resources(
        memory=section.memory("memory", defaults.memory),
        pids=section.integer("pids", defaults.pids, minimum=16) or defaults.pids,
        cpus=float(cpus) if cpus is not None else None,
    )


DEFAULT_AGENT_LISTEN = "127.0.0.1:8470"


@dataclass(frozen=True)
class AgentConfig:
    """Where the agent listens (loopback or the tailnet only) and the public base URL
    GitHub posts webhooks to (default: https://hooks.<domain> with Cloudflare)."""

    listen: tuple[str, ...] = (DEFAULT_AGENT_LISTEN,)
    public_url: str | None = None


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
    section.only("listen", "public_url")
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
    return AgentConfig(
        listen=tuple(listen), public_url=public_url.rstrip("/") if public_url else None
    )


@dataclass(frozen=True)
class ServerConfig:
    """The box-wide settings in $HOSTCTL_ETC/hostctl.yml; every key is optional."""

    domain: str = "localhost"
    http_port: int = 80
    resources: Resources = field(default_factory=Resources)
    drain_timeout: float = 30.0
    keep_releases: int = 5
    agent: AgentConfig = field(default_factory=AgentConfig)
    # The `backup:` section as written; hostctl.backup.config validates it.
    backup: Mapping[str, Any] = field(default_factory=dict)


def load_server_config(path: Path) -> ServerConfig:
    if not path.exists():
        return ServerConfig()
    top = Section("hostctl.yml", parse_yaml(path.read_text(), str(path)))
    top.source = str(path)
    top.only(
        "domain", "http_port", "resources", "drain_timeout", "keep_releases", "agent", "backup"
    )
    defaults = ServerConfig()
    domain = top.string("domain", defaults.domain) or defaults.domain
    try:
        check_hostname(domain)
    except HostctlError:
        top.fail("domain", "should be a DNS name like example.com")
    return ServerConfig(
        domain=domain,
        http_port=top.integer("http_port", defaults.http_port, minimum=1) or defaults.http_port,
        resources=read_resources(top.section("resources"), defaults.resources),
        drain_timeout=top.seconds("drain_timeout", defaults.drain_timeout),
        keep_releases=top.integer("keep_releases", defaults.keep_releases, minimum=1)
        or defaults.keep_releases,
        agent=read_agent(top.section("agent")),
        backup=dict(backup.data) if (backup := top.section("backup")) else {},
    )


@dataclass(frozen=True)
class HealthCheck:
    """The gate a new web container must pass before it gets traffic."""

    path: str = "/"
    timeout: float = 60.0
    content: str | None = None


DEFAULT_STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL when a release retires


@dataclass(frozen=True)
class AppConfig:
    """The optional hostctl.yml at the root of an app's repository."""

    port: int | None = None
    healthcheck: HealthCheck | None = None
    processes: tuple[tuple[str, str], ...] = ()
    release: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    stop_timeout: float = DEFAULT_STOP_TIMEOUT

    def resources_over(self, defaults: Resources) -> Resources:
        return read_resources(Section("hostctl.yml", self.resources, "resources"), defaults)


APP_KEYS = ("port", "healthcheck", "processes", "release", "resources", "stop_timeout")


def read_healthcheck(section: Section) -> HealthCheck:
    section.only("path", "timeout", "content")
    path = section.string("path", "/") or "/"
    if not path.startswith("/"):
        section.fail(section.key_path("path"), "should start with /")
    return HealthCheck(
        path=path, timeout=section.seconds("timeout", 60.0), content=section.string("content")
    )


def read_processes(section: Section) -> tuple[tuple[str, str], ...]:
    processes = []
    for name, value in section.data.items():
        key = section.key_path(str(name))
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,29}", str(name)):
            section.fail(key, "process types are lowercase words like web or worker")
        if isinstance(value, Mapping):
            inner = Section(section.source, value, key)
            inner.only("command")
            value = inner.string("command")
        if not isinstance(value, str) or not value.strip():
            section.fail(key, "should be a command string")
        processes.append((str(name), str(value).strip()))
    return tuple(processes)


def parse_app_config(text: str, source: str = "hostctl.yml") -> AppConfig:
    top = Section(source, parse_yaml(text, source))
    top.only(*APP_KEYS)
    port = top.integer("port", minimum=1)
    if port is not None and port > 65535:
        top.fail("port", "should be a TCP port between 1 and 65535")
    health = top.section("healthcheck")
    processes = top.section("processes")
    resources = top.section("resources")
    if resources is not None:
        read_resources(resources, Resources())  # validate now; merged with box defaults later
    return AppConfig(
        port=port,
        healthcheck=read_healthcheck(health) if health else None,
        processes=read_processes(processes) if processes else (),
        release=top.string("release"),
        resources=dict(resources.data) if resources else {},
        stop_timeout=top.seconds("stop_timeout", DEFAULT_STOP_TIMEOUT),
    )
