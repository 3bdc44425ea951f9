"""Procfile parsing, the way Heroku reads it."""

from __future__ import annotations

import re

from hostctl.core.errors import HostctlError

LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.+)$")


def parse_procfile(text: str) -> dict[str, str]:
    """Process types to commands. Comments, blank lines and odd spacing are allowed."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if not match:
            raise HostctlError(
                f"Procfile line {number}: expected `type: command`, got {raw.strip()!r}",
                "each line names a process type and its command, e.g. `web: gunicorn app:app`",
            )
        processes[match.group(1).lower()] = match.group(2).strip()
    return processes
