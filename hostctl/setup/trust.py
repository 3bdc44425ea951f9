"""What the push user's keys make root run must be root's alone: the interpreter, hostctl,
the libraries it imports, PYTHONPATH, and every directory (and link) on the way to them.
Anyone else who could change one of them could run code as root."""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from pathlib import Path

import hostctl
from hostctl.core.errors import HostctlError

MAX_LINKS = 40  # as the kernel's path walk
LIBRARIES = ("stdlib", "platstdlib", "purelib", "platlib")


def launch_paths() -> list[Path]:
    """What root runs and imports for a push, as the launcher's command names them."""
    paths = [Path(sys.executable), Path(hostctl.__file__).parent]
    paths += [Path(sysconfig.get_path(name)) for name in LIBRARIES]
    if os.environ.get("PYTHONPATH"):
        paths += [Path(entry) for entry in os.environ["PYTHONPATH"].split(os.pathsep)]
    return paths


def check_trusted(paths: list[Path]) -> None:
    for path in paths:
        reason = untrusted(path)
        if reason:
            raise HostctlError(
                f"root would run or import {path} for the push user's keys, but {reason}",
                "install hostctl where only root can write (install.sh uses /opt/hostctl), "
                "or make that path root's and not writable by group or others",
            )


def untrusted(path: Path, links: int = 0, last: bool = True) -> str | None:
    """Why someone other than root could change what ``path`` is, or None. Walks it as the
    kernel does, following links, and checks every entry it passes."""
    if not path.is_absolute():
        return f"{str(path)!r} is not an absolute path (it would be the current directory's)"
    here = Path("/")
    names = path.parts[1:]
    reason = entry_problem(here, here.lstat(), last and not names)
    for index, name in enumerate(names):
        if reason:
            return reason
        at_end = last and index == len(names) - 1
        entry = here / name
        try:
            found = entry.lstat()
        except (FileNotFoundError, NotADirectoryError):
            # only whoever may write ``here`` can create it (sticky or not)
            writable = here.stat().st_mode & 0o022
            return f"{entry} does not exist and others may create it" if writable else None
        reason = entry_problem(entry, found, at_end)
        if stat.S_ISLNK(found.st_mode) and not reason:
            if links >= MAX_LINKS:
                return f"{entry} leads through too many symbolic links"
            target = here / os.readlink(entry)
            reason = untrusted(target, links + 1, at_end)
            if reason:
                return reason
            here = target.resolve()
        else:
            here = entry
    return reason


def entry_problem(entry: Path, found: os.stat_result, at_end: bool) -> str | None:
    """Root's, and writable by nobody else (a link's own mode means nothing). On the way,
    a sticky directory (/tmp) will do: others cannot replace root's entries in it; but
    they can add their own, so not at the end, where Python looks for modules."""
    if found.st_uid != 0:
        return f"{entry} belongs to uid {found.st_uid}, not root"
    sticky_dir = stat.S_ISDIR(found.st_mode) and found.st_mode & stat.S_ISVTX and not at_end
    if found.st_mode & 0o022 and not stat.S_ISLNK(found.st_mode) and not sticky_dir:
        return f"{entry} is writable by its group or others"
    return None
