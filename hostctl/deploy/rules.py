"""The deploy engine's pure decisions, apart from the I/O that acts on them: how a
process command runs, which containers are stale, which images a prune keeps."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hostctl.adapters.docker import ContainerState
from hostctl.core.labels import PROCESS, RELEASE
from hostctl.state import App, Release

SHELL_OPERATORS = re.compile(r"&&|\|\||[;|&\n`]|\$\(")
KEPT_STATUSES = ("live", "retired")  # releases that served, so a rollback can go back to them


def process_command(command: str) -> tuple[list[str], list[str]]:
    """(entrypoint, arguments) for a Procfile-style command. A plain command is exec'd,
    so the app itself gets SIGTERM and can finish in-flight requests; one with shell
    operators runs as the shell's child."""
    simple = not SHELL_OPERATORS.search(command)
    return ["/bin/sh", "-c"], [f"exec {command}" if simple else command]


def stale_containers(app: App, containers: Iterable[ContainerState]) -> list[str]:
    """Containers of other releases than the current one, and web containers that do not
    serve (the serving one is ``app.web_container``)."""
    current = str(app.current_release)
    return [
        c.name
        for c in containers
        if c.name != app.web_container
        and (c.labels.get(RELEASE) != current or c.labels.get(PROCESS) == "web")
    ]


def images_to_remove(tags: Iterable[str], releases: Iterable[Release], keep: int) -> list[str]:
    """The app's image tags that are not those of its last ``keep`` releases that served
    (``releases`` newest first)."""
    served = [r.image for r in releases if r.status in KEPT_STATUSES]
    kept = set(served[:keep])
    return [tag for tag in tags if tag not in kept]
