"""The provisioning step that installs Debian packages."""

from __future__ import annotations

from hostctl.adapters.system import apt_install, package_installed
from hostctl.setup.steps import Step


def packages_step(packages: list[str]) -> Step:
    def missing() -> list[str]:
        return [package for package in packages if not package_installed(package)]

    return Step(
        name=f"packages {' '.join(packages)}",
        goal=f"the Debian packages {', '.join(packages)} are installed",
        check=lambda: not missing(),
        apply=lambda: apt_install(missing()),
    )
