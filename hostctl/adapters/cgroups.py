"""Linux control groups: the parent group of image builds, which bounds their process count.

Docker's classic builder takes memory limits for each build container but no pids limit;
it does take a cgroup parent. Processes in a group count against the ``pids.max`` of
every group above it, so one parent group with ``pids.max`` bounds every build
container in it together (a fork bomb in a ``RUN`` step fails with EAGAIN).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from hostctl.core.errors import HostctlError

ROOT = Path("/sys/fs/cgroup")


def build_parent(namespace: str, driver: str, version: str, pids: int) -> str:
    """Create (or update) the builds' parent group; returns it as Docker's cgroup parent."""
    name = f"{namespace}-build"
    try:
        if driver == "systemd":
            slice_name = f"{name}.slice"
            systemctl = shutil.which("systemctl") or "systemctl"
            subprocess.run(
                [systemctl, "set-property", "--runtime", slice_name, f"TasksMax={pids}"],
                capture_output=True,
                check=True,
            )
            return slice_name
        group = ROOT / "pids" / name if version == "1" else ROOT / name
        group.mkdir(exist_ok=True)
        if version != "1":  # let the containers below have the pids and memory controllers
            (group / "cgroup.subtree_control").write_text("+pids +memory")
        (group / "pids.max").write_text(str(pids))
    except (OSError, subprocess.CalledProcessError) as exc:
        raise HostctlError(
            f"could not limit the processes of builds (cgroup {name}): {exc}",
            "hostctl needs root beside the Docker engine to set up its build cgroup",
        ) from exc
    return f"/{name}"


def remove_build_parent(namespace: str) -> None:
    """Remove the builds' parent group (cgroupfs; empty once no build runs)."""
    name = f"{namespace}-build"
    for group in [ROOT / name, *ROOT.glob(f"*/{name}")]:
        with contextlib.suppress(OSError):
            group.rmdir()
