"""`hostctl upgrade` on the box: the new hostctl into the virtualenv this one runs from
(where install.sh and `hostctl setup USER@HOST` put it), then the agent restarted and
waited for. Apps' containers and the edge are left alone: they are not the agent's
children, and the agent's unit stops the agent only (KillMode=process)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hostctl.adapters.http_probe import ProbeError, health_probe
from hostctl.adapters.system import run, systemd_running
from hostctl.core.errors import HostctlError
from hostctl.core.paths import AGENT_UNIT, SYSTEMD_UNITS
from hostctl.server_config import agent_address
from hostctl.settings import Settings
from hostctl.setup.remote import pip_installs

DEFAULT_SOURCE = "hostctl"  # the newest release on the package index
HEALTH_TIMEOUT = 60.0


def this_venv() -> Path:
    """The virtualenv this hostctl runs from; an upgrade replaces it there."""
    if sys.prefix == sys.base_prefix:
        raise HostctlError(
            f"this hostctl does not run from a virtualenv ({sys.executable})",
            "upgrade it the way it was installed, or install it with install.sh or "
            "`hostctl setup USER@HOST`, which put it in /opt/hostctl/venv",
        )
    return Path(sys.prefix)


def installed_version(venv: Path) -> str:
    """The version of the hostctl now in the virtualenv (not this process's)."""
    return run(str(venv / "bin" / "hostctl"), "--version").split()[-1]  # "hostctl, version X"


def install(venv: Path, source: str, tell: Callable[[str], None]) -> None:
    """``source``: a wheel's path, or a pip requirement."""
    tell(f"installing {source} into {venv}")
    for argv in pip_installs(str(venv / "bin" / "python"), source):
        run(*argv)


def restart_agent(settings: Settings, tell: Callable[[str], None]) -> None:
    """systemd restarts the agent (when setup made it a service), which then must answer
    /health; without the unit there is nothing to restart, and that is said."""
    if not systemd_running() or not (SYSTEMD_UNITS / AGENT_UNIT).exists():
        tell(
            f"no {AGENT_UNIT} on this box: restart `hostctl serve` yourself where it runs "
            "(`hostctl setup` makes it a service)"
        )
        return
    tell(f"restarting {AGENT_UNIT}")
    run("systemctl", "restart", AGENT_UNIT)
    wait_healthy(settings, tell)


def wait_healthy(settings: Settings, tell: Callable[[str], None]) -> None:
    ip, port = agent_address(settings.server.agent.listen[0])
    url = f"http://[{ip}]:{port}/health" if ":" in ip else f"http://{ip}:{port}/health"
    deadline = time.monotonic() + HEALTH_TIMEOUT
    said = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with health_probe(5.0) as probe:
                report = json.loads(probe(url).text)
            if isinstance(report, dict) and report.get("healthy") is True:
                tell(f"the agent is healthy at {url}")
                return
            said = "it answers, but reports itself unhealthy"
        except (ProbeError, ValueError) as exc:
            said = str(exc)
        time.sleep(0.5)
    tell(f"the agent did not report itself healthy in {HEALTH_TIMEOUT:.0f} s ({said})")
