"""hostctl backup, backups, restore, offsite."""

from __future__ import annotations

import click

from hostctl.cli.context import open_host
from hostctl.cli.render import TerminalReporter, console, print_json, read_secret, table
from hostctl.core.errors import HostctlError


def size(n: int) -> str:
    for power, unit in ((3, "GB"), (2, "MB"), (1, "KB")):
        if n >= 1000**power:
            return f"{n / 1000**power:.1f} {unit}"
    return f"{n} B"


def report_error(prefix: str, exc: HostctlError, level: str = "Error") -> None:
    click.echo(f"{level}: {prefix}{exc.message}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)


class BackupGroup(click.Group):
    """`hostctl backup APP...` and `hostctl backup --all` mean `hostctl backup create ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=BackupGroup)
def backup() -> None:
    """Back up apps now (`hostctl backup APP... | --all`), or verify backups.

    Every SQLite database in the app's /data is snapshotted online while the app keeps
    writing, and archived with the rest of /data. Schedule, retention and Litestream
    are set in the `backup:` section of hostctl.yml; see docs/backups.md.
    """


@backup.command()
@click.argument("apps", nargs=-1, metavar="APP...")
@click.option("--all", "every", is_flag=True, help="Back up every app.")
def create(apps: tuple[str, ...], every: bool) -> None:
    """Back up APPs now and print each backup id.

    `hostctl backup APP...` and `hostctl backup --all` are short for this.
    """
    from hostctl.backup.create import create_backup

    if bool(apps) == every:
        raise click.UsageError("name the apps to back up, or pass --all")
    host = open_host()
    names = [app.name for app in host.store.apps()] if every else list(apps)
    failed = False
    for name in names:
        try:
            result = create_backup(host, name, "manual", TerminalReporter())
        except HostctlError as exc:
            if len(names) == 1:
                raise
            report_error(f"{name}: ", exc)
            failed = True
            continue
        record = result.record
        if not record.databases:
            click.echo(f"note: no SQLite database in {name}'s /data; its files are backed up")
        for path in result.skipped:
            click.echo(f"note: skipped {path} (not a regular file, or gone)")
        for line in result.offsite:
            click.echo(f"offsite: {line}")
        if result.pruned:
            click.echo(f"pruned: {', '.join(result.pruned)}")
        click.echo(record.id)
        if result.offsite_error:
            report_error("the offsite copy failed: ", result.offsite_error, "Warning")
            click.echo("The backup is kept on this box; the copy is retried next time.", err=True)
            failed = True
    if failed:
        click.get_current_context().exit(1)


@backup.command()
@click.argument("app", required=False)
def verify(app: str | None) -> None:
    """Restore-test the newest backup of APP (default: every app).

    The archive is checked against its SHA-256, restored to a scratch directory, and
    every database in it must pass integrity_check. The result is recorded and shown
    by `hostctl backups`.
    """
    from hostctl.backup.drill import drill_newest

    host = open_host()
    names = [app] if app else [found.name for found in host.store.apps()]
    failed = False
    for name in names:
        host.store.app(name)
        result = drill_newest(host, name, TerminalReporter())
        if result is None:
            click.echo(f"{name}: no backups to verify")
            failed = failed or app is not None
            continue
        verdict = "ok" if result.ok else "FAILED"
        click.echo(f"{name}: {result.backup_id}: {verdict}: {result.detail}")
        failed = failed or not result.ok
    if failed:
        click.get_current_context().exit(1)


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def backups(app: str, as_json: bool) -> None:
    """List APP's backups, here and offsite, newest first, with their last restore drill."""
    from hostctl.backup.listing import list_backups

    found = list_backups(open_host(), app)
    if found.offsite_error:
        click.echo(f"Warning: offsite backups not listed: {found.offsite_error}", err=True)
    if as_json:
        print_json([view.to_json() for view in found.backups])
        return
    if not found.backups:
        click.echo(f"{app} has no backups yet. Make one with `hostctl backup {app}`.")
        return

    def yes(flag: bool | None) -> str:
        return {True: "yes", False: "no", None: "-"}[flag]

    table(
        ["ID", "CREATED (UTC)", "SIZE", "DBS", "LOCAL", "OFFSITE", "VERIFIED"],
        [
            (
                v.id,
                v.created_at[:16].replace("T", " "),
                size(v.size),
                len(v.databases),
                yes(v.local),
                yes(v.offsite),
                yes(v.verified) if v.verified is not None else "never",
            )
            for v in found.backups
        ],
    )


@click.command()
@click.argument("app")
@click.argument("backup_id", required=False)
@click.option("--from-offsite", is_flag=True, help="Take the backup from the offsite store.")
@click.option(
    "--at",
    "timestamp",
    metavar="TIMESTAMP",
    help="Litestream mode: restore the databases as of this time (e.g. 2025-06-01T12:30:00Z).",
)
@click.option("--undo", is_flag=True, help="Go back to the volume used before the last restore.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(
    app: str,
    backup_id: str | None,
    from_offsite: bool,
    timestamp: str | None,
    undo: bool,
    yes: bool,
) -> None:
    """Restore APP from BACKUP_ID (default: the newest backup).

    The backup is restored into a new volume and every database is checked with
    integrity_check; only then is the app moved onto it with a zero-downtime swap. If
    anything fails before that, nothing changes. The previous volume is kept.
    """
    from hostctl.backup.restore import restore_at, restore_backup, undo_restore

    if undo and (backup_id or from_offsite or timestamp):
        raise click.UsageError("--undo takes no BACKUP_ID, --from-offsite or --at")
    if timestamp and (backup_id or from_offsite):
        raise click.UsageError("--at restores from Litestream: give no BACKUP_ID or --from-offsite")
    if not yes:
        what = (
            "the volume it used before its last restore"
            if undo
            else f"its databases as of {timestamp}"
            if timestamp
            else backup_id or "its newest backup"
        )
        click.confirm(
            f"Move {app} to {what}? Writes made since then stay on the current volume, "
            "which is kept.",
            abort=True,
        )
    host = open_host()
    out = TerminalReporter()
    if undo:
        result = undo_restore(host, app, out)
        click.echo(f"{app} is back on {result.volume} (it was on {result.previous_volume}).")
    else:
        if timestamp:
            result = restore_at(host, app, timestamp, out)
        else:
            result = restore_backup(host, app, backup_id, from_offsite, out)
        click.echo(
            f"Restored {app} from {result.source} into {result.volume}: "
            f"{len(result.databases)} database(s) pass integrity_check."
        )
        click.echo(
            f"The previous volume {result.previous_volume} is kept; "
            f"`hostctl restore {app} --undo` goes back to it."
        )
    click.echo(f"{result.restarted}.")
    if result.replication:
        click.echo(result.replication)


@click.group()
def offsite() -> None:
    """The offsite target: an S3-compatible store (AWS S3, Cloudflare R2, Backblaze B2,
    MinIO) that every backup is copied to, and Litestream replicates to."""


@offsite.command("set")
@click.option("--endpoint", required=True, help="The store's URL (https://...).")
@click.option("--bucket", required=True, help="The bucket (it must exist).")
@click.option("--access-key-id", required=True, help="The access key id.")
@click.option(
    "--secret-access-key",
    envvar="HOSTCTL_OFFSITE_SECRET_ACCESS_KEY",
    help="The secret. Better left out: it is then read from"
    " HOSTCTL_OFFSITE_SECRET_ACCESS_KEY, else a hidden prompt or stdin, so it never shows"
    " in `ps` or shell history.",
)
@click.option("--region", help="The region (default us-east-1; R2 takes auto).")
@click.option("--prefix", help="A folder in the bucket for this box, e.g. box1.")
@click.option("--no-check", is_flag=True, help="Save without checking the store answers.")
def set_target(
    endpoint: str,
    bucket: str,
    access_key_id: str,
    secret_access_key: str | None,
    region: str | None,
    prefix: str | None,
    no_check: bool,
) -> None:
    """Set the offsite target (checked first; stored 0600).

    The target is checked by listing the bucket and writing, reading and deleting a
    small object; nothing is saved if that fails. It is kept in
    $HOSTCTL_ETC/offsite.json, readable by root only.
    """
    from hostctl.backup.offsite import configure, make_target
    from hostctl.settings import Settings

    secret = secret_access_key or read_secret("secret access key")
    target = make_target(endpoint, bucket, access_key_id, secret, region, prefix)
    configure(Settings.from_env(), target, check=not no_check)
    click.echo(f"Offsite target set: {target.endpoint}/{target.bucket}/{target.prefix}")


@offsite.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def show(as_json: bool) -> None:
    """Show the offsite target (the secret is never shown)."""
    from hostctl.backup.offsite import load_target
    from hostctl.settings import Settings

    target = load_target(Settings.from_env())
    shown = target.shown() if target else None
    if as_json:
        print_json(shown)
    elif shown is None:
        click.echo("No offsite target. Set one with `hostctl offsite set --endpoint URL ...`.")
    else:
        for key, value in shown.items():
            console().print(f"[bold]{key:>17}[/]  {value}", markup=True)


@offsite.command()
def test() -> None:
    """Check the stored target works: list, write, read, delete."""
    from hostctl.backup.offsite import check_target
    from hostctl.settings import Settings

    target = check_target(Settings.from_env())
    click.echo(f"OK: {target.endpoint}/{target.bucket} accepts writes, reads, lists and deletes.")
