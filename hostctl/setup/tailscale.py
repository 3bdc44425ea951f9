"""The Tailscale steps: the package from Tailscale's apt repository, the box up in the
tailnet (with the auth key, or a printed login URL), Tailscale SSH on, and the box's
tailnet name recorded for `hostctl hosts add`."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

from hostctl.adapters import tailscale
from hostctl.adapters.system import apt_install
from hostctl.core.errors import HostctlError
from hostctl.core.private_files import read_private, write_private
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.files import install_file
from hostctl.setup.steps import Step

KEYRING = Path("/usr/share/keyrings/tailscale-archive-keyring.gpg")
SOURCE = Path("/etc/apt/sources.list.d/tailscale.list")
LOGIN = "login"  # the answer that means: no auth key, log in in a browser


def steps(settings: Settings, answers: Answers) -> list[Step]:
    key = answers.tailscale_auth_key
    if key is None:
        return []
    return [
        Step(
            name="tailscale package",
            goal="tailscale is installed from Tailscale's package repository",
            check=tailscale.installed,
            apply=install,
        ),
        Step(
            name="tailscale up",
            goal="the box is up in the tailnet",
            check=lambda: state() == "Running",
            apply=lambda: tailscale.up(None if key == LOGIN else key),
        ),
        Step(
            name="tailscale ssh",
            goal="Tailscale SSH is on (admin SSH over the tailnet)",
            check=lambda: bool((found := tailscale.tailscale_status()) and found.ssh),
            apply=tailscale.set_ssh,
        ),
        Step(
            name="tailnet name",
            goal=f"the box's tailnet name and address are recorded in {settings.paths.tailnet}",
            check=lambda: recorded(settings) == current(),
            apply=lambda: write_private(settings.paths.tailnet, current()),
        ),
    ]


def install() -> None:
    release = platform.freedesktop_os_release()
    distribution, codename = release.get("ID", ""), release.get("VERSION_CODENAME", "")
    if distribution not in ("debian", "ubuntu") or not codename:
        raise HostctlError(
            f"Tailscale's apt repository has no packages for {distribution or 'this system'}",
            "install Tailscale by hand (https://tailscale.com/download/linux), then run "
            "`hostctl setup` again",
        )
    install_file(KEYRING, tailscale.repository_key(distribution, codename), 0o644)
    install_file(
        SOURCE,
        f"# Written by `hostctl setup`.\ndeb [signed-by={KEYRING}] "
        f"{tailscale.REPOSITORY}/{distribution} {codename} main\n",
        0o644,
    )
    apt_install(["tailscale"])


def state() -> str | None:
    found = tailscale.tailscale_status()
    return found.backend_state if found else None


def current() -> dict[str, str]:
    found = tailscale.tailscale_status()
    if found is None or not found.dns_name:
        raise HostctlError("Tailscale reports no tailnet name for this box", "is it up?")
    ipv4 = next((a for a in found.addresses if ":" not in a), "")
    return {"name": found.dns_name, "ipv4": ipv4}


def recorded(settings: Settings) -> dict[str, str] | None:
    return read_private(settings.paths.tailnet, dict, "tailnet name", "run `hostctl setup` again")


def notes() -> list[str]:
    """What setup should say once the steps are done: a node key that expires locks the
    box out of the tailnet on that day."""
    found = tailscale.tailscale_status()
    if found is None or found.key_expiry is None:
        return []
    return [
        f"warning: this box's Tailscale node key expires on {found.key_expiry:%Y-%m-%d} "
        f"(in {(found.key_expiry - datetime.now(UTC)).days} days); disable key expiry for it "
        "in the admin console (Machines → … → Disable key expiry)"
    ]
