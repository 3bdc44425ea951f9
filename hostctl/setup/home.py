"""The push user's home is root's: /home/hostctl (0755) and everything in it belong to
root, and nobody else may write there. The user can plant nothing that root or sshd would
read: no click.py beside a `python -m`, no ~/.ssh/authorized_keys of its own."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.push.user import DIRECTORY, PUSH_USER
from hostctl.setup.files import owner_and_mode

HOME = Path("/home") / PUSH_USER


def home_ok(home: Path = HOME) -> bool:
    try:
        found = home.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(found.st_mode) or owner_and_mode(found) != (0, 0, 0o755):
        return False
    for directory, dirnames, filenames in os.walk(home):
        for name in dirnames + filenames:
            with contextlib.suppress(FileNotFoundError):
                if writable_by_others(os.lstat(os.path.join(directory, name))):
                    return False
    return True


def writable_by_others(found: os.stat_result) -> bool:
    """Not root's, or writable by its group or others (a link's own mode means nothing)."""
    return found.st_uid != 0 or bool(not stat.S_ISLNK(found.st_mode) and found.st_mode & 0o022)


def make_home(home: Path = HOME) -> None:
    """Create the home, or take it over (an earlier setup left it the user's): top-down
    through descriptors that never follow a link, so each directory is root's before what
    is in it is touched."""
    home.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(home, 0o755)
    try:
        top = os.open(home, DIRECTORY)
    except OSError as exc:  # a link, or a file
        raise HostctlError(
            f"{home} is not a directory", "move it away, then run `hostctl setup` again"
        ) from exc
    try:
        os.fchown(top, 0, 0)
        os.fchmod(top, 0o755)  # whatever the umask
        for _, dirnames, filenames, directory in os.fwalk(dir_fd=top):
            for name in dirnames + filenames:
                take_over(name, directory)
    finally:
        os.close(top)


def take_over(name: str, directory: int) -> None:
    os.chown(name, 0, 0, dir_fd=directory, follow_symlinks=False)
    found = os.stat(name, dir_fd=directory, follow_symlinks=False)
    if writable_by_others(found):
        mode = stat.S_IMODE(found.st_mode) & ~0o022
        os.chmod(name, mode, dir_fd=directory, follow_symlinks=False)
