"""The backup steps: the schedule is on (the agent runs it), and the offsite target is the
one setup was given, ``s3://KEY_ID@HOST[:PORT]/BUCKET[/PREFIX]``, with the secret from
HOSTCTL_OFFSITE_SECRET (never argv). The store is checked before the target is saved."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from hostctl.backup.config import backup_config
from hostctl.backup.offsite import Target, configure, load_target, make_target
from hostctl.core.errors import HostctlError
from hostctl.core.names import LOOPBACK_HOSTS
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.steps import Step

SECRET_ENV = "HOSTCTL_OFFSITE_SECRET"  # noqa: S105 (the variable's name, not a secret)
FORM = "s3://KEY_ID@HOST[:PORT]/BUCKET[/PREFIX]"


def steps(settings: Settings, answers: Answers, secret: str | None = None) -> list[Step]:
    found = [
        Step(
            name="backup schedule",
            goal=f"backup/schedule in {settings.paths.server_config} is not off "
            "(default: hourly; the agent runs it)",
            check=lambda: backup_config(settings).interval is not None,
            apply=lambda: schedule_off(settings),
        )
    ]
    if answers.offsite is None:
        return found
    endpoint, bucket, key_id, prefix = parse_offsite(answers.offsite)
    given = secret if secret is not None else os.environ.get(SECRET_ENV)

    def wanted() -> Target:
        if not given:
            raise HostctlError(
                f"no secret key for the offsite store {endpoint}",
                f"put it in the environment variable {SECRET_ENV} (never on the command "
                "line), then run `hostctl setup` again",
            )
        return make_target(endpoint, bucket, key_id, given, None, prefix)

    def in_place() -> bool:
        saved = load_target(settings)
        if saved is None:
            return False
        if given:
            return saved == wanted()
        # Without the secret, the saved one is kept if the rest matches.
        return (saved.endpoint, saved.bucket, saved.access_key_id, saved.prefix) == (
            endpoint,
            bucket,
            key_id,
            f"{prefix}/" if prefix else "",
        )

    found.append(
        Step(
            name="offsite target",
            goal=f"backups are copied to {bucket} at {endpoint} (checked, then saved 0600 in "
            f"{settings.paths.offsite})",
            check=in_place,
            apply=lambda: configure(settings, wanted(), check=True),
        )
    )
    return found


def parse_offsite(text: str) -> tuple[str, str, str, str]:
    """(endpoint URL, bucket, access key id, prefix). The endpoint is https, or plain http
    on loopback (a local MinIO), as `offsite set` accepts."""
    url = urlparse(text.strip())
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = None
    bucket, _, prefix = url.path.strip("/").partition("/")
    if url.scheme != "s3" or not url.username or not host or not bucket or url.password:
        raise HostctlError(
            # not echoed: it may hold a secret typed where it does not belong
            f"the offsite target is not of the form {FORM}",
            f"e.g. s3://AKIA…@ACCOUNT.r2.cloudflarestorage.com/backups; the secret goes in "
            f"{SECRET_ENV}",
        )
    scheme = "http" if host in LOOPBACK_HOSTS else "https"
    address = f"[{host}]" if ":" in host else host
    endpoint = f"{scheme}://{address}" + (f":{port}" if port else "")
    return endpoint, bucket, url.username, prefix.strip("/")


def schedule_off(settings: Settings) -> None:
    raise HostctlError(
        f"scheduled backups are off (backup/schedule in {settings.paths.server_config})",
        "remove `schedule: off` there (the default is hourly) or set an interval, then run "
        "`hostctl setup` again",
    )
