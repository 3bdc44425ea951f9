"""Builds on a box `hostctl setup` made (tests/harness/systemd_vps.py, systemd as PID 1):
they go through BuildKit, bounded. The box's engine starts out on the systemd cgroup
driver, as Docker's default is on cgroup v2 (Debian 12, Ubuntu): this machine boots
cgroup v1, where the default would be cgroupfs already, so daemon.json asks for systemd
before setup runs. Setup switches the engine to cgroupfs, the one driver under which
BuildKit's steps share a group hostctl can bound (docs/architecture.md).

The box shares this machine's cgroup tree (v1, host cgroup namespace), where this
machine's engine builds in `docker/buildkit` with other budgets meanwhile; so the box's
engine gets a cgroup parent of its own (daemon.json `cgroup-parent`), which hostctl
follows, and its builds run in `PARENT/buildkit`."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

import pytest

from hostctl.adapters import cgroups
from tests.harness.env import NAMESPACE, REPO
from tests.harness.systemd_vps import SystemdVps, systemd_vps_image
from tests.harness.vps import dependency_wheels

pytestmark = pytest.mark.integration

APP_IMAGE = "python:3.11-slim-bookworm"  # examples/hello's base image, the fork bomb's
FORK_BOMB = f"FROM {APP_IMAGE}\nRUN for i in $(seq 400); do sleep 30 & done; wait\n"
SYSTEMD_DRIVER = '{"exec-opts": ["native.cgroupdriver=systemd"]}\n'
ENGINE_PARENT = f"{NAMESPACE}-vps-builds-engine"


@pytest.fixture(scope="module")
def box(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdVps]:
    """A box on the systemd driver, set up from a laptop with `hostctl setup`."""
    vps = SystemdVps.start(systemd_vps_image(), NAMESPACE, "-builds")
    try:
        vps.use_wheels(dependency_wheels())
        vps.exec(
            "sh",
            "-c",
            "mkdir -p /etc/docker && cat > /etc/docker/daemon.json",
            input=SYSTEMD_DRIVER,
        )
        done = vps.set_up_from_a_laptop(tmp_path_factory.mktemp("laptop"))
        assert done.returncode == 0, done.stdout + done.stderr
        use_engine_parent(vps)
        vps.load_image(APP_IMAGE)
        yield vps
    finally:
        vps.remove()
        remove_groups(ENGINE_PARENT)


def use_engine_parent(vps: SystemdVps) -> None:
    """A cgroup parent added to what setup wrote (not before: the systemd driver would
    refuse a parent that is not a slice)."""
    settings = json.loads(vps.read("/etc/docker/daemon.json"))
    settings["cgroup-parent"] = f"/{ENGINE_PARENT}"
    script = "cat > /etc/docker/daemon.json"
    vps.exec("sh", "-c", script, input=json.dumps(settings, indent=2))
    vps.exec("systemctl", "restart", "docker")


def remove_groups(name: str) -> None:
    """The box's engine's groups on this machine's tree, deepest first (empty by now)."""
    for top in cgroups.ROOT.glob(f"*/{name}"):
        groups = [path for path in top.rglob("*") if path.is_dir()]
        for group in sorted(groups, key=lambda path: len(path.parts), reverse=True):
            with contextlib.suppress(OSError):
                group.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def test_a_deploy_builds_with_buildkit_and_apps_run_outside_the_build_group(box):
    assert box.exec("docker", "info", "-f", "{{ .CgroupDriver }}").stdout.strip() == "cgroupfs"
    doctor = box.exec("hostctl", "doctor", check=False).stdout
    assert "builds with BuildKit (`DOCKER_BUILDKIT=1 " in doctor, doctor
    subprocess.run(["docker", "cp", f"{REPO}/examples/hello", f"{box.name}:/tmp/hello"], check=True)
    box.exec("hostctl", "apps", "create", "hello")
    deployed = box.exec("hostctl", "deploy", "hello", "/tmp/hello")
    assert "(BuildKit)" in deployed.stdout, deployed.stdout
    assert "Hello from hostctl" in box.get("hello.localhost").text

    names = box.exec("docker", "ps", "--filter", "name=hello", "--format", "{{.ID}}")
    [short] = names.stdout.split()
    shown = box.exec("docker", "inspect", "-f", "{{.Id}} {{.State.Pid}}", short).stdout.split()
    groups = box.read(f"/proc/{shown[1]}/cgroup")
    [pids] = [line for line in groups.splitlines() if ":pids:" in line]
    assert pids.endswith(f":/{ENGINE_PARENT}/{shown[0]}"), groups  # not below PARENT/buildkit


def test_a_fork_bomb_in_a_build_step_fails_after_the_engine_restarts(box):
    """The bound is not left behind by setup: hostctl sets it before each build."""
    box.exec("mkdir", "-p", "/etc/hostctl")
    box.exec("sh", "-c", "printf 'build:\\n  pids: 200\\n' >> /etc/hostctl/hostctl.yml")
    box.exec("systemctl", "restart", "docker", "hostctl-agent")
    box.exec("mkdir", "-p", "/tmp/bomb")
    box.exec("sh", "-c", "cat > /tmp/bomb/Dockerfile", input=FORK_BOMB)
    box.exec("hostctl", "apps", "create", "bomb")
    done = box.exec("hostctl", "deploy", "bomb", "/tmp/bomb", check=False, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "(BuildKit)" in done.stdout, done.stdout
    assert "the build failed" in done.stderr
    assert "fork" in done.stdout.lower(), done.stdout  # EAGAIN from pids.max
    bound = cgroups.ROOT / "pids" / ENGINE_PARENT / "buildkit" / "pids.max"
    assert bound.read_text().strip() == "200"
