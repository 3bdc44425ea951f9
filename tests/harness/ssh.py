"""A real sshd on loopback whose authorized_keys is the file hostctl manages."""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.env import free_port


@dataclass
class Sshd:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_sshd(directory: Path, authorized_keys: Path, port: int) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        # pytest's temporary directories sit under world-writable /tmp
        "StrictModes no\n"
        "PermitRootLogin forced-commands-only\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "LogLevel VERBOSE\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    log_path = directory / "sshd.log"
    process = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Sshd(port, process, log_path)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"sshd did not listen:\n{log_path.read_text()}")


def client_key(directory: Path, name: str = "pusher") -> Path:
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop", "-f", str(key)],
        check=True,
    )
    return key


def ssh_command(key: Path) -> str:
    return shlex.join(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ]
    )


def forwarded_banner(key: Path, port: int, login: str) -> bytes:
    """What comes through `ssh -L` to sshd's own port: its banner if forwarding worked."""
    local = free_port()
    forward = f"{local}:127.0.0.1:{port}"
    tunnel = subprocess.Popen(
        [*shlex.split(ssh_command(key)), "-p", str(port), "-N", "-L", forward, login],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", local), timeout=5) as sock:
                    sock.settimeout(10)
                    return sock.recv(64)
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "ssh -L never listened"
                time.sleep(0.1)
    finally:
        tunnel.terminate()
        try:
            tunnel.wait(timeout=10)
        except subprocess.TimeoutExpired:  # seen once under load in CI: ssh ignored SIGTERM
            tunnel.kill()
            tunnel.wait(timeout=10)


def let_through(attempts: dict[str, subprocess.CompletedProcess[str]]) -> dict[str, object]:
    """The attempts sshd or the forced command should have refused but did not."""
    return {
        name: (done.returncode, done.stderr[-200:])
        for name, done in attempts.items()
        if done.returncode == 0
    }
