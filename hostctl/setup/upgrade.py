"""`hostctl upgrade` on the box: the new hostctl into the virtualenv this one runs from
(where install.sh and `hostctl setup USER@HOST` put it), then the agent restarted and
waited for. Apps' containers and the edge are left alone: they are not the agent's
children, and the agent's unit stops the agent only (KillMode=process).

The package index's `hostctl` is another project: a wheel is checked to be this hostctl
before it is installed, and nothing is ever taken from the index by default."""

from __future__ import annotations

import configparser
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from hostctl.adapters.http_probe import ProbeError, health_probe
from hostctl.adapters.system import run, systemd_running
from hostctl.core.errors import HostctlError
from hostctl.core.paths import AGENT_UNIT, SYSTEMD_UNITS
from hostctl.server_config import agent_address
from hostctl.settings import Settings
from hostctl.setup.remote import pip_installs

HEALTH_TIMEOUT = 60.0
# Only this hostctl's wheel has both: its command, and the module `upgrade --installed` runs.
OUR_COMMAND = "hostctl.cli:main"
OUR_MODULE = "hostctl/setup/upgrade.py"
HOW_TO_UPGRADE = (
    "from a laptop with a clone of hostctl: `hostctl upgrade root@HOST`; on the box: "
    "`hostctl upgrade --wheel PATH` (a wheel of this hostctl) or `--from SPEC` (a git URL "
    "or a source tree of it)"
)
REINSTALL = (
    "reinstall hostctl: `hostctl upgrade root@HOST` from a laptop with a clone, or re-run "
    "install.sh from a clone on the box"
)


def no_source() -> HostctlError:
    return HostctlError(
        "hostctl upgrade needs to be told what to install: --wheel PATH or --from SPEC "
        "(the package index's `hostctl` is another project)",
        HOW_TO_UPGRADE,
    )


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
    said = run(str(venv / "bin" / "hostctl"), "--version").split()  # "hostctl, version X"
    if not said:
        raise HostctlError(f"{venv}/bin/hostctl --version printed nothing")
    return said[-1]


def install(venv: Path, source: str, before: str, tell: Callable[[str], None]) -> str:
    """``source`` (a wheel's path, or anything pip makes a wheel of) into the virtualenv,
    once its wheel is known to be this hostctl's; the version installed. ``before``: the
    version there now, for the hint when the install fails midway."""
    with tempfile.TemporaryDirectory(prefix="hostctl-upgrade.") as folder:
        wheel = wheel_of(venv, source, Path(folder), tell)
        why = not_ours(wheel)
        if why is not None:
            raise HostctlError(
                f"REFUSED: {source} is not this hostctl (push-to-deploy): {why}. Nothing was "
                f"installed; hostctl {before} is still in {venv}",
                HOW_TO_UPGRADE,
            )
        tell(f"installing {wheel.name} into {venv}")
        try:
            for argv in pip_installs(str(venv / "bin" / "python"), str(wheel)):
                run(*argv)
        except HostctlError as exc:
            raise HostctlError(f"installing {wheel.name} failed: {exc}", half_done(before)) from exc
    try:
        return installed_version(venv)
    except HostctlError as exc:
        raise HostctlError(f"the new hostctl does not run: {exc}", half_done(before)) from exc


def half_done(before: str) -> str:
    return (
        f"the virtualenv may be half-upgraded (it had hostctl {before}; the agent keeps "
        f"running {before} until it restarts): fix the cause and upgrade again, or "
        f"{REINSTALL}; the agent's log: journalctl -u hostctl-agent"
    )


def wheel_of(venv: Path, source: str, folder: Path, tell: Callable[[str], None]) -> Path:
    """The wheel ``source`` is, or pip makes of it in FOLDER (for a git URL, a source
    tree, a requirement): checked before anything of it is installed or run."""
    if source.endswith(".whl") and Path(source).is_file():
        return Path(source).resolve()
    tell(f"fetching {source}")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "wheel", "--quiet"]
    try:
        run(*pip, "--disable-pip-version-check", "--no-deps", "--wheel-dir", str(folder), source)
    except HostctlError as exc:
        raise HostctlError(
            f"could not get a wheel from {source}: {exc}",
            f"nothing was installed; check --from, or {HOW_TO_UPGRADE}",
        ) from exc
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise HostctlError(
            f"{source} gave {len(wheels)} wheels, not one",
            f"nothing was installed; {HOW_TO_UPGRADE}",
        )
    return wheels[0]


def not_ours(wheel: Path) -> str | None:
    """Why the wheel is not this hostctl's, or None when it is (read, never run)."""
    if not wheel.name.startswith("hostctl-"):
        return f"its wheel is {wheel.name}"
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
            scripts = configparser.ConfigParser(interpolation=None)
            for name in points[:1]:
                scripts.read_string(archive.read(name).decode())
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, configparser.Error) as exc:
        return f"{wheel.name} is not a readable wheel ({exc})"
    command = scripts.get("console_scripts", "hostctl", fallback=None)
    if command != OUR_COMMAND:
        return f"its hostctl command is {command or 'missing'}, not {OUR_COMMAND}"
    if OUR_MODULE not in names:
        return f"it has no {OUR_MODULE}"
    return None


def hand_over(venv: Path, args: list[str]) -> NoReturn:
    """This process replaced by the virtualenv's hostctl ARGS: the new code, where this
    process still has the old loaded."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = venv / "bin" / "hostctl"
    try:
        os.execv(command, [str(command), *args])  # noqa: S606 (a fixed argv)
    except OSError as exc:
        raise HostctlError(f"cannot run {command}: {exc.strerror or exc}", REINSTALL) from exc


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
    try:
        run("systemctl", "restart", AGENT_UNIT)
    except HostctlError as exc:
        raise HostctlError(
            f"restarting {AGENT_UNIT} failed: {exc}",
            "the new hostctl is installed in full (not half-upgraded); see why the agent "
            f"did not restart: `journalctl -u hostctl-agent`, `systemctl status {AGENT_UNIT}`; "
            f"fix that and run `systemctl restart {AGENT_UNIT}`, or {REINSTALL}",
        ) from exc
    wait_healthy(settings, tell)


def wait_healthy(settings: Settings, tell: Callable[[str], None]) -> None:
    listen = settings.server.agent.listen
    if not listen:
        raise HostctlError(
            "the agent listens nowhere: agent.listen is empty, so its health cannot be asked",
            f"set agent.listen in {settings.etc}/hostctl.yml (e.g. 127.0.0.1:8470), then "
            f"`systemctl restart {AGENT_UNIT}`",
        )
    ip, port = agent_address(listen[0])
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
