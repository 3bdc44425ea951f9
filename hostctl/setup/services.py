"""The edge (Caddy) and the agent as systemd services: hostctl-caddy.service, which
hostctl starts with systemctl and configures through its admin socket, and
hostctl-agent.service. Both are enabled, so a reboot brings them back, and restarted by
systemd when they die. Debian's own caddy.service (which would take port 80 with its
Caddyfile) is masked: there is one Caddy on the box.

Without systemd as PID 1 (a container, CI) these steps are skipped: hostctl starts Caddy
itself, and the agent runs under whatever supervises it."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from hostctl.adapters.caddy import PidFile, caddy_command, caddy_environment, process_state
from hostctl.adapters.system import run, systemd_running, unit_active, unit_enabled
from hostctl.agent.unit import systemd_unit as agent_unit_text
from hostctl.core.errors import HostctlError
from hostctl.core.paths import AGENT_UNIT, CADDY_UNIT
from hostctl.core.templates import render
from hostctl.edge import edge_locked, refresh_edge
from hostctl.host import Host
from hostctl.settings import Settings
from hostctl.setup.files import install_file
from hostctl.setup.steps import Step

PACKAGED_CADDY = "caddy.service"  # Debian's, serving /etc/caddy/Caddyfile on port 80
AGENT_WORKERS = 2
STOP_TIMEOUT = 15.0


def systemctl(*args: str) -> None:
    run("systemctl", *args)


def no_systemd_caddy() -> str | None:
    if systemd_running():
        return None
    return "systemd is not running; hostctl starts Caddy itself"


def no_systemd_agent() -> str | None:
    if systemd_running():
        return None
    return "systemd is not running; run `hostctl serve` under a supervisor of your own"


def service_steps(settings: Settings, units: Path) -> list[Step]:
    def done(path: Path, text: Callable[[Settings], str]) -> bool:
        # no state yet, so nothing of hostctl's runs (and looking creates nothing)
        return settings.root.is_dir() and unit_ok(path, text(settings))

    return [
        Step(
            name=f"{PACKAGED_CADDY} masked",
            goal=f"Debian's {PACKAGED_CADDY} is masked and stopped (hostctl runs its own Caddy)",
            check=lambda: unit_enabled(PACKAGED_CADDY) in ("masked", ""),
            apply=lambda: systemctl("mask", "--now", PACKAGED_CADDY),
            skip=no_systemd_caddy,
        ),
        Step(
            name=f"edge {CADDY_UNIT}",
            goal=f"{units / CADDY_UNIT} runs Caddy with hostctl's config, enabled and running",
            check=lambda: done(units / CADDY_UNIT, caddy_unit_text),
            apply=lambda: install_caddy(settings, units / CADDY_UNIT),
            skip=no_systemd_caddy,
        ),
        Step(
            name=f"agent {AGENT_UNIT}",
            goal=f"{units / AGENT_UNIT} runs `hostctl serve`, enabled and running",
            check=lambda: done(units / AGENT_UNIT, agent_text),
            apply=lambda: install_unit(units / AGENT_UNIT, agent_text(settings)),
            skip=no_systemd_agent,
        ),
    ]


def caddy_unit_text(settings: Settings) -> str:
    caddy = Host(settings).caddy
    binary = shutil.which("caddy")
    if binary is None:
        raise HostctlError("Caddy is not installed", "apt-get install caddy, then run setup again")
    return render(
        "systemd/hostctl-caddy.service",
        command=shlex.join(caddy_command(binary, caddy.config_file)),
        environment=sorted(caddy_environment(caddy.state_dir).items()),
        socket=shlex.quote(str(caddy.socket)),
        log=caddy.log_file,
    )


def agent_text(settings: Settings) -> str:
    return agent_unit_text(settings, (), AGENT_WORKERS)


def unit_ok(path: Path, text: str) -> bool:
    name = path.name
    try:
        same = path.read_text() == text
    except FileNotFoundError:
        return False
    return same and unit_enabled(name) == "enabled" and unit_active(name)


def install_unit(path: Path, text: str, start: Callable[[], None] | None = None) -> None:
    """Written, enabled, and (re)started: a changed unit runs as it now says."""
    install_file(path, text, 0o644)
    systemctl("daemon-reload")
    systemctl("enable", path.name)
    if start is None:
        systemctl("restart", path.name)
    else:
        start()


def install_caddy(settings: Settings, path: Path) -> None:
    """Caddy's config is hostctl's route table: the edge is refreshed (which starts the
    unit through systemctl) once the unit's Caddy and one hostctl started itself earlier
    are stopped, so there is never a second one on the port."""

    def start() -> None:
        # stopped first: a Caddy still running would keep serving, as its old unit said
        systemctl("stop", path.name)
        stop_spawned(PidFile(settings.paths.caddy_pid))
        host = Host(settings)  # made now: it picks the unit just installed
        with edge_locked(host):
            refresh_edge(host)

    install_unit(path, caddy_unit_text(settings), start)


def stop_spawned(process: PidFile) -> None:
    """SIGTERM to the Caddy hostctl started itself, and wait until it is gone."""
    pid = process.pid()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while process_state(pid) not in ("", "Z"):
        if time.monotonic() > deadline:
            raise HostctlError(
                f"the Caddy hostctl started (pid {pid}) did not stop in {STOP_TIMEOUT:.0f} s",
                f"stop it (kill {pid}), then run `hostctl setup` again",
            )
        time.sleep(0.1)
