"""A real git fetch with an app's deploy key and hostctl's ssh command: sshd on loopback,
the deploy key in its authorized_keys, git over ssh, with paths that need quoting."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.github.keys import DeployKey, ensure_deploy_key, git_ssh_command
from tests.harness.env import free_port

pytestmark = pytest.mark.integration


class Sshd:
    """OpenSSH's sshd in the foreground on a loopback port, for the current user."""

    def __init__(self, binary: str, directory: Path, authorized: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "authorized_keys").write_text(authorized + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, host_key: str) -> None:
        path = self.directory / host_key
        if not path.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True
            )
        options = {
            "Port": str(self.port),
            "ListenAddress": "127.0.0.1",
            "HostKey": f'"{path}"',
            "AuthorizedKeysFile": f'"{self.directory / "authorized_keys"}"',
            "PidFile": "none",
            "UsePAM": "no",
            "StrictModes": "no",
            "PasswordAuthentication": "no",
        }
        argv = [self.binary, "-D", "-f", "/dev/null"]
        for name, value in options.items():
            argv += ["-o", f"{name}={value}"]
        argv += ["-E", str(self.directory / "sshd.log")]
        self.process = subprocess.Popen(argv)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sshd exited: {(self.directory / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("sshd did not listen within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def sshd_path() -> str:
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if found is None:
        pytest.skip("OpenSSH's sshd is not installed (apt-get install openssh-server)")
    return found


@pytest.fixture
def served(tmp_path: Path, sshd_path: str) -> Iterator[tuple[Sshd, DeployKey, Path]]:
    """A bare repository with one commit, served over ssh to the app's deploy key only."""
    key = ensure_deploy_key(tmp_path / "state dir" / "keys" / "blog")
    bare = tmp_path / "srv" / "blog.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README").write_text("hello\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(work), "add", "README"], check=True)
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-qm", "one"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    server = Sshd(sshd_path, tmp_path / "sshd", key.public_key_openssh)
    server.start("host_key_1")
    yield server, key, bare
    server.stop()


def test_git_fetches_over_ssh_with_the_deploy_key_and_pins_the_host_on_first_use(
    served: tuple[Sshd, DeployKey, Path], tmp_path: Path
) -> None:
    server, key, bare = served
    known = tmp_path / "state dir" / "known hosts"
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{server.port}{bare}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
    env["GIT_SSH_COMMAND"] = git_ssh_command(key, known)

    def ls_remote() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "ls-remote", url, "refs/heads/main"],
            cwd=tmp_path / "work",  # git runs ssh from a repository: paths must be absolute
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = ls_remote()
    assert first.returncode == 0, first.stderr
    assert first.stdout.endswith("\trefs/heads/main\n")
    host_key = (server.directory / "host_key_1.pub").read_text().split()[1]
    assert host_key in known.read_text()  # recorded in hostctl's file (hashed names)
    assert ls_remote().returncode == 0  # a known host: no question, no change

    server.stop()
    server.start("host_key_2")  # same address, different host key
    changed = ls_remote()
    assert changed.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in changed.stderr
