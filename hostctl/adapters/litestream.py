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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hostctl.core.errors import HostctlError

RESTORE_TIMEOUT = 3600
LIST_TIMEOUT = 300
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


def restore_argv(
    litestream: str, config: Path, database: Path, timestamp: str, generation: str | None = None
) -> list[str]:
    """Restore ``database`` (a path in ``config``) as of ``timestamp`` (RFC 3339, UTC); with
    ``generation``, that generation up to its last upload instead."""
    point = ["-generation", generation] if generation else ["-timestamp", timestamp]
    return [litestream, "restore", "-config", str(config), "-no-expand-env", *point, str(database)]


@dataclass(frozen=True)
class Generation:
    """One of a replica's generations (Litestream 0.3): its first and last upload."""

    name: str
    start: datetime
    end: datetime


def generations(
    litestream: str, config: Path, database: Path, env: dict[str, str]
) -> list[Generation] | None:
    """The replica's generations, from `litestream snapshots` and `litestream wal` (the
    bounds Litestream itself computes; `litestream generations` needs the database file to
    exist). None where these commands do not exist (0.5 keeps no generations)."""
    times: dict[str, list[datetime]] = {}
    for command in ("snapshots", "wal"):
        argv = [litestream, command, "-config", str(config), "-no-expand-env", str(database)]
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=LIST_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise HostctlError(
                f"litestream {command} took longer than {LIST_TIMEOUT}s",
                "check the offsite target: `hostctl offsite test`",
            ) from exc
        said = (done.stdout + done.stderr).strip().splitlines()
        if "unknown command" in done.stdout + done.stderr:
            return None
        if done.returncode != 0 or any("level=ERROR" in line for line in said):  # exit 0 too
            raise HostctlError(
                f"litestream {command} of {database} failed: {' / '.join(said[-5:])}",
                "check the offsite target: `hostctl offsite test`",
            )
        table = [line.split() for line in said if "level=" not in line]
        if not table or not {"generation", "created"} <= set(table[0]):
            return None
        name, created = table[0].index("generation"), table[0].index("created")
        for row in table[1:]:
            try:
                stamp = datetime.fromisoformat(row[created].replace("Z", "+00:00"))
            except (IndexError, ValueError):
                raise HostctlError(
                    f"litestream {command} printed a line hostctl cannot read: {' '.join(row)}",
                    "is `litestream` on PATH Litestream v0.3.13 (`litestream version`)?",
                ) from None
            times.setdefault(row[name], []).append(stamp)
    return [Generation(name, min(found), max(found)) for name, found in sorted(times.items())]


def point_in_time_argv(
    litestream: str, config: Path, database: Path, at: datetime, env: dict[str, str]
) -> list[str]:
    """The restore of ``database`` as of ``at`` (UTC, whole seconds).

    Litestream 0.3 finds nothing for a time after a generation's last upload (a database
    not written since): then the generation being replicated at ``at`` is restored up to
    its last upload, the last state of the database Litestream replicated by then."""
    at = at.replace(microsecond=0)
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    started = [g for g in generations(litestream, config, database, env) or [] if g.start <= at]
    latest = max(started, key=lambda g: (g.start, g.end), default=None)
    if latest is not None and at > latest.end:
        return restore_argv(litestream, config, database, timestamp, latest.name)
    return restore_argv(litestream, config, database, timestamp)


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
