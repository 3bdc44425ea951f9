"""Root's files that provisioning installs: written beside their place and moved there, so
a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def install_file(
    path: Path, text: str | bytes, mode: int, check: Callable[[str], None] | None = None
) -> None:
    """Install ``text`` at ``path`` (root's, ``mode``) atomically; ``check`` may look at
    the temporary file first and raise to leave ``path`` as it was. The temporary name
    starts with a dot: sudo's includedir skips it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchown(fd, 0, 0)
            os.fchmod(fd, mode)
            file.write(text.encode() if isinstance(text, str) else text)
        if check is not None:
            check(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def owned_by_root(path: Path, mode: int) -> bool:
    """Is ``path`` a regular file (not a link), root's, with exactly ``mode``?"""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(found.st_mode) and owner_and_mode(found) == (0, 0, mode)


def owner_and_mode(found: os.stat_result) -> tuple[int, int, int]:
    return found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)
