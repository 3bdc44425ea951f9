"""The first step: is this an operating system hostctl supports? Anything else is refused
before anything is installed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hostctl.adapters.system import machine, os_release
from hostctl.core.errors import HostctlError
from hostctl.setup.steps import Step

SUPPORTED = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04")}
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}  # uname -m: Debian's name


def described(release: Path, arch: str) -> str:
    found = os_release(release)
    name = found.get("PRETTY_NAME") or found.get("ID") or "an unknown system"
    return f"{name} ({ARCHITECTURES.get(arch, arch)})"


def supported(release: Path, arch: str) -> bool:
    """True, or a HostctlError saying what this box runs and what would do."""
    found = os_release(release)
    system, version = found.get("ID", ""), found.get("VERSION_ID", "")
    if version not in SUPPORTED.get(system, ()) or arch not in ARCHITECTURES:
        choices = "; ".join(f"{name.title()} {', '.join(v)}" for name, v in SUPPORTED.items())
        raise HostctlError(
            f"this box runs {described(release, arch)} ({release}: ID={system or '?'}, "
            f"VERSION_ID={version or '?'}); hostctl supports {choices}, on amd64 or arm64",
            "set up a box with one of those; nothing was changed here",
        )
    return True


def os_step(release: Path, arch: Callable[[], str] = machine) -> Step:
    return Step(
        name=f"os {described(release, arch())}",
        goal="a supported operating system",
        check=lambda: supported(release, arch()),
        apply=lambda: None,  # never reached: the check passes or raises
    )
