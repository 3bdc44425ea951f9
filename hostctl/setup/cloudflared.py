"""The Cloudflare step: `hostctl cloudflare connect` with the token and domain setup was
given. cloudflared then runs as a container with a restart policy (Docker starts it again
after a crash or a reboot), its tunnel token in its environment, never in argv."""

from __future__ import annotations

from functools import cache

from hostctl.cloudflare.connect import Choose, ZonePick, connect, connector_name
from hostctl.cloudflare.sync import api_for
from hostctl.core import labels
from hostctl.core.errors import HostctlError
from hostctl.core.names import check_hostname
from hostctl.credentials.cloudflare import load_connection, load_state
from hostctl.host import Host
from hostctl.settings import Settings
from hostctl.setup.answers import Answers
from hostctl.setup.steps import Step


def steps(settings: Settings, answers: Answers, choose: Choose | None = None) -> list[Step]:
    """``choose`` asks which account or zone when the token sees the domain's zone more
    than once and the answers do not say (None: that is an error)."""
    token, domain = answers.cloudflare_token, answers.domain
    pick = ZonePick(answers.cloudflare_account, answers.cloudflare_zone, choose)
    if token is None:
        return []
    if domain is None:
        raise HostctlError(
            "a Cloudflare token was given without the domain to serve",
            "give the domain too (`hostctl setup --domain example.com`)",
        )

    @cache  # opened on first use: `steps` itself touches nothing
    def host() -> Host:
        return Host(settings)

    return [
        Step(
            name="cloudflare",
            goal=f"a tunnel for {domain} exists, its DNS and ingress are synced, and "
            "cloudflared runs for it (restarted by Docker)",
            check=lambda: connected(host(), token.strip(), check_hostname(domain), pick),
            apply=lambda: start(host(), token, domain, pick),
        )
    ]


def connected(host: Host, token: str, domain: str, pick: ZonePick) -> bool:
    connection = load_connection(host.settings)
    if connection is None or connection.token != token or connection.domain != domain:
        return False
    if pick.zone and pick.zone != connection.zone_id:
        return False
    found = host.docker.state(connector_name(host), host.network)
    if (
        found is None
        or found.status != "running"
        or found.labels.get(labels.TUNNEL) != connection.tunnel_id
        or not load_state(host.settings).complete
    ):
        return False
    try:
        api = api_for(connection)
        if pick.account and pick.account != connection.account_id:
            # maybe the account's name: is it the connected zone's account?
            named = [z.account_name for z in api.find_zones(domain) if z.id == connection.zone_id]
            if pick.account not in named:
                return False
        tunnel = api.tunnel(connection.account_id, connection.tunnel_id)
    except HostctlError:
        return False  # apply connects again, and says what Cloudflare answers
    return tunnel is not None


def start(host: Host, token: str, domain: str, pick: ZonePick) -> None:
    result = connect(host, token, domain, pick)
    if result.connector.startswith("not started"):
        said = [w for w in result.warnings if w.startswith("cloudflared was not started")]
        raise HostctlError(
            said[0] if said else f"cloudflared is {result.connector}",
            "once the image can be pulled, run `hostctl setup` again",
        )
