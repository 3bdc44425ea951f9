"""Typed access to the state database: apps, env, releases and the audit log."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.state.migrations import migrate, pending

IN_PROGRESS = ("building", "releasing", "starting")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class App:
    name: str
    created_at: str
    hostnames: tuple[str, ...]
    current_release: int | None
    web_container: str | None
    repo: str | None = None  # where deploys fetch from: a git URL
    branch: str = "main"  # pushes to this branch deploy
    webhook_secret: str = ""
    github: dict[str, Any] = field(default_factory=dict)  # what hostctl made on GitHub
    volume: str | None = None  # the /data volume, when a restore moved the app off the default
    scale: dict[str, int] = field(default_factory=dict)  # `hostctl scale`: containers per type
    web_containers: tuple[str, ...] = ()  # all that serve; web_container is the first
    build_cache_generation: int = 0  # bumped by `hostctl apps purge-cache`

    @property
    def serving(self) -> tuple[str, ...]:
        """The web containers the edge sends requests to."""
        if self.web_containers:
            return self.web_containers
        return (self.web_container,) if self.web_container else ()


@dataclass(frozen=True)
class Release:
    app: str
    number: int
    kind: str
    status: str
    trigger: str
    created_at: str
    source: str | None = None
    commit_sha: str | None = None
    image: str | None = None
    spec: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    finished_at: str | None = None

    def to_json(self, current: bool) -> dict[str, Any]:
        """What `hostctl releases --json` prints; env values never, only their keys."""
        return {
            "number": self.number,
            "kind": self.kind,
            "status": self.status,
            "current": current,
            "trigger": self.trigger,
            "source": self.source,
            "commit": self.commit_sha,
            "image": self.image,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "timings": self.timings,
            "env_keys": sorted(self.env),
        }


def open_database(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Created 0600 before SQLite opens it: the database holds app secrets.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        # Each of the agent's threads holds a connection, and each would cache up to 2 MiB
        # of pages as the database grows (20 MiB for ten after a scan of a 43 MB one);
        # the kernel's page cache serves re-reads as well.
        db.execute("PRAGMA cache_size=-256")  # KiB
    except sqlite3.Error as exc:
        raise HostctlError(
            f"cannot open the state database {path}: {exc}",
            "check that HOSTCTL_ROOT points at a writable directory and the disk is not full",
        ) from exc
    db.row_factory = sqlite3.Row
    return db


def open_read_only(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(
            f"{path.as_uri()}?mode=ro",
            uri=True,
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
        )
        db.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as exc:
        raise HostctlError(
            f"cannot read the state database {path}: {exc}",
            "check that HOSTCTL_ROOT points at hostctl's state and that you may read it",
        ) from exc
    db.row_factory = sqlite3.Row
    return db


class Store:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """``read_only`` (doctor, status): a connection that cannot write, not even the
        checkpoint SQLite makes when the last connection closes; a database that does not
        exist yet or needs a migration is opened as usual."""
        self.path = path
        if read_only and path.exists():
            self.db = open_read_only(path)
            if not pending(self.db):
                return
            self.db.close()
        self.db = open_database(path)
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # apps

    def insert_app(
        self, name: str, hostnames: list[str], repo: str | None = None, branch: str = "main"
    ) -> App:
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM apps WHERE name = ?", (name,)).fetchone():
                raise HostctlError(
                    f"app {name!r} already exists",
                    f"deploy it with `hostctl deploy {name} PATH`, or pick another name",
                )
            db.execute(
                "INSERT INTO apps (name, created_at, hostnames, repo, branch, webhook_secret)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, now(), json.dumps(hostnames), repo, branch, secrets.token_hex(32)),
            )
        return self.app(name)

    def find_app(self, name: str) -> App | None:
        row = self.db.execute("SELECT * FROM apps WHERE name = ?", (name,)).fetchone()
        return app_from_row(row) if row else None

    def app(self, name: str) -> App:
        found = self.find_app(name)
        if found is None:
            raise HostctlError(
                f"no app named {name!r}",
                f"list apps with `hostctl apps`, or create it with `hostctl apps create {name}`",
            )
        return found

    def apps(self) -> list[App]:
        return [app_from_row(r) for r in self.db.execute("SELECT * FROM apps ORDER BY name")]

    def set_hostnames(self, name: str, hostnames: list[str]) -> None:
        self.db.execute(
            "UPDATE apps SET hostnames = ? WHERE name = ?", (json.dumps(hostnames), name)
        )

    def set_repo(self, name: str, repo: str | None, branch: str) -> None:
        self.db.execute("UPDATE apps SET repo = ?, branch = ? WHERE name = ?", (repo, branch, name))

    def set_github(self, name: str, github: dict[str, Any]) -> None:
        self.db.execute("UPDATE apps SET github = ? WHERE name = ?", (json.dumps(github), name))

    def new_build_cache_generation(self, name: str) -> None:
        self.db.execute(
            "UPDATE apps SET build_cache_generation = build_cache_generation + 1 WHERE name = ?",
            (name,),
        )

    def set_volume(self, name: str, volume: str | None) -> None:
        self.db.execute("UPDATE apps SET volume = ? WHERE name = ?", (volume, name))

    def delete_app(self, name: str) -> None:
        self.db.execute("DELETE FROM apps WHERE name = ?", (name,))

    # env

    def env(self, app: str) -> dict[str, str]:
        rows = self.db.execute("SELECT key, value FROM env WHERE app = ? ORDER BY key", (app,))
        return {r["key"]: r["value"] for r in rows}

    def replace_env(self, app: str, env: dict[str, str]) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM env WHERE app = ?", (app,))
            db.executemany(
                "INSERT INTO env (app, key, value) VALUES (?, ?, ?)",
                [(app, k, v) for k, v in env.items()],
            )

    def add_env(self, app: str, env: dict[str, str]) -> list[str]:
        """Set the keys the app has no value for; returns those that were set."""
        added = []
        with self.transaction() as db:
            for key, value in env.items():
                found = db.execute(
                    "INSERT OR IGNORE INTO env (app, key, value) VALUES (?, ?, ?)",
                    (app, key, value),
                )
                if found.rowcount:
                    added.append(key)
        return added

    # releases

    def new_release(self, app: str, kind: str, trigger: str, **fields: Any) -> Release:
        with self.transaction() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM releases WHERE app = ?", (app,)
            ).fetchone()
            number = int(row[0])
            db.execute(
                "INSERT INTO releases (app, number, kind, status, trigger, created_at)"
                " VALUES (?, ?, ?, 'building', ?, ?)",
                (app, number, kind, trigger, now()),
            )
        if fields:
            self.update_release(app, number, **fields)
        return self.release(app, number)

    def update_release(self, app: str, number: int, **fields: Any) -> None:
        encoded = {
            key: json.dumps(value) if key in ("spec", "env", "timings") else value
            for key, value in fields.items()
        }
        columns = ", ".join(f"{key} = ?" for key in encoded)
        self.db.execute(
            f"UPDATE releases SET {columns} WHERE app = ? AND number = ?",  # noqa: S608 (keys are ours)
            (*encoded.values(), app, number),
        )

    def find_release(self, app: str, number: int) -> Release | None:
        row = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND number = ?", (app, number)
        ).fetchone()
        return release_from_row(row) if row else None

    def release(self, app: str, number: int) -> Release:
        found = self.find_release(app, number)
        if found is None:
            raise HostctlError(
                f"app {app!r} has no release {number}",
                f"list its releases with `hostctl releases {app}`",
            )
        return found

    def releases(self, app: str) -> list[Release]:
        rows = self.db.execute("SELECT * FROM releases WHERE app = ? ORDER BY number DESC", (app,))
        return [release_from_row(r) for r in rows]

    def release_count(self, app: str, kind: str) -> int:
        found = self.db.execute(
            "SELECT COUNT(*) FROM releases WHERE app = ? AND kind = ?", (app, kind)
        ).fetchone()
        return int(found[0])

    def unfinished_releases(self) -> list[Release]:
        marks = ",".join("?" * len(IN_PROGRESS))
        rows = self.db.execute(
            f"SELECT * FROM releases WHERE status IN ({marks})",  # noqa: S608
            IN_PROGRESS,
        )
        return [release_from_row(r) for r in rows]

    def make_live(self, app: str, number: int, web_containers: list[str]) -> None:
        """The commit point of a swap: the release and its web containers now serve the app
        (none: an app with no web process)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE releases SET status = 'retired' WHERE app = ? AND status = 'live'"
                " AND number != ?",
                (app, number),
            )
            db.execute(
                "UPDATE apps SET current_release = ?, web_container = ?, web_containers = ?"
                " WHERE name = ?",
                (
                    number,
                    web_containers[0] if web_containers else None,
                    json.dumps(web_containers),
                    app,
                ),
            )
            db.execute(
                "UPDATE releases SET status = 'live', finished_at = COALESCE(finished_at, ?)"
                " WHERE app = ? AND number = ?",
                (now(), app, number),
            )

    def set_web_containers(self, app: str, web_containers: list[str]) -> None:
        self.db.execute(
            "UPDATE apps SET web_container = ?, web_containers = ? WHERE name = ?",
            (next(iter(web_containers), None), json.dumps(web_containers), app),
        )

    def set_scale(self, app: str, scale: dict[str, int]) -> None:
        self.db.execute("UPDATE apps SET scale = ? WHERE name = ?", (json.dumps(scale), app))

    def fail_release(self, app: str, number: int, error: str) -> None:
        """A release that went live stays so: what fails after the switch is not its own."""
        self.db.execute(
            "UPDATE releases SET status = 'failed', error = ?, finished_at = ?"
            " WHERE app = ? AND number = ? AND status NOT IN ('live', 'retired')",
            (error, now(), app, number),
        )

    # audit

    def audit(self, action: str, app: str | None = None, detail: str = "") -> None:
        actor = os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
        self.db.execute(
            "INSERT INTO audit (at, actor, action, app, detail) VALUES (?, ?, ?, ?, ?)",
            (now(), actor, action, app, detail),
        )


def app_from_row(row: sqlite3.Row) -> App:
    return App(
        name=row["name"],
        created_at=row["created_at"],
        hostnames=tuple(json.loads(row["hostnames"])),
        current_release=row["current_release"],
        web_container=row["web_container"],
        repo=row["repo"],
        branch=row["branch"],
        webhook_secret=row["webhook_secret"],
        github=json.loads(row["github"]),
        volume=row["volume"],
        scale=json.loads(row["scale"]),
        web_containers=tuple(json.loads(row["web_containers"])),
        build_cache_generation=row["build_cache_generation"],
    )


def release_from_row(row: sqlite3.Row) -> Release:
    return Release(
        app=row["app"],
        number=row["number"],
        kind=row["kind"],
        status=row["status"],
        trigger=row["trigger"],
        created_at=row["created_at"],
        source=row["source"],
        commit_sha=row["commit_sha"],
        image=row["image"],
        spec=json.loads(row["spec"]) if row["spec"] else None,
        env=json.loads(row["env"]),
        error=row["error"],
        timings=json.loads(row["timings"]),
        finished_at=row["finished_at"],
    )
