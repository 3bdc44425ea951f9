"""The packages hostctl runs on, and the Docker engine: Debian's docker.io (or a Docker CE
already there), its daemon.json (log rotation, live-restore, the cgroupfs driver), enabled
and running.

Without systemd (a container, CI) the engine that runs is left as it is: hostctl only
checks that it answers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from hostctl.adapters.docker import Docker
from hostctl.adapters.system import (
    apt_install,
    package_installed,
    run,
    systemd_running,
    unit_active,
)
from hostctl.adapters.system import unit_enabled as enabled_state
from hostctl.core.errors import HostctlError
from hostctl.setup.files import install_file
from hostctl.setup.steps import Step

# Each package, and the command that does as well when it came some other way (a Caddy
# binary from caddyserver.com, the host's engine through a socket in a container).
# (iptables, which hostctl's firewall rules need, comes with docker.io.)
PACKAGES = {"caddy": "caddy", "git": "git", "ca-certificates": None}
DOCKER_CE = "docker-ce"
DOCKER_UNIT = "docker.service"
# Keep a box's disk from filling with container logs; keep containers running while the
# engine restarts (an upgrade, a daemon.json change).
DAEMON_SETTINGS: dict[str, Any] = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "live-restore": True,
}
# BuildKit's build steps can be bounded together only under the cgroupfs driver (in the
# engine's docker/buildkit group); under systemd's (cgroup v2's default) each step's group
# sits beside dockerd's own, whatever `cgroup-parent` says. See docs/architecture.md.
CGROUP_DRIVER = "cgroupfs"
DRIVER_OPTION = "native.cgroupdriver="
NO_SYSTEMD = "systemd is not running; the Docker engine that runs is left as it is"


def no_systemd() -> str | None:
    return None if systemd_running() else NO_SYSTEMD


def packages_step() -> Step:
    """docker.io (unless there is an engine already: Docker CE conflicts with it) and the
    packages, each unless its command is there."""

    def missing() -> list[str]:
        wanted = [] if engine_installed() else ["docker.io"]
        for package, command in PACKAGES.items():
            if not package_installed(package) and not (command and shutil.which(command)):
                wanted.append(package)
        return wanted

    names = ["docker.io" if not package_installed(DOCKER_CE) else DOCKER_CE, *PACKAGES]
    return Step(
        name=f"packages {' '.join(names)}",
        goal=f"the Debian packages {', '.join(names)} are installed (or their commands)",
        check=lambda: not missing(),
        apply=lambda: apt_install(missing()),
    )


def engine_installed() -> bool:
    """docker.io or Docker CE; or, without systemd, an engine that answers (in a
    container, the host's through its socket)."""
    if package_installed("docker.io") or package_installed(DOCKER_CE):
        return True
    return not systemd_running() and engine_answers()


def engine_steps(daemon_json: Path) -> list[Step]:
    return [
        packages_step(),
        Step(
            name=f"docker settings {daemon_json}",
            goal=(
                f"{daemon_json} rotates container logs (3 files of 10 MB), sets live-restore"
                f" and the {CGROUP_DRIVER} cgroup driver"
            ),
            check=lambda: daemon_settings_ok(daemon_json) and engine_applied(),
            apply=lambda: apply_daemon_settings(daemon_json),
            skip=no_systemd,
        ),
        Step(
            name=f"docker engine {DOCKER_UNIT}",
            goal=f"{DOCKER_UNIT} is enabled, running and answers",
            check=engine_ok,
            apply=lambda: systemctl("enable", "--now", DOCKER_UNIT),
            skip=engine_skipped,
        ),
    ]


def systemctl(*args: str) -> None:
    run("systemctl", *args)


def read_settings(daemon_json: Path) -> dict[str, Any]:
    try:
        found = json.loads(daemon_json.read_text())
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise HostctlError(
            f"{daemon_json} is not valid JSON: {exc}",
            "fix or remove it (dockerd would not start with it either), then run setup again",
        ) from exc
    if not isinstance(found, dict):
        raise HostctlError(f"{daemon_json} is not a JSON object", "fix or remove it")
    return found


def wanted_settings(found: dict[str, Any]) -> dict[str, Any]:
    """The file's own settings kept, but the cgroup driver; log rotation only for the
    json-file driver (another driver chosen by hand has options of its own)."""
    options = [o for o in found.get("exec-opts", []) if not str(o).startswith(DRIVER_OPTION)]
    driver = [f"{DRIVER_OPTION}{CGROUP_DRIVER}"]
    wanted = dict(found) | {"live-restore": True, "exec-opts": options + driver}
    if found.get("log-driver", "json-file") == "json-file":
        wanted["log-driver"] = "json-file"
        wanted["log-opts"] = dict(found.get("log-opts", {})) | DAEMON_SETTINGS["log-opts"]
    return wanted


def daemon_settings_ok(daemon_json: Path) -> bool:
    found = read_settings(daemon_json)
    return found == wanted_settings(found)


def apply_daemon_settings(daemon_json: Path) -> None:
    """Written, then applied: a reload turns live-restore on, so the restart that applies
    the log options keeps the running containers."""
    wanted = wanted_settings(read_settings(daemon_json))
    daemon_json.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    install_file(daemon_json, json.dumps(wanted, indent=2) + "\n", 0o644)
    if unit_active(DOCKER_UNIT):
        systemctl("reload", DOCKER_UNIT)
        systemctl("restart", DOCKER_UNIT)


def engine_applied() -> bool:
    """A running engine has read the file (a setup killed after writing it has not)."""
    if not unit_active(DOCKER_UNIT):
        return True  # it reads the file when it starts
    try:
        engine = Docker()
        return engine.engine().live_restore and engine.cgroup_setup()[0] == CGROUP_DRIVER
    except HostctlError:
        return False


def engine_answers() -> bool:
    try:
        Docker().engine()
    except HostctlError:
        return False
    return True


def engine_ok() -> bool:
    return enabled_state(DOCKER_UNIT) == "enabled" and unit_active(DOCKER_UNIT) and engine_answers()


def engine_skipped() -> str | None:
    """Without systemd, an engine someone started is all there is: it must answer."""
    if systemd_running():
        return None
    if not engine_answers():
        raise HostctlError(
            "systemd is not running and no Docker engine answers",
            "start dockerd (install.sh does), then run `hostctl setup` again",
        )
    return f"{NO_SYSTEMD} (it answers on {os.environ.get('DOCKER_HOST', 'its socket')})"
