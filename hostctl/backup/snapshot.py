"""Finding the SQLite databases in /data, and copying them the way SQLite allows.

A live SQLite file copied byte by byte can be torn mid-transaction, so databases are never
copied as files: each one is snapshotted with the online backup API in a single step,
through a read-only connection. In WAL mode the app keeps writing meanwhile (readers do
not block writers); with a rollback journal its writers wait on their busy_timeout.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hostctl.core.errors import HostctlError

SQLITE_HEADER = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm", "-journal")  # a snapshot replaces these
LITESTREAM_STATE = "-litestream"  # `.NAME-litestream`: Litestream's local state, not data
BUSY_TIMEOUT = 60.0


@dataclass
class Tree:
    """What /data holds, by path relative to it: directories parents first."""

    directories: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    symlinks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # sockets, fifos, devices


def is_database(root: Path, name: str) -> bool:
    """Is ``name`` (under ``root``) an SQLite file? Opened without following links and
    without blocking, so a file the app swapped for a link, a FIFO or a device since the
    scan is never opened as root."""
    try:
        with open_beneath(root, name) as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except (OSError, HostctlError):
        return False


def scan(root: Path) -> Tree:
    tree = Tree()
    walk(root, "", tree)
    databases = set(tree.databases)
    tree.files = [
        f
        for f in tree.files
        if not any(f.endswith(s) and f.removesuffix(s) in databases for s in COMPANIONS)
    ]
    return tree


def walk(root: Path, prefix: str, tree: Tree) -> None:
    with os.scandir(root / prefix if prefix else root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            relative = f"{prefix}{entry.name}"
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                tree.symlinks.append(relative)
            elif stat.S_ISDIR(mode):
                if entry.name.startswith(".") and entry.name.endswith(LITESTREAM_STATE):
                    continue
                tree.directories.append(relative)
                walk(root, f"{relative}/", tree)
            elif not stat.S_ISREG(mode):
                tree.skipped.append(relative)
            elif is_database(root, relative):
                tree.databases.append(relative)
            else:
                tree.files.append(relative)


def open_beneath(root: Path, name: str) -> BinaryIO:
    """Open the regular file ``name`` under ``root`` for reading, following no symlink on
    the way: the app may have swapped a scanned file or directory for a link to a host
    file since the scan, and hostctl reads as root."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        *directories, last = name.split("/")
        for part in directories:
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        found = os.open(last, flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise changed(name) from None
    finally:
        os.close(fd)
    file = os.fdopen(found, "rb")
    if not stat.S_ISREG(os.fstat(found).st_mode):
        file.close()
        raise changed(name)
    return file


def changed(name: str) -> HostctlError:
    return HostctlError(
        f"{name} in /data changed into a link or a special file while it was backed up",
        "run the backup again; hostctl never follows links out of an app's volume",
    )


def snapshot(source: Path, target: Path, name: str) -> None:
    """A consistent copy of the live database ``source`` at ``target``, in one step."""
    try:
        # nofollow=1: SQLite refuses a database that is a link (one swapped in since the scan)
        live = sqlite3.connect(
            f"{source.as_uri()}?mode=ro&nofollow=1", uri=True, timeout=BUSY_TIMEOUT
        )
        copy = sqlite3.connect(target)
        try:
            copy.execute("PRAGMA journal_mode=OFF")  # a scratch file: no journal needed
            copy.execute("PRAGMA synchronous=OFF")  # the archive is synced, not this
            live.backup(copy, pages=-1)  # one step: one read transaction, one version
        finally:
            copy.close()
            live.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise OSError(28, "No space left on device", str(target)) from exc
        raise HostctlError(
            f"could not snapshot the database {name}: {exc}",
            "check the app is not holding a write lock for long, then run the backup again",
        ) from exc


def integrity(path: Path) -> str:
    """``ok``, or what PRAGMA integrity_check found wrong with the database at ``path``."""
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows]
    return "ok" if problems == ["ok"] else "; ".join(problems[:5])
