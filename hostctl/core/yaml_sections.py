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

MEMORY = re.compile(r"(\d{1,15})([kmg]?)b?", re.IGNORECASE)
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

    def integer(
        self,
        key: str,
        default: int | None = None,
        minimum: int = 0,
        maximum: int = 2**31 - 1,
        what: str | None = None,
    ) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.key_path(key), "should be an integer")
        if what is not None and not minimum <= value <= maximum:
            self.fail(self.key_path(key), f"should be {what} between {minimum} and {maximum}")
        if value < minimum:
            self.fail(self.key_path(key), f"should be at least {minimum}")
        if value > maximum:
            self.fail(self.key_path(key), f"should be at most {maximum}")
        return int(value)

    def number(self, key: str, default: float | None, limits: Limits) -> float | None:
        """A finite number within ``limits``; .inf, .nan and huge values are refused."""
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.key_path(key), f"should be {limits.what}")
        if not limits.allows(value):  # NaN fails every comparison, so it lands here too
            self.fail(self.key_path(key), f"should be {limits.what} {limits.shown()}")
        return float(value)

    def seconds(self, key: str, default: float, limits: Limits | None = None) -> float:
        found = self.number(key, default, limits or SECONDS)
        assert found is not None
        return found

    def memory(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        else:
            match = MEMORY.fullmatch(str(value).strip())
            if not match or isinstance(value, bool):
                self.fail(self.key_path(key), "should be a size like 256m or 1g")
            assert match is not None
            size = int(match.group(1)) * MEMORY_UNITS[match.group(2).lower()]
        if not MEMORY_LIMITS.allows(size):  # 0 would mean no limit at all to Docker
            self.fail(self.key_path(key), "should be a size from 6m to 1024g")
        return size


@dataclass(frozen=True)
class Limits:
    """The range a number from a config file must fall in (ends included unless open)."""

    what: str
    minimum: float
    maximum: float
    open_minimum: bool = False  # the minimum itself is not allowed
    unit: str = ""

    def allows(self, value: float) -> bool:
        above = value > self.minimum if self.open_minimum else value >= self.minimum
        return above and value <= self.maximum

    def shown(self) -> str:
        low = f"above {self.minimum:g}" if self.open_minimum else f"at least {self.minimum:g}"
        return f"{low} and at most {self.maximum:g}{self.unit}"


# The documented ranges (docs/apps.md, docs/server.md).
SECONDS = Limits("a number of seconds", 0, 3600, open_minimum=True)
MEMORY_LIMITS = Limits("a size", 6 * 1024**2, 1024**4)  # Docker refuses less than 6 MiB
PIDS = (16, 4_194_304)  # the kernel's pid_max ceiling
CPUS = Limits("a number of CPUs", 0.01, os.cpu_count() or 1)  # Docker refuses more
PORTS = (1, 65535)


def parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise HostctlError(
            f"{source}: not valid YAML{where}", f"fix the syntax of {source} and try again"
        ) from exc
    except RecursionError:
        raise HostctlError(
            f"{source}: nested too deeply", f"flatten {source} and try again"
        ) from None


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
    return Resources(
        memory=section.memory("memory", defaults.memory),
        pids=section.integer("pids", defaults.pids, *PIDS) or defaults.pids,
        cpus=section.number("cpus", defaults.cpus, CPUS),
    )
