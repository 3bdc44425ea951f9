"""Small JSON files that hold secrets (API tokens, S3 keys): written atomically and 0600,
read back into typed settings with one clear error when they are damaged."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hostctl.core.errors import HostctlError

T = TypeVar("T")


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically, readable by the owner only."""
    write_private_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_private_text(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (created 0600, never wider): the old
    file stays whole until the new one is on disk, even when the disk is full."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # a fresh name per writer (O_EXCL, 0600): two threads of the agent never share one
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def read_private(path: Path, build: Callable[[Any], T], what: str, hint: str) -> T | None:
    """``build(the file's JSON)``; None when there is no file, an error when it is damaged."""
    if not path.exists():
        return None
    try:
        return build(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise HostctlError(f"{path} is not a valid {what}", hint) from exc
