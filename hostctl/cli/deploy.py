"""hostctl deploy, releases, rollback."""

from __future__ import annotations

import os

import click

from hostctl.cli.context import open_host, queue_host
from hostctl.cli.render import TerminalReporter, print_json, table
from hostctl.core.errors import HostctlError
from hostctl.deploy.rules import serving_before
from hostctl.hostnames import app_urls


def trigger() -> str:
    return f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or 'root'}"


@click.command()
@click.argument("app")
@click.argument("source", required=False)
@click.option("--ref", help="Branch, tag or commit to build (git sources; default: HEAD).")
def deploy(app: str, source: str | None, ref: str | None) -> None:
    """Build APP from SOURCE and swap it in with zero downtime.

    SOURCE is a directory, a git repository or a git URL (file://, ssh://, https://);
    without it, the app's repository (at its branch) or its last source is deployed.
    The deploy goes through the job queue: the agent runs it when it is running,
    otherwise this command does. Exits 0 only once the new release is serving.
    """
    from hostctl.queue import submit_deploy

    host = queue_host(app)
    done = submit_deploy(host, app, source, ref, trigger(), TerminalReporter())
    if done.status != "done" or done.release is None:
        log = host.settings.paths.release_log(app, done.release) if done.release else None
        serving = serving_before(host.store.app(app).current_release)
        raise HostctlError(
            done.error or f"job {done.id} {done.status}",
            (f"Full log: {log}. " if log else "")
            + f"{serving[0].upper()}{serving[1:]}; see `hostctl jobs {app}`.",
        )
    urls = app_urls(host, host.store.app(app))
    click.echo(f"Deployed {app} release {done.release}: {' '.join(urls)}")


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def releases(app: str, as_json: bool) -> None:
    """List an app's releases, newest first."""
    host = open_host()
    current = host.store.app(app).current_release
    found = host.store.releases(app)
    if as_json:
        print_json([r.to_json(current=r.number == current) for r in found])
        return
    if not found:
        click.echo(f"{app} has no releases yet. Deploy it with `hostctl deploy {app} SOURCE`.")
        return
    table(
        ["", "RELEASE", "KIND", "STATUS", "COMMIT", "CREATED", "BY", "ERROR"],
        [
            (
                "*" if r.number == current else "",
                f"v{r.number}",
                r.kind,
                r.status,
                (r.commit_sha or "")[:10],
                r.created_at[:19].replace("T", " "),
                r.trigger,
                (r.error or "").splitlines()[0][:60] if r.error else "",
            )
            for r in found
        ],
    )


@click.command()
@click.argument("app")
@click.argument("release", required=False, type=int)
def rollback(app: str, release: int | None) -> None:
    """Go back to RELEASE (default: the one before the current), with its image and env."""
    from hostctl.deploy.releases import rollback as run_rollback

    host = open_host()
    done = run_rollback(host, app, release, trigger(), TerminalReporter())
    click.echo(f"Rolled back {app}: release {done.number} is live")
