"""Linux control groups: the groups image builds run in, which bound their processes and
memory together.

Docker's classic builder takes memory limits for each build container but no pids limit;
it does take a cgroup parent. The engine's BuildKit (20.10) takes neither: each step runs
in a group of its own under ``docker/buildkit`` (cgroupfs driver), whatever the client
asks. Processes in a group count against the ``pids.max`` and memory limit of every group
above it, so limits on the parent bound every build step in it together (a fork bomb in a
``RUN`` step fails with EAGAIN, a step that eats memory is OOM-killed).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.core.paths import DOCKER_DAEMON_JSON

ROOT = Path("/sys/fs/cgroup")
ENGINE_PARENT = "docker"  # dockerd's cgroup parent (cgroupfs driver) unless daemon.json says


def build_parent(namespace: str, driver: str, version: str, pids: int, memory: int) -> str:
    """Create (or update) the builds' parent group; returns it as Docker's cgroup parent."""
    name = f"{namespace}-build"
    try:
        if driver == "systemd":
            slice_name = f"{name}.slice"
            systemctl = shutil.which("systemctl") or "systemctl"
            properties = [f"TasksMax={pids}", f"MemoryMax={memory}"]
            subprocess.run(
                [systemctl, "set-property", "--runtime", slice_name, *properties],
                capture_output=True,
                check=True,
            )
            return slice_name
        limit(name, version, pids, memory)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise cannot_limit(name, exc) from exc
    return f"/{name}"


def bound_buildkit(version: str, pids: int, memory: int) -> None:
    """Limit the engine's BuildKit group (cgroupfs driver), made ahead of its first build."""
    group = buildkit_group(DOCKER_DAEMON_JSON)
    try:
        limit(group, version, pids, memory)
    except OSError as exc:
        raise cannot_limit(group, exc) from exc


def buildkit_group(daemon_json: Path) -> str:
    """Where dockerd runs BuildKit's build steps: ``PARENT/buildkit`` from the root, PARENT
    being the engine's ``cgroup-parent`` (daemon.json) or ``docker``. It is the engine's,
    so the bound is shared by every BuildKit build on the box. (A ``--cgroup-parent`` on
    dockerd's command line is not seen: setup keeps the engine's settings in daemon.json.)"""
    try:
        found = json.loads(daemon_json.read_text())
    except (OSError, ValueError, UnicodeDecodeError):  # dockerd's default, or refuses to start
        found = {}
    parent = found.get("cgroup-parent") if isinstance(found, dict) else None
    if not isinstance(parent, str) or not parent:
        parent = ENGINE_PARENT
    return "/".join(part for part in (parent.strip("/"), "buildkit") if part)  # "/": root


def limit(name: str, version: str, pids: int, memory: int) -> None:
    """pids.max and the memory limit (no swap beyond it) of group ``name``, made if absent."""
    if version == "1":  # a hierarchy per controller
        swap = "memory.memsw.limit_in_bytes"  # never below the memory limit: set it either side
        for controller, values in (
            ("pids", [("pids.max", pids)]),
            ("memory", [(swap, memory), ("memory.limit_in_bytes", memory), (swap, memory)]),
        ):
            group = ROOT / controller / name
            group.mkdir(parents=True, exist_ok=True)
            write(group, values)
        return
    group = ROOT
    for part in name.split("/"):  # let the groups below have the pids and memory controllers
        with contextlib.suppress(OSError):  # the root's is the engine's to set
            (group / "cgroup.subtree_control").write_text("+pids +memory")
        group = group / part
        group.mkdir(exist_ok=True)
    (group / "cgroup.subtree_control").write_text("+pids +memory")
    write(group, [("pids.max", pids), ("memory.max", memory), ("memory.swap.max", 0)])


def write(group: Path, values: list[tuple[str, int]]) -> None:
    for file, value in values:
        if not (group / file).exists():  # memsw and swap.max exist only with swap accounting
            continue
        try:
            (group / file).write_text(str(value))
        except OSError:
            if not file.startswith("memory.memsw"):  # below the memory limit: set again after
                raise


def cannot_limit(name: str, exc: Exception) -> HostctlError:
    return HostctlError(
        f"could not limit the processes and memory of builds (cgroup {name}): {exc}",
        "hostctl needs root beside the Docker engine to set up its build cgroup",
    )


def remove_build_parent(namespace: str) -> None:
    """Remove the builds' parent group (cgroupfs; empty once no build runs)."""
    name = f"{namespace}-build"
    for group in [ROOT / name, *ROOT.glob(f"*/{name}")]:
        with contextlib.suppress(OSError):
            group.rmdir()
