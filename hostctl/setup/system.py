"""Commands that provisioning runs on this box (argv lists, failures as HostctlError), and
the step that installs Debian packages."""

from __future__ import annotations

import os
import shlex
import subprocess

from hostctl.core.errors import HostctlError
from hostctl.setup.steps import Step


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its stdout, or a HostctlError with its last words."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=os.environ | (env or {}),
            timeout=1800,  # apt on a slow mirror
            check=False,
        )
    except FileNotFoundError as exc:
        raise HostctlError(f"{argv[0]} is not installed on this box") from exc
    except subprocess.TimeoutExpired as exc:
        raise HostctlError(f"`{shlex.join(argv)}` did not finish in {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise HostctlError(f"`{shlex.join(argv)}` exited {done.returncode}: {' / '.join(said)}")
    return done.stdout


def installed(package: str) -> bool:
    """Is the Debian package installed (not merely known, or removed with its config)?"""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return done.stdout == "install ok installed"


def apt_install(packages: list[str]) -> None:
    """Unattended: no questions, and a config file left by an earlier install is kept."""
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    keep = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *keep, *packages, env=env)


def packages_step(packages: list[str]) -> Step:
    def missing() -> list[str]:
        return [package for package in packages if not installed(package)]

    return Step(
        name=f"packages {' '.join(packages)}",
        goal=f"the Debian packages {', '.join(packages)} are installed",
        check=lambda: not missing(),
        apply=lambda: apt_install(missing()),
    )
