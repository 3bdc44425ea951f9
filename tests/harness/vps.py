"""A "fresh VPS" for end-to-end tests of `hostctl setup`: a container of the image in
tests/vps-image.txt (Debian 12 with sshd, sudo, git) on the host network, whose main
process is sshd on a free loopback port.

This checkout, its venv and the venv's interpreter are mounted read-only at the paths they
have here, so hostctl runs in the box as it does on the host; so are the host's Docker
socket (the box's apps run on the host's engine, labelled with the box's namespace) and the
host's Caddy. Nothing is created on the host itself but containers, images and volumes with
that label, and the box."""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.env import REPO, free_port, remove_labelled
from tests.harness.ssh import ssh_command

IMAGE_LIST = REPO / "tests" / "vps-image.txt"
PYTHON = sys.executable  # the venv's interpreter, at the same path in the box


def vps_image(image_list: Path = IMAGE_LIST) -> str:
    """The box's image: built by scripts/offline-images from tests/vps-image.txt (never
    pulled), or rebuilt when that line changed. Skips the tests when it cannot be built."""
    lines = [line.split("#")[0].split() for line in image_list.read_text().splitlines()]
    tag = next(words[1] for words in lines if words)
    built = subprocess.run(
        [str(REPO / "scripts" / "offline-images")],
        env=os.environ | {"HOSTCTL_BASE_IMAGES": str(image_list), "HOSTCTL_OFFLINE_PULL": "no"},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    present = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    if present.returncode != 0:
        said = (built.stdout + built.stderr).strip().splitlines()[-5:]
        pytest.skip(f"cannot build the test VPS image {tag}: {' / '.join(said)}")
    return tag


def dependency_wheels() -> Path:
    """hostctl's dependencies as wheels, for a box's pip (the box has no package index
    of its own here); downloaded once per dependency list."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    digest = hashlib.sha256("\n".join(dependencies).encode()).hexdigest()[:12]
    folder = Path.home() / ".cache" / "hostctl-tests" / f"wheelhouse-{digest}"
    if not (folder / "complete").exists():
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"),
                *("--dest", str(folder), *dependencies),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (folder / "complete").touch()
    return folder


def mounts() -> list[str]:
    """-v options: the checkout, the venv and its base interpreter (unless it is Debian's
    own /usr one, which the image has too), all read-only at the same path."""
    paths = [REPO, Path(sys.prefix), Path(sys.base_prefix)]
    kept: list[Path] = []
    for path in paths:
        if path != Path("/usr") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    options = [f"--volume={path}:{path}:ro" for path in kept]
    return [
        *options,
        "--volume=/var/run/docker.sock:/var/run/docker.sock",
        "--volume=/usr/bin/caddy:/usr/bin/caddy:ro",
    ]


@dataclass
class Vps:
    name: str
    namespace: str
    ssh_port: int
    http_port: int

    @classmethod
    def start(cls, image: str, test_namespace: str) -> Vps:
        namespace = f"{test_namespace}v{secrets.token_hex(2)}"  # the box's own Docker objects
        box = cls(f"{namespace}-vps", namespace, free_port(), free_port())
        sshd = [
            *("/usr/sbin/sshd", "-D", "-e", "-p", str(box.ssh_port)),
            *("-o", "ListenAddress=127.0.0.1", "-o", "PasswordAuthentication=no"),
            # with PAM off, sshd refuses even a key to an account whose password is locked
            # ("!"), which is what useradd leaves: this proves setup avoids it
            *("-o", "UsePAM=no", "-o", "LogLevel=VERBOSE"),
        ]
        subprocess.run(
            [
                *("docker", "run", "--detach", "--name", box.name, "--network=host"),
                # root on a box may change its firewall: hostctl keeps app containers off
                # the host with rules commented with the box's namespace (removed at the end)
                "--cap-add=NET_ADMIN",
                # and bound its builds' processes with a cgroup (removed at the end too)
                "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
                f"--label=io.hostctl.namespace={namespace}",
                "--label=io.hostctl.test=vps",
                f"--env=HOSTCTL_NAMESPACE={namespace}",
                f"--env=HOSTCTL_HTTP_PORT={box.http_port}",
                "--env=PYTHONDONTWRITEBYTECODE=1",
                *mounts(),
                image,
                *("sh", "-c", f"install -d -m 0755 /run/sshd && exec {shlex.join(sshd)}"),
            ],
            check=True,
            capture_output=True,
        )
        box.wait_for_sshd()
        return box

    def wait_for_sshd(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.ssh_port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"sshd did not listen:\n{self.log()}"
                time.sleep(0.1)

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True, check=False)
        remove_labelled(self.namespace)

    def log(self) -> str:
        done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
        return done.stdout + done.stderr

    def exec(
        self,
        *argv: str,
        user: str = "root",
        env: dict[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        workdir: str = "/",
    ) -> subprocess.CompletedProcess[str]:
        options = [f"--env={k}={v}" for k, v in (env or {}).items()]
        options.append(f"--workdir={workdir}")
        done = subprocess.run(
            ["docker", "exec", "--interactive", f"--user={user}", *options, self.name, *argv],
            input=input or "",
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"in the VPS, {shlex.join(argv)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def hostctl(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """hostctl as root in the box; whether it succeeded is for the test to say."""
        return self.exec(PYTHON, "-m", "hostctl", *args, env=env, input=input, check=False)

    def read(self, path: str) -> str:
        return self.exec("cat", path).stdout

    def ssh(
        self, key: Path, *command: str, user: str = "hostctl"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *shlex.split(ssh_command(key)),
                "-p",
                str(self.ssh_port),
                f"{user}@127.0.0.1",
                *command,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def push(self, repo: Path, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"GIT_SSH_COMMAND": ssh_command(key)}
        return subprocess.run(
            ["git", "push", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
        )

    def remote(self, app: str) -> str:
        return f"ssh://hostctl@127.0.0.1:{self.ssh_port}/{app}"
