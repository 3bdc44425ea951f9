"""The app config: the optional hostctl.yml at the root of an app's repository.

Repository content is untrusted input: it is validated into a frozen dataclass, and every
error names the key path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostctl.core.labels import DEFAULT_STOP_TIMEOUT, MAX_STOP_TIMEOUT
from hostctl.core.yaml_sections import (
    PORTS,
    SECONDS,
    Limits,
    Resources,
    Section,
    parse_yaml,
    read_resources,
)

# The documented ranges (docs/apps.md); app.json's numbers are held to the same ones.
HEALTH_SECONDS = SECONDS
STOP_SECONDS = Limits("a number of seconds", 0, MAX_STOP_TIMEOUT, open_minimum=True)
DEFAULT_DEPLOY_TIMEOUT = 600.0  # fetch, build and release command, up to the swap
DEPLOY_SECONDS = Limits("a number of seconds", 0, 6 * 3600, open_minimum=True)


@dataclass(frozen=True)
class HealthCheck:
    """The gate a new web container must pass before it gets traffic: an HTTP answer on
    ``path``, or (type uptime, for a web process that is not HTTP) ``seconds`` running."""

    path: str = "/"
    timeout: float = 60.0
    content: str | None = None
    type: str = "http"
    seconds: float = 10.0


@dataclass(frozen=True)
class AppConfig:
    """The optional hostctl.yml at the root of an app's repository."""

    port: int | None = None
    healthcheck: HealthCheck | None = None
    processes: tuple[tuple[str, str], ...] = ()
    release: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT

    def resources_over(self, defaults: Resources) -> Resources:
        return read_resources(Section("hostctl.yml", self.resources, "resources"), defaults)


APP_KEYS = (
    "port",
    "healthcheck",
    "processes",
    "release",
    "resources",
    "stop_timeout",
    "deploy_timeout",
)


def read_healthcheck(section: Section) -> HealthCheck:
    kind = section.string("type", "http")
    if kind == "uptime":
        section.only("type", "seconds")
        return HealthCheck(type=kind, seconds=section.seconds("seconds", 10.0, HEALTH_SECONDS))
    if kind != "http":
        section.fail(section.key_path("type"), "should be http or uptime")
    section.only("type", "path", "timeout", "content")
    path = section.string("path", "/") or "/"
    if not path.startswith("/"):
        section.fail(section.key_path("path"), "should start with /")
    return HealthCheck(
        path=path,
        timeout=section.seconds("timeout", 60.0, HEALTH_SECONDS),
        content=section.string("content"),
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
    port = top.integer("port", None, *PORTS, what="a TCP port")
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
        stop_timeout=top.seconds("stop_timeout", DEFAULT_STOP_TIMEOUT, STOP_SECONDS),
        deploy_timeout=top.seconds("deploy_timeout", DEFAULT_DEPLOY_TIMEOUT, DEPLOY_SECONDS),
    )
