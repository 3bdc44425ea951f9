"""The push user: `git push ssh://hostctl@BOX/APP` logs in as the system user ``hostctl``.
Each of its keys is forced to run ``sudo -n WRAPPER KEY_NAME``: a root-owned script that
`hostctl setup` writes, which runs hostctl's git-shell as root (Docker and the state store
are root's). Its sudoers rule allows that script and nothing else."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import stat
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings

PUSH_USER = "hostctl"
WRAPPER = Path("/usr/local/libexec/hostctl-git-shell")
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def forced_command(key_name: str) -> list[str]:
    """What a key of the push user runs: the one command its sudoers rule allows."""
    return ["sudo", "-n", str(WRAPPER), key_name]


def account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(PUSH_USER)
    except KeyError:
        return None


KEYS_HEADER_START = "# Written by hostctl for "


def keys_header(settings: Settings) -> str:
    """The first line of the push user's authorized_keys: whose keys these are. `hostctl
    keys` run for another state root (a test, a second instance) leaves the file alone."""
    return f"{KEYS_HEADER_START}{settings.root} (`hostctl keys`); edits here are lost."


def authorized_keys_file() -> Path | None:
    found = account()
    return Path(found.pw_dir) / ".ssh" / "authorized_keys" if found else None


def keys_file_for(settings: Settings) -> Path | None:
    """The push user's authorized_keys when `hostctl setup` wrote it for this state root."""
    wanted = f"{keys_header(settings)}\n".encode()
    read = read_keys_file(len(wanted))
    return authorized_keys_file() if read and read[1] == wanted else None


def read_keys_file(limit: int) -> tuple[os.stat_result, bytes] | None:
    """The push user's authorized_keys (its first ``limit`` bytes) and its status, or None
    when it is missing or not a regular file. Root reads it without following a link and
    without waiting on a FIFO."""
    path = authorized_keys_file()
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        found = os.fstat(fd)
        return (found, os.read(fd, limit)) if stat.S_ISREG(found.st_mode) else None
    finally:
        os.close(fd)


def write_authorized_keys(text: str) -> Path:
    """Write the push user's ~/.ssh/authorized_keys atomically: root's, 0644 in a 0755
    .ssh (sshd reads it as the user, and its StrictModes accepts root's files; the user
    can change neither). Root works through descriptors and never follows a link."""
    found = account()
    if found is None:
        raise HostctlError(f"there is no user {PUSH_USER}", "run `hostctl setup` first")
    home = os.open(found.pw_dir, DIRECTORY)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(".ssh", 0o755, dir_fd=home)
        ssh_dir = os.open(".ssh", DIRECTORY, dir_fd=home)
    finally:
        os.close(home)
    temporary = f".authorized_keys.{secrets.token_hex(4)}"
    try:
        os.fchown(ssh_dir, 0, 0)
        os.fchmod(ssh_dir, 0o755)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(temporary, flags, 0o644, dir_fd=ssh_dir)
        with os.fdopen(fd, "w") as file:
            os.fchown(fd, 0, 0)
            os.fchmod(fd, 0o644)  # whatever the umask
            file.write(text)
        os.replace(temporary, "authorized_keys", src_dir_fd=ssh_dir, dst_dir_fd=ssh_dir)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=ssh_dir)
        os.close(ssh_dir)
    return Path(found.pw_dir) / ".ssh" / "authorized_keys"
