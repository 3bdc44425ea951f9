"""hostctl serve: run the agent in the foreground."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--listen",
    multiple=True,
    metavar="HOST:PORT",
    help="Address to serve on (repeatable). Loopback or tailnet only. Default: agent/listen"
    " in hostctl.yml (127.0.0.1:8470), plus the tailnet address when agent/tailnet is true.",
)
@click.option("--workers", default=2, show_default=True, help="Deploys run at once (one per app).")
@click.option(
    "--systemd-unit", is_flag=True, help="Print a systemd unit that runs this agent, and exit."
)
def serve(listen: tuple[str, ...], workers: int, systemd_unit: bool) -> None:
    """Run the agent: webhook endpoints, the deploy workers and the reconcile loop.

    It answers GET /health, and POST /hooks/github/APP for each app's webhook.
    SIGTERM lets a running deploy reach a safe point, then exits.
    """
    from hostctl.agent.agent import Agent
    from hostctl.agent.listen import listen_addresses
    from hostctl.agent.unit import systemd_unit as render_unit
    from hostctl.settings import Settings

    settings = Settings.from_env()
    if systemd_unit:
        click.echo(render_unit(settings, listen, workers), nl=False)
        return
    if workers < 1:
        raise click.BadParameter("should be at least 1", param_hint="--workers")
    addresses = listen_addresses(settings.server.agent, listen)
    Agent(settings, workers).serve(addresses)
