"""hostctl doctor and status: looks only, on the plain host (no reconcile)."""

from __future__ import annotations

import click

from hostctl.cli.render import print_json, table

MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


@click.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print {ok, checks: [...]} as JSON.")
def doctor(app: str | None, as_json: bool) -> None:
    """Check every layer of this box, read-only; exit 1 if a check fails.

    One line per check, with what to do for each warning and failure: the agent and its
    service, Docker, the edge, disk space, the push user, Tailscale, Cloudflare (tunnel,
    cloudflared, each hostname's CNAME and ingress rule), GitHub, the firewall, and each
    app's release, health and backups (only APP's when given). Nothing is repaired.
    """
    from hostctl.doctor import doctor as run_doctor
    from hostctl.host import Host

    report = run_doctor(Host(read_only=True), app)
    if as_json:
        print_json(report.to_json())
    else:
        width = max(len(r.name) for r in report.results)
        for result in report.results:
            mark, colour = MARKS[result.status]
            click.echo(
                f"{click.style(f'{mark:<4}', fg=colour)}  {result.name:<{width}}  {result.detail}"
            )
            if result.hint:
                click.echo(f"{'':<4}  {'':<{width}}  hint: {result.hint}")
        failed = sum(r.status == "fail" for r in report.results)
        warned = sum(r.status == "warn" for r in report.results)
        click.echo(f"\n{failed} failed, {warned} warnings, {len(report.results)} checks")
    if not report.ok:
        click.get_current_context().exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {agent, apps: [...]} as JSON.")
def status(as_json: bool) -> None:
    """The quick view: the agent and its queue, and each app's container, last deploy and
    health. Read-only; `hostctl doctor` checks everything."""
    from hostctl.doctor import status as read_status
    from hostctl.host import Host

    found = read_status(Host(read_only=True))
    if as_json:
        print_json(found.to_json())
        return
    agent = found.agent
    queue = f"{agent.queued} queued, {agent.running} running"
    if agent.answered:
        state = "healthy" if agent.healthy else "UNHEALTHY"
        click.echo(f"Agent: {state} at {agent.address}, {agent.workers} workers; {queue}")
    else:
        click.echo(f"Agent: not answering at {agent.address}; {queue}")
    if not found.apps:
        click.echo("No apps yet. Create one with `hostctl apps create NAME`.")
        return
    rows = []
    for app in found.apps:
        last = app.last_deploy
        rows.append(
            [
                app.name,
                app.release or "-",
                app.container_status,
                f"{last['release']} {last['status']}" if last else "-",
                app.health,
            ]
        )
    table(["APP", "RELEASE", "WEB", "LAST DEPLOY", "HEALTH"], rows)
