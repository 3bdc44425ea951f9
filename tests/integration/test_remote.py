"""Driving a box from a laptop over SSH (paramiko): `hostctl --host USER@BOX …` and
`hostctl setup USER@BOX`, against the real sshd of a "fresh VPS" container
(tests/harness/vps.py). The laptop is this machine with its own HOME and config dir."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostctl import __version__
from hostctl.adapters import ssh
from tests.harness.env import NAMESPACE, free_port, laptop_env
from tests.harness.ssh import client_key
from tests.harness.terminal import converse
from tests.harness.vps import PYTHON, Vps, dependency_wheels, vps_image

pytestmark = pytest.mark.integration


@dataclass
class Laptop:
    env: dict[str, str]
    keys: Path

    @property
    def known_hosts(self) -> Path:
        return Path(self.env["HOSTCTL_CONFIG_DIR"]) / "known_hosts"

    def run(
        self, *args: str, input: str = "", timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hostctl", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def in_terminal(self, *args: str, answer: bytes) -> tuple[int, str]:
        """Run with a terminal as stdin and stdout, answer the host-key question."""
        argv = [sys.executable, "-m", "hostctl", *args]
        status, output, _ = converse(argv, self.env, [(b"connect? [y/N]", answer)], 60)
        return status, output


def authorize(vps: Vps, user: str, key: Path) -> None:
    home = "/root" if user == "root" else f"/home/{user}"
    if user != "root":
        vps.exec("useradd", "--create-home", "--shell", "/bin/sh", user)
        vps.exec("usermod", "-p", "*", user)  # a locked account may not log in (UsePAM=no)
    script = f"install -d -m 700 -o {user} {home}/.ssh && cat > {home}/.ssh/authorized_keys"
    vps.exec("sh", "-c", script, input=Path(f"{key}.pub").read_text())
    vps.exec("chown", user, f"{home}/.ssh/authorized_keys")


def host_fingerprints(vps: Vps) -> set[str]:
    each = "for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $k; done"
    listed = vps.exec("sh", "-c", each)
    return {line.split()[1] for line in listed.stdout.splitlines()}


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    return vps_image()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def box(image: str, keys: Path) -> Iterator[Vps]:
    """A box with hostctl on root's PATH (this checkout, as the other VPS tests run it),
    a user with passwordless sudo and one without sudo; each may log in with its key."""
    vps = Vps.start(image, NAMESPACE)
    try:
        for user in ("root", "admin", "nosudo"):
            authorize(vps, user, client_key(keys, user))
        vps.exec("sh", "-c", "echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin")
        settings = {
            "HOSTCTL_NAMESPACE": vps.namespace,
            "HOSTCTL_HTTP_PORT": str(vps.http_port),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
        wrapper = f'#!/bin/sh\nexport {exports}\nexec {PYTHON} -m hostctl "$@"\n'
        vps.exec("sh", "-c", "cat > /usr/local/bin/hostctl", input=wrapper)
        vps.exec("chmod", "755", "/usr/local/bin/hostctl")
        yield vps
    finally:
        vps.remove()


@pytest.fixture
def laptop(keys: Path, tmp_path: Path) -> Laptop:
    return Laptop(laptop_env(tmp_path), keys)


def at(box: Vps, user: str = "root") -> str:
    return f"{user}@127.0.0.1:{box.ssh_port}"


def test_host_runs_commands_on_the_box_streaming_with_their_exit_status(box, laptop):
    root = ["--host", at(box), "-i", str(laptop.keys / "root"), "--trust-host-key"]
    key = (laptop.keys / "root.pub").read_text()
    added = laptop.run(*root, "keys", "add", "-", "--name", "laptop", input=key)
    assert added.returncode == 0, added.stderr
    # it is in the box's state, which the laptop's own (empty) HOSTCTL_ROOT is not
    assert "laptop" in box.hostctl("keys").stdout
    assert not (Path(laptop.env["HOSTCTL_ROOT"]) / "state.db").exists()
    listed = laptop.run(*root, "keys")
    assert listed.returncode == 0 and "laptop" in listed.stdout, listed.stderr

    failed = laptop.run(*root, "apps", "info", "nosuch")
    assert failed.returncode == 1
    assert "Error:" in failed.stderr and "nosuch" in failed.stderr, failed.stderr

    # a saved default takes the place of --host
    saved = laptop.run("hosts", "add", "box", at(box), "-i", str(laptop.keys / "root"))
    assert saved.returncode == 0, saved.stderr
    again = laptop.run("keys")
    assert again.returncode == 0 and "laptop" in again.stdout, again.stderr


def test_output_streams_and_input_goes_in(box, laptop):
    endpoint = ssh.Endpoint("root", "127.0.0.1", box.ssh_port)
    arrived: list[tuple[float, bytes]] = []
    errors = bytearray()
    terminal = ssh.Terminal(lambda data: arrived.append((time.monotonic(), data)), errors.extend)
    script = "echo first; echo warned >&2; sleep 2; echo second; exit 3"
    with ssh.connect(endpoint, laptop.keys / "root", laptop.known_hosts, lambda key: True) as s:
        status = s.stream(["sh", "-c", script], terminal, pty=False)
        read, written = os.pipe()
        os.write(written, b"through stdin\n")
        os.close(written)
        echoed = bytearray()
        assert s.stream(["cat"], ssh.Terminal(echoed.extend, errors.extend, read), False) == 0
        os.close(read)
    assert status == 3
    assert b"".join(data for _, data in arrived) == b"first\nsecond\n"
    assert arrived[-1][0] - arrived[0][0] > 1.5, "the first line came only at the end"
    assert errors == b"warned\n"
    assert echoed == b"through stdin\n"


def test_host_keys_are_confirmed_once_and_a_changed_one_is_refused(box, laptop):
    args = ["--host", at(box), "-i", str(laptop.keys / "root"), "keys"]
    unknown = laptop.run(*args)
    assert unknown.returncode == 1
    shown = unknown.stderr.split("key is ")[1].split()[0]
    assert shown in host_fingerprints(box)
    assert "--trust-host-key" in unknown.stderr and not laptop.known_hosts.exists()

    refused, said = laptop.in_terminal(*args, answer=b"n\n")
    assert refused == 1 and shown in said and not laptop.known_hosts.exists(), said
    accepted, said = laptop.in_terminal(*args, answer=b"y\n")
    assert accepted == 0, said
    assert f"[127.0.0.1]:{box.ssh_port}" in laptop.known_hosts.read_text()
    known = laptop.run(*args)  # no question the second time
    assert known.returncode == 0, known.stderr

    other = client_key(Path(laptop.env["HOME"]), "other")
    impostor = Path(f"{other}.pub").read_text().split()[:2]
    laptop.known_hosts.write_text(f"[127.0.0.1]:{box.ssh_port} {' '.join(impostor)}\n")
    changed = laptop.run(*args[:-1], "--trust-host-key", "keys")
    assert changed.returncode == 1
    assert f"host key of 127.0.0.1:{box.ssh_port} has changed" in changed.stderr
    assert str(laptop.known_hosts) in changed.stderr and "Traceback" not in changed.stderr


def test_bad_input_is_one_clear_error(box, laptop):
    trust = ["--trust-host-key", "keys"]
    nobody = free_port()
    cases = {
        "unreachable": (
            ["--host", f"root@127.0.0.1:{nobody}", "-i", str(laptop.keys / "root"), *trust],
            f"cannot reach 127.0.0.1:{nobody} over SSH",
        ),
        "wrong key": (
            ["--host", at(box), "-i", str(laptop.keys / "admin"), *trust],
            f"root@127.0.0.1:{box.ssh_port} refused the key",
        ),
        "no sudo": (
            ["--host", at(box, "nosudo"), "-i", str(laptop.keys / "nosudo"), *trust],
            "nosudo on 127.0.0.1 is not root and cannot use sudo without a password",
        ),
        "no key file": (
            ["--host", at(box), "-i", str(laptop.keys / "missing"), *trust],
            "no key file",
        ),
    }
    for name, (args, said) in cases.items():
        done = laptop.run(*args)
        assert done.returncode == 1, name
        assert f"Error: {said}" in done.stderr and "Hint:" in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr, name

    with_sudo = laptop.run("--host", at(box, "admin"), "-i", str(laptop.keys / "admin"), *trust)
    assert with_sudo.returncode == 0, with_sudo.stderr


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    return dependency_wheels()


def test_setup_from_a_laptop_installs_this_hostctl_and_runs_setup_there(
    image, wheelhouse, tmp_path
):
    vps = Vps.start(image, NAMESPACE)
    try:
        authorize(vps, "root", client_key(tmp_path, "root"))
        subprocess.run(["docker", "cp", f"{wheelhouse}/.", f"{vps.name}:/wheelhouse"], check=True)
        conf = "[global]\nno-index = true\nfind-links = /wheelhouse\n"
        vps.exec("sh", "-c", "cat > /etc/pip.conf", input=conf)
        assert vps.exec("python3", "-m", "venv", "/tmp/probe", check=False).returncode != 0, (
            "the box should lack python3-venv, as a fresh Debian does"
        )
        laptop = Laptop(laptop_env(tmp_path / "home"), tmp_path)
        target = [at(vps), "-i", str(tmp_path / "root"), "--trust-host-key"]

        done = laptop.run("setup", *target, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        output = done.stdout.replace("\r\n", "\n")
        assert "applied  user hostctl" in output, output  # the box's own setup, streamed
        assert f"installed hostctl, version {__version__}" in done.stderr
        assert vps.exec("readlink", "/usr/local/bin/hostctl").stdout.strip() == (
            "/opt/hostctl/venv/bin/hostctl"
        )
        installed = vps.exec(
            "/opt/hostctl/venv/bin/python", "-c", "import hostctl; print(hostctl.__file__)"
        )
        assert installed.stdout.startswith("/opt/hostctl/venv/lib/"), installed.stdout
        assert vps.exec("hostctl", "--version").stdout.strip() == f"hostctl, version {__version__}"

        # the exit status is the box's: --check fails on a box changed by hand
        vps.exec("userdel", "hostctl")
        check = laptop.run("setup", *target, "--check")
        assert check.returncode == 1, check.stdout + check.stderr
        assert "missing  user hostctl" in check.stdout, check.stdout
        again = laptop.run("setup", *target)  # a re-run repairs it
        assert again.returncode == 0, again.stdout + again.stderr
        assert "applied  user hostctl" in again.stdout.replace("\r\n", "\n")
    finally:
        vps.remove()
