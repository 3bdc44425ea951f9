"""The deploy engine's pure decisions, apart from the I/O that acts on them: how a
process command runs, how many of each process run, which containers are stale, which
images and build cache a prune keeps."""

from __future__ import annotations

import hashlib
import hmac
import re
import shlex
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from hostctl.adapters.docker import CacheRecord, ContainerState
from hostctl.core.errors import HostctlError
from hostctl.core.labels import PROCESS, RELEASE
from hostctl.stack.appjson import QUANTITY
from hostctl.stack.plan import BUILD_MARK, CACHE_DIR
from hostctl.state import App, Release

SHELL_OPERATORS = re.compile(r"&&|\|\||[;|&\n`]|\$\(")
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
KEPT_STATUSES = ("live", "retired")  # releases that served, so a rollback can go back to them


def process_command(command: str) -> tuple[list[str], list[str]]:
    """(entrypoint, arguments) for a Procfile-style command. A plain command is exec'd,
    so the app itself gets SIGTERM and can finish in-flight requests; one with shell
    operators runs as the shell's child."""
    simple = not SHELL_OPERATORS.search(command)
    return ["/bin/sh", "-c"], [f"exec {command}" if simple else command]


def entrypoint_arguments(command: str, env: Mapping[str, str]) -> list[str]:
    """The arguments a Procfile command gives an image's own ENTRYPOINT, as Dokku passes
    them: its words, with $VAR and ${VAR} from the app's env (no shell is run)."""

    def value(match: re.Match[str]) -> str:
        return env.get(match.group(1) or match.group(2), "")

    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise HostctlError(
            f"the command {command!r} cannot be split into arguments ({exc})",
            "close its quotes in the Procfile",
        ) from None
    return [VARIABLE.sub(value, word) for word in words]


def process_counts(
    processes: Iterable[str], formation: Mapping[str, int], scale: Mapping[str, int]
) -> dict[str, int]:
    """How many containers of each process type run: `hostctl scale`, else app.json's
    formation, else one each."""
    return {p: scale.get(p, formation.get(p, 1)) for p in processes}


def parse_scale(arguments: Iterable[str], processes: Iterable[str]) -> dict[str, int]:
    """TYPE=COUNT arguments of `hostctl scale`, checked against the release's types."""
    known = list(processes)
    wanted: dict[str, int] = {}
    for argument in arguments:
        name, equals, count = argument.partition("=")
        if not equals or not count.isdigit():
            raise HostctlError(
                f"{argument!r} is not TYPE=COUNT", "e.g. `hostctl scale APP web=2 worker=0`"
            )
        if name not in known:
            raise HostctlError(
                f"the live release has no {name!r} process (it has {', '.join(known) or 'none'})",
                "scale a process type from the Procfile",
            )
        if int(count) > QUANTITY:
            raise HostctlError(
                f"{name}={count} is too many", f"run at most {QUANTITY} containers of a type"
            )
        wanted[name] = int(count)
    if not wanted:
        raise HostctlError("no TYPE=COUNT given", "e.g. `hostctl scale APP web=2 worker=0`")
    return wanted


def serving_before(current_release: int | None) -> str:
    """How a failed deploy's hint ends: what serves now."""
    if current_release is None:
        return "nothing was serving before, and nothing serves now"
    return f"release {current_release} is still serving"


def stale_containers(app: App, containers: Iterable[ContainerState]) -> list[str]:
    """Containers of other releases than the current one, and web containers that do not
    serve (the serving ones are ``app.serving``)."""
    current = str(app.current_release)
    return [
        c.name
        for c in containers
        if c.name not in app.serving
        and (c.labels.get(RELEASE) != current or c.labels.get(PROCESS) == "web")
    ]


def images_to_remove(tags: Iterable[str], releases: Iterable[Release], keep: int) -> list[str]:
    """The app's image tags that are not those of its last ``keep`` releases that served
    (``releases`` newest first)."""
    served = [r.image for r in releases if r.status in KEPT_STATUSES]
    kept = set(served[:keep])
    return [tag for tag in tags if tag not in kept]


def build_cache_id(app: App) -> str:
    """The id of the app's BuildKit cache mounts (pip, uv, npm, Go). Ids are the engine's,
    shared by every build that names one, so each app has its own: a package's setup.py
    or the app's own Dockerfile could otherwise plant files in another app's caches. Any
    Dockerfile may name any id, so the id has a part no build can know, derived one way
    from the app's webhook secret (not in the image's history; only the app's own build
    output shows it). `hostctl apps purge-cache` moves the app to new ones."""
    generation = f" {app.build_cache_generation}" if app.build_cache_generation else ""
    message = f"build cache{generation}".encode()
    digest = hmac.new(app.webhook_secret.encode(), message, hashlib.sha256)
    return f"hostctl-{app.name}-{digest.hexdigest()[:16]}"


def own_cache(records: Iterable[CacheRecord]) -> list[CacheRecord]:
    """The build cache records of hostctl's builds: the steps of generated Dockerfiles that
    carry BUILD_MARK, the steps built on them, and the cache mounts under CACHE_DIR. The
    rest (other builds on the engine, apps' own Dockerfiles, build contexts) is not
    hostctl's to tell apart, so never pruned by it."""
    found = list(records)
    ours = {r.id for r in found if BUILD_MARK in r.description}
    grown = True
    while grown:  # the steps built on ours, at any depth
        more = {r.id for r in found if ours.intersection(r.parents) and r.id not in ours}
        ours |= more
        grown = bool(more)
    mounts = f"cached mount {CACHE_DIR}/"
    return [r for r in found if r.id in ours or r.description.startswith(mounts)]


def cache_to_prune(
    records: Iterable[CacheRecord], max_age: float, max_size: int, now: datetime
) -> list[str]:
    """Of hostctl's build cache, the records unused for ``max_age`` seconds, then the least
    recently used until the rest fits in ``max_size`` bytes. A record in use stays. Each
    comes before the record it grew on (the engine keeps a record while another grows on
    it, so pruned in batches a parent first would stay), else least recently used first."""
    records = list(records)
    ours = sorted((r for r in own_cache(records) if not r.in_use), key=lambda r: r.last_used)
    old = {r.id for r in ours if (now - last_used(r)).total_seconds() > max_age}
    size = sum(r.size for r in ours if r.id not in old)
    for record in ours:
        if size <= max_size:
            break
        if record.id not in old:
            old.add(record.id)
            size -= record.size
    by_id = {r.id: r for r in records}
    depths: dict[str, int] = {}

    def depth(record: CacheRecord, seen: frozenset[str] = frozenset()) -> int:
        """How many records it was built on, by its longest chain (a cycle ends it)."""
        if record.id not in depths:
            above = [by_id[p] for p in record.parents if p in by_id and p not in seen]
            depths[record.id] = max((1 + depth(p, seen | {record.id}) for p in above), default=0)
        return depths[record.id]

    chosen = (r for r in ours if r.id in old)
    return [r.id for r in sorted(chosen, key=lambda r: (-depth(r), last_used(r), r.id))]


def last_used(record: CacheRecord) -> datetime:
    """The engine's RFC 3339 time (nanoseconds cut to what Python reads)."""
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", record.last_used).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: as old as can be
