"""Litestream mode: continuous replication of an app's databases to the offsite target.

Litestream runs as a supervised host process per app, not as a sidecar container: it
needs no image (none can be pulled on a box without a registry, and there is no extra
image to trust), it reads the volume at its Mountpoint exactly as snapshots do, and a
restore that moves the app to a new volume only has to restart it. The agent supervises
it through ``run_due_backups``: started when the mode is on, restarted when it died or the
app's databases or volume changed, stopped when the mode is turned off. Both the agent and
a restore start it only under the app's backup lock, so it never runs twice for one app;
the agent skips an app whose lock is held and looks again the next minute.

Each volume is its own lineage in the bucket (``PREFIX/APP/litestream/VOLUME/DB``): after
a restore the databases start a new history instead of colliding with the old one, and
``restore --at`` knows from the volume moves which lineage was live at that time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hostctl.adapters import litestream
from hostctl.backup.config import BackupConfig
from hostctl.backup.offsite import Target, load_target
from hostctl.backup.snapshot import scan
from hostctl.backup.volumes import volume_path
from hostctl.core.errors import HostctlError
from hostctl.core.locks import try_lock
from hostctl.core.templates import render
from hostctl.host import Host
from hostctl.state.backups import lineage, moves, set_lineage


@dataclass(frozen=True)
class Plan:
    """What `litestream replicate` runs with for one app."""

    app: str
    volume: str
    databases: list[str]  # relative to /data
    config: str
    config_path: Path


def replica_path(target: Target, app: str, volume: str, database: str) -> str:
    return f"{target.prefix}{app}/litestream/{volume}/{database}"


def render_config(target: Target, app: str, volume: str, root: Path, databases: list[str]) -> str:
    return render(
        "litestream.yml",
        app=app,
        volume=volume,
        endpoint=target.endpoint,
        region=target.region,
        bucket=target.bucket,
        databases=[
            {"path": str(root / db), "replica": replica_path(target, app, volume, db)}
            for db in databases
        ],
    )


def state_dir(host: Host) -> Path:
    return host.settings.paths.litestream


def plan(host: Host, app: str, target: Target) -> Plan:
    volume = host.volume(app)
    root = volume_path(host, volume)
    databases = scan(root).databases
    return Plan(
        app=app,
        volume=volume,
        databases=databases,
        config=render_config(target, app, volume, root, databases),
        config_path=state_dir(host) / f"{app}.yml",
    )


def pid_file(host: Host, app: str) -> Path:
    return state_dir(host) / f"{app}.pid"


def read_pid(host: Host, app: str) -> tuple[int, str] | None:
    """The pid of the app's litestream and the SHA-256 of the config it was started with."""
    try:
        data = json.loads(pid_file(host, app).read_text())
        return int(data["pid"]), str(data["config"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_replicating(host: Host, app: str, target: Target) -> str | None:
    """Start or restart the app's litestream when needed; a line saying what was done."""
    litestream_binary = litestream.require_binary()
    wanted = plan(host, app, target)
    if not wanted.databases:
        return stop_replicating(host, app)
    digest = hashlib.sha256(wanted.config.encode()).hexdigest()
    current = read_pid(host, app)
    alive = current is not None and litestream.running(current[0], wanted.config_path)
    if current is not None and alive and current[1] == digest:
        return None
    if current is not None and alive:
        litestream.stop(current[0], wanted.config_path)
    wanted.config_path.write_text(wanted.config)
    known = lineage(host.store, app, wanted.volume) or []
    set_lineage(host.store, app, wanted.volume, sorted(set(known) | set(wanted.databases)))
    pid = litestream.start(
        litestream.replicate_argv(litestream_binary, wanted.config_path),
        litestream.environment(target.access_key_id, target.secret_access_key),
        state_dir(host) / f"{app}.log",
    )
    pid_file(host, app).write_text(json.dumps({"pid": pid, "config": digest}))
    verb = "restarted" if current is not None else "started"
    return (
        f"{app}: {verb} Litestream replication of {len(wanted.databases)} database(s) "
        f"from {wanted.volume} (pid {pid})"
    )


def stop_replicating(host: Host, app: str) -> str | None:
    current = read_pid(host, app)
    if current is None:
        return None
    config = state_dir(host) / f"{app}.yml"
    was_running = litestream.running(current[0], config)
    litestream.stop(current[0], config)
    pid_file(host, app).unlink(missing_ok=True)
    return f"{app}: stopped Litestream replication" if was_running else None


def supervise(host: Host, config: BackupConfig) -> list[str]:
    """Make every app's litestream match the config; a line per change."""
    target = load_target(host.settings)
    apps = host.store.apps()
    lines = []
    names = {app.name for app in apps}
    for pid in state_dir(host).glob("*.pid"):
        if pid.stem not in names and (line := stop_replicating(host, pid.stem)):
            lines.append(line)  # the app was destroyed
    for app in apps:
        with try_lock(host.settings.paths.backup_lock(app.name)) as free:
            if not free:
                continue  # a restore (which restarts it itself) or a backup: next minute
            line = supervise_app(host, app.name, target, config)
        if line:
            lines.append(line)
    return lines


def supervise_app(host: Host, app: str, target: Target | None, config: BackupConfig) -> str | None:
    """Start, restart or stop one app's litestream; called with its backup lock held."""
    wanted = target is not None and config.uses_litestream(app)
    try:
        if wanted and litestream.binary() is not None:
            assert target is not None
            return ensure_replicating(host, app, target)
        if not wanted:
            return stop_replicating(host, app)
        return None  # reported by each scheduled backup, not every minute
    except HostctlError as exc:
        return f"{app}: Litestream replication is not running: {exc.message}"
    except OSError as exc:  # e.g. the binary is not executable: report, do not stop the agent
        return f"{app}: Litestream replication is not running: {exc}"


def volume_at(host: Host, app: str, at: datetime) -> str:
    """The volume the app was on at ``at``, from the moves restores and undos made."""
    history = moves(host.store, app)
    volume = history[0].from_volume if history else host.volume(app)
    for move in history:
        if datetime.fromisoformat(move.at) <= at:
            volume = move.to_volume
    return volume
