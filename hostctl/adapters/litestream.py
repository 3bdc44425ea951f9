"""The litestream binary (v0.3.13, what install.sh installs and the tests run; its config is
written in the form 0.5 reads too): the only module that runs it, always as an argv list.

Credentials reach it through the environment (LITESTREAM_ACCESS_KEY_ID and
LITESTREAM_SECRET_ACCESS_KEY), never through its config file or command line, and the
config is read with -no-expand-env so nothing in it is substituted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hostctl.errors import HostctlError

RESTORE_TIMEOUT = 3600
STOP_TIMEOUT = 10.0


def binary() -> str | None:
    return shutil.which("litestream")


def require_binary() -> str:
    found = binary()
    if found is None:
        raise HostctlError(
            "litestream is not installed, so Litestream mode cannot run",
            "install Litestream on this box: ./install.sh does, or https://litestream.io/install/",
        )
    return found


def replicate_argv(litestream: str, config: Path) -> list[str]:
    return [litestream, "replicate", "-config", str(config), "-no-expand-env"]


def restore_argv(litestream: str, config: Path, database: Path, timestamp: str) -> list[str]:
    """Restore ``database`` (a path in ``config``) as of ``timestamp`` (RFC 3339, UTC)."""
    return [
        litestream,
        "restore",
        "-config",
        str(config),
        "-no-expand-env",
        "-timestamp",
        timestamp,
        str(database),
    ]


def environment(access_key_id: str, secret_access_key: str) -> dict[str, str]:
    """A clean environment: no AWS_* variables of the caller can override the target's."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LITESTREAM_ACCESS_KEY_ID": access_key_id,
        "LITESTREAM_SECRET_ACCESS_KEY": secret_access_key,
    }


def start(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Start ``litestream replicate`` in its own session, so it outlives this command."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=env,
            start_new_session=True,
        )
    return process.pid


def running(pid: int, config: Path) -> bool:
    """Whether ``pid`` is a live litestream reading ``config`` (not a reused pid)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child and has exited
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and str(config).encode() in cmdline


def stop(pid: int, config: Path) -> None:
    """SIGTERM (Litestream then syncs what it has), SIGKILL after STOP_TIMEOUT."""
    if not running(pid, config):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while running(pid, config):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)


def restore(argv: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=RESTORE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HostctlError(
            f"litestream restore took longer than {RESTORE_TIMEOUT}s", "try a later timestamp"
        ) from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise HostctlError(
            f"litestream restore of {argv[-1]} failed: {' / '.join(tail)}",
            "check the timestamp is after Litestream started replicating and within the "
            "replica's retention, and `hostctl offsite test`",
        )
