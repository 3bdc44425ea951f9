"""The offsite target (any S3-compatible store) and the copies of backups kept there.

The target is server config: ``offsite.json`` under HOSTCTL_ETC, created 0600 because it
holds the secret key. In the bucket, each backup is two objects under ``PREFIX/APP/``:
the archive ``ID.tar.gz``, then the sidecar ``ID.json`` (its manifest and SHA-256). The
sidecar is written last, so a backup without one is an interrupted upload: it is not
listed, and the next sync removes or replaces it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hostctl.adapters.s3 import ObjectStore
from hostctl.backup.config import Retention
from hostctl.backup.retention import to_keep
from hostctl.core.errors import HostctlError
from hostctl.core.names import LOOPBACK_HOSTS
from hostctl.core.private_files import read_private, write_private
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.backups import BackupRecord, backups, set_offsite
from hostctl.state.store import now

ARCHIVE = ".tar.gz"
SIDECAR = ".json"
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class Target:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    prefix: str = ""

    def store(self) -> ObjectStore:
        return ObjectStore(
            self.endpoint, self.bucket, self.access_key_id, self.secret_access_key, self.region
        )

    def folder(self, app: str) -> str:
        return f"{self.prefix}{app}/"

    def archive_key(self, app: str, backup_id: str) -> str:
        return f"{self.folder(app)}{backup_id}{ARCHIVE}"

    def sidecar_key(self, app: str, backup_id: str) -> str:
        return f"{self.folder(app)}{backup_id}{SIDECAR}"

    def shown(self) -> dict[str, str]:
        """What `offsite show` prints: the secret never, the key id only in part."""
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "region": self.region,
            "prefix": self.prefix,
            "access_key_id": f"{self.access_key_id[:4]}…" if self.access_key_id else "",
            "secret_access_key": "********",
        }


@dataclass(frozen=True)
class OffsiteCopy:
    """A complete backup in the bucket, as its sidecar describes it."""

    id: str
    created_at: str
    size: int
    sha256: str
    databases: tuple[str, ...]
    release: int | None


def target_path(settings: Settings) -> Path:
    return settings.paths.offsite


def load_target(settings: Settings) -> Target | None:
    return read_private(
        target_path(settings),
        lambda data: Target(**data),
        "offsite target",
        "run `hostctl offsite set ...` again",
    )


def require_target(settings: Settings) -> Target:
    target = load_target(settings)
    if target is None:
        raise HostctlError(
            "no offsite target is set",
            "set one: `hostctl offsite set --endpoint URL --bucket B --access-key-id K "
            "--secret-access-key S`",
        )
    return target


def make_target(
    endpoint: str,
    bucket: str,
    access_key_id: str,
    secret_access_key: str,
    region: str | None,
    prefix: str | None,
) -> Target:
    check_endpoint(endpoint)
    if not BUCKET.fullmatch(bucket):
        raise HostctlError(
            f"invalid bucket name {bucket!r}",
            "bucket names are 3-63 lowercase letters, digits, dots and dashes",
        )
    if not access_key_id or not secret_access_key:
        raise HostctlError("the access key id and secret must not be empty", "pass both")
    folder = (prefix or "").strip("/")
    return Target(
        endpoint=endpoint.rstrip("/"),
        bucket=bucket,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region or "us-east-1",
        prefix=f"{folder}/" if folder else "",
    )


def check_endpoint(endpoint: str) -> None:
    """An https URL with a host; plain http only on loopback (a local MinIO), as for
    GitHub's API URL: the credentials and the backups must not cross a network in clear."""
    example = "give the store's URL, e.g. https://ACCOUNT.r2.cloudflarestorage.com"
    try:
        url = urlparse(endpoint)
        host = url.hostname
        url.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise HostctlError(f"invalid endpoint {endpoint!r}: {exc}", example) from None
    if url.scheme not in ("http", "https") or not host:
        raise HostctlError(f"invalid endpoint {endpoint!r}", example)
    if url.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise HostctlError(
            f"the endpoint {endpoint!r} is plain http: the keys and backups would cross the "
            "network unencrypted",
            "use its https:// URL (plain http is only accepted on 127.0.0.1, ::1 or localhost)",
        )


def save_target(settings: Settings, target: Target) -> None:
    write_private(target_path(settings), asdict(target))


# copies in the bucket


def offsite_copies(
    target: Target, app: str, known: dict[str, BackupRecord]
) -> tuple[dict[str, OffsiteCopy], set[str]]:
    """The app's complete backups in the bucket, and the keys of incomplete uploads.

    Sidecars are read only for backups this box has no record of (e.g. a rebuilt box).
    """
    store = target.store()
    folder = target.folder(app)
    listed = store.objects(folder)
    objects = {o.key: o.size for o in listed if "/" not in o.key.removeprefix(folder)}
    copies: dict[str, OffsiteCopy] = {}
    for key in objects:
        if not key.endswith(SIDECAR):
            continue
        backup_id = key.removeprefix(folder).removesuffix(SIDECAR)
        archive = target.archive_key(app, backup_id)
        if archive not in objects:
            continue
        record = known.get(backup_id)
        if record is not None:
            copies[backup_id] = OffsiteCopy(
                backup_id,
                record.created_at,
                objects[archive],
                record.sha256,
                record.databases,
                record.release,
            )
        else:
            copies[backup_id] = read_sidecar(store, key, backup_id)
    complete = {target.archive_key(app, i) for i in copies} | {
        target.sidecar_key(app, i) for i in copies
    }
    return copies, set(objects) - complete


def read_sidecar(store: ObjectStore, key: str, backup_id: str) -> OffsiteCopy:
    """What the sidecar at ``key`` says of its backup; a HostctlError if it is not one."""
    data = store.get_bytes(key)
    try:
        return copy_from_sidecar(json.loads(data), backup_id)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc)
        raise HostctlError(
            f"the offsite sidecar {key} is not a hostctl backup sidecar ({problem})",
            f"remove {key} and its archive from the bucket (or put the right sidecar back), "
            "then run the command again",
        ) from None


def copy_from_sidecar(sidecar: dict[str, Any], backup_id: str) -> OffsiteCopy:
    release = sidecar.get("release")
    if release is not None and not isinstance(release, int):
        raise TypeError(f"release is {release!r}, not a number")
    created_at = str(sidecar["created_at"])
    datetime.fromisoformat(created_at)  # raises ValueError if it is not a time
    return OffsiteCopy(
        id=backup_id,
        created_at=created_at,
        size=int(sidecar["archive"]["size"]),
        sha256=str(sidecar["archive"]["sha256"]),
        databases=tuple(str(db) for db in sidecar.get("databases", [])),
        release=release,
    )


def sync_app(store: Store, target: Target, app: str, folder: Path, policy: Retention) -> list[str]:
    """Upload the app's local backups missing offsite, then apply retention there.

    Leftovers of interrupted uploads are removed first, so a failure leaves nothing
    half-written in the bucket, and running it again finishes the job.
    """
    bucket = target.store()
    lines = []
    aborted = bucket.abort_uploads(target.folder(app))
    if aborted:
        lines.append(f"aborted {aborted} unfinished upload(s)")
    records = {r.id: r for r in backups(store, app)}
    copies, stray = offsite_copies(target, app, records)
    for backup_id, record in records.items():
        if record.offsite_at and backup_id not in copies:
            set_offsite(store, backup_id, None)  # removed from the bucket by someone else
    pending = [r for r in records.values() if r.local and r.id not in copies]
    if stray:
        bucket.delete(sorted(stray))
    for record in sorted(pending, key=lambda r: r.created_at):
        archive = folder / f"{record.id}{ARCHIVE}"
        sidecar = folder / f"{record.id}{SIDECAR}"
        if not archive.exists() or not sidecar.exists():
            continue
        bucket.put_file(target.archive_key(app, record.id), archive, {"sha256": record.sha256})
        bucket.put_bytes(target.sidecar_key(app, record.id), sidecar.read_bytes())
        set_offsite(store, record.id, now())
        copies[record.id] = OffsiteCopy(
            record.id, record.created_at, record.size, record.sha256, record.databases, None
        )
        lines.append(f"uploaded {record.id} offsite")
    keep = to_keep([(c.id, datetime.fromisoformat(c.created_at)) for c in copies.values()], policy)
    for backup_id in sorted(set(copies) - keep):
        bucket.delete(
            [target.sidecar_key(app, backup_id), target.archive_key(app, backup_id)]
        )  # sidecar first: an interrupted delete leaves a stray archive, cleaned next time
        set_offsite(store, backup_id, None)
        lines.append(f"pruned {backup_id} offsite")
    return lines


def download(target: Target, app: str, backup_id: str, destination: Path) -> OffsiteCopy:
    """Fetch a backup's archive from the bucket; returns what its sidecar says about it."""
    bucket = target.store()
    copy = read_sidecar(bucket, target.sidecar_key(app, backup_id), backup_id)
    bucket.get_file(target.archive_key(app, backup_id), destination)
    return copy


def configure(settings: Settings, target: Target, check: bool) -> None:
    """Save the target, after proving it works unless told not to (nothing saved then)."""
    if check:
        target.store().check()
    save_target(settings, target)


def check_target(settings: Settings) -> Target:
    target = require_target(settings)
    target.store().check()
    return target
