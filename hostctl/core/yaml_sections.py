"""Validating YAML config: a mapping that knows its file and key path, so every error
names them, e.g. ``hostctl.yml: healthcheck/timeout: should be a number of seconds``.
Both hostctl.yml files (the server's and an app's) are read with it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hostctl.core.errors import HostctlError

MEMORY = re.compile(r"(\d+)([kmg]?)b?", re.IGNORECASE)
MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_MEMORY = 6 * 1024**2
MAX_PIDS = 4194304  # the kernel's largest pid_max


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
    """Checked against what Docker accepts, so a bad value fails here, not after a build."""
    if section is None:
        return defaults
    section.only("memory", "pids", "cpus")
    cpus = section.data.get("cpus", defaults.cpus)
    most = os.cpu_count() or 1
    if cpus is not None and (
        isinstance(cpus, bool) or not isinstance(cpus, int | float) or not 0.01 <= cpus <= most
    ):
        section.fail(
            section.key_path("cpus"), f"should be a number of CPUs from 0.01 to {most}, e.g. 0.5"
        )
    memory = section.memory("memory", defaults.memory)
    if memory < MIN_MEMORY:
        section.fail(section.key_path("memory"), "should be at least 6m (Docker's minimum)")
    pids = section.integer("pids", defaults.pids, minimum=16) or defaults.pids
    if pids > MAX_PIDS:
        section.fail(section.key_path("pids"), f"should be at most {MAX_PIDS}")
    return Resources(memory=memory, pids=pids, cpus=float(cpus) if cpus is not None else None)
