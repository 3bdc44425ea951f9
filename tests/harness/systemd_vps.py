"""A "fresh VPS" with a real init, for `hostctl setup`'s services: a container of the
image in tests/systemd-vps-image.txt whose PID 1 is systemd, with its own network
namespace and its own Docker engine (installed by setup; its images and containers live
on a volume of the box's own). Nothing of the host's (no Docker socket, no Caddy) is
mounted in. The container and the volume carry the test namespace's label."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.env import REPO, laptop_env
from tests.harness.ssh import client_key
from tests.harness.vps import vps_image

IMAGE_LIST = REPO / "tests" / "systemd-vps-image.txt"
# What systemd in a container needs on these machines (--privileged fails: root lacks
# CAP_SYS_RESOURCE here).
SYSTEMD_OPTIONS = [
    *("--cap-add=ALL", "--cap-drop=SYS_RESOURCE"),
    *("--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"),
    *("--tmpfs", "/run", "--tmpfs", "/run/lock"),
    *("--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
]


def systemd_vps_image() -> str:
    return vps_image(IMAGE_LIST)


@dataclass
class SystemdVps:
    name: str
    namespace: str

    @property
    def volume(self) -> str:
        return f"{self.name}-docker"

    @classmethod
    def start(cls, image: str, namespace: str, suffix: str = "") -> SystemdVps:
        box = cls(f"{namespace}-systemd-vps{suffix}", namespace)
        label = f"--label=io.hostctl.namespace={namespace}"
        subprocess.run(
            ["docker", "volume", "create", label, box.volume], check=True, capture_output=True
        )
        subprocess.run(
            [
                *("docker", "run", "--detach", "--name", box.name, "--hostname", "vps"),
                label,
                "--label=io.hostctl.test=systemd-vps",
                *SYSTEMD_OPTIONS,
                f"--volume={box.volume}:/var/lib/docker",
                image,
                "/lib/systemd/systemd",
            ],
            check=True,
            capture_output=True,
        )
        box.wait_running()
        return box

    def wait_running(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.exec("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            assert time.monotonic() < deadline, f"systemd in the box is {state!r}"
            time.sleep(0.5)

    @property
    def address(self) -> str:
        shown = subprocess.run(
            ["docker", "inspect", "-f", "{{ .NetworkSettings.IPAddress }}", self.name],
            check=True,
            capture_output=True,
            text=True,
        )
        return shown.stdout.strip()

    def reboot(self) -> None:
        subprocess.run(["docker", "restart", self.name], check=True, capture_output=True)
        self.wait_running()

    def set_up_from_a_laptop(
        self, home: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`hostctl setup root@BOX --non-interactive` from a laptop at ``home`` (its key
        authorized for root first), with ``env`` added to the laptop's environment."""
        key = client_key(home, "root")
        script = "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys"
        self.exec("sh", "-c", script, input=Path(f"{key}.pub").read_text())
        return subprocess.run(
            [
                *(sys.executable, "-m", "hostctl", "setup", f"root@{self.address}"),
                *("-i", str(key), "--trust-host-key", "--non-interactive"),
            ],
            env=laptop_env(home) | (env or {}),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", self.volume], capture_output=True, check=False)

    def exec(
        self, *argv: str, input: str | None = None, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", "exec", "--interactive", self.name, *argv],
            input=input or "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"in the box, {argv} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def load_image(self, tag: str) -> None:
        """A base image from the host's engine into the box's (there is no registry)."""
        saved = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "exec", "--interactive", self.name, "docker", "load", "--quiet"],
            stdin=saved.stdout,
            check=True,
            capture_output=True,
            timeout=300,
        )
        assert saved.wait(timeout=60) == 0

    def get(self, host: str, path: str = "/") -> httpx.Response:
        """A request to the box's port 80, as a browser would send it for ``host``."""
        return httpx.get(f"http://{self.address}{path}", headers={"Host": host}, timeout=10)

    def use_wheels(self, folder: Path) -> None:
        """pip in the box installs from these wheels only (it has no package index)."""
        subprocess.run(["docker", "cp", f"{folder}/.", f"{self.name}:/wheelhouse"], check=True)
        conf = "[global]\nno-index = true\nfind-links = /wheelhouse\n"
        self.exec("sh", "-c", "cat > /etc/pip.conf", input=conf)

    def read(self, path: str) -> str:
        return self.exec("cat", path, check=False).stdout

    def main_pid(self, unit: str) -> int:
        shown = self.exec("systemctl", "show", "--property=MainPID", "--value", unit)
        return int(shown.stdout.strip())
