"""Which names reach what: an app's default hostname and URLs, the webhook hostname and
URLs, and the rule that a hostname belongs to one app only."""

from __future__ import annotations

from urllib.parse import urlsplit

from hostctl.core.errors import HostctlError
from hostctl.credentials.cloudflare import load_connection
from hostctl.host import Host
from hostctl.state import App


def webhook_hostname_for(domain: str) -> str:
    """The public name, through the tunnel, of the agent's webhook endpoints only."""
    return f"hooks.{domain}"


def default_hostname(host: Host, app: str) -> str:
    """APP.<domain>: hostctl.yml's domain, else the domain Cloudflare was connected with."""
    domain = host.settings.server.domain
    if domain == "localhost":
        connection = load_connection(host.settings)
        domain = connection.domain if connection else domain
    return f"{app}.{domain}"


def webhook_url(host: Host, app: str) -> str:
    """Where GitHub (or Gitea, Forgejo) posts the app's push events."""
    return f"{webhook_base_url(host)}/hooks/github/{app}"


def webhook_base_url(host: Host) -> str:
    agent = host.settings.server.agent
    if agent.public_url:
        return agent.public_url
    public = webhook_hostname(host)
    return f"https://{public}" if public else f"http://{agent.listen[0]}"


def webhook_hostname(host: Host) -> str | None:
    """The public name the edge routes to the agent's webhooks (its /hooks/ paths
    only): the configured public URL's, else hooks.<domain> through Cloudflare."""
    agent = host.settings.server.agent
    if agent.public_url:
        return urlsplit(agent.public_url).hostname
    connection = load_connection(host.settings)
    return webhook_hostname_for(connection.domain) if connection else None


def app_urls(host: Host, app: App) -> list[str]:
    port = host.settings.http_port
    return [f"http://{h}{'' if port == 80 else f':{port}'}/" for h in app.hostnames]


def reserved_hostnames(host: Host) -> set[str]:
    """Names no app may have: the webhook hostname, now or once Cloudflare is connected
    (hooks.<domain> for hostctl.yml's domain too), so no app takes the deliveries."""
    reserved = {webhook_hostname_for(host.settings.server.domain)}
    public = webhook_hostname(host)
    return reserved | {public} if public else reserved


def claim_hostnames(host: Host, name: str, hostnames: list[str]) -> None:
    """Refuse hostnames that are reserved or that another app already has."""
    reserved = reserved_hostnames(host)
    for hostname in hostnames:
        if hostname in reserved:
            raise HostctlError(
                f"{hostname} is reserved for hostctl's webhooks (every app's GitHub "
                "deliveries arrive there)",
                "choose another hostname (an app whose default hostname this would be "
                "needs one given with --domain)",
            )
    for other in host.store.apps():
        taken = set(other.hostnames) & set(hostnames)
        if other.name != name and taken:
            raise HostctlError(
                f"{', '.join(sorted(taken))} already belongs to app {other.name}",
                f"remove it there first (`hostctl apps info {other.name}`), or choose another",
            )
