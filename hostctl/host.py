"""The box hostctl manages: settings, the state store and the adapters, plus naming rules."""

from __future__ import annotations

import secrets
from functools import cached_property
from urllib.parse import urlsplit

from hostctl.adapters.caddy import Caddy
from hostctl.adapters.docker import LABEL, Docker
from hostctl.cloudflare.settings import load_connection
from hostctl.settings import Settings
from hostctl.state import App, Store


def webhook_hostname(domain: str) -> str:
    """The public name, through the tunnel, of the agent's webhook endpoints only."""
    return f"hooks.{domain}"


class Host:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.store = Store(self.settings.db_path)

    @cached_property
    def docker(self) -> Docker:
        return Docker()

    @cached_property
    def caddy(self) -> Caddy:
        return Caddy(self.settings.dir("caddy"), self.settings.http_port)

    @property
    def network(self) -> str:
        return self.settings.namespace

    def labels(self, app: str | None = None, **more: str) -> dict[str, str]:
        labels = {f"{LABEL}.namespace": self.settings.namespace}
        if app is not None:
            labels[f"{LABEL}.app"] = app
        labels.update({f"{LABEL}.{key}": value for key, value in more.items()})
        return labels

    def volume(self, app: str) -> str:
        """The app's /data volume: the default one, unless a restore moved the app."""
        found = self.store.find_app(app)
        return found.volume if found and found.volume else self.default_volume(app)

    def default_volume(self, app: str) -> str:
        return f"{self.settings.namespace}-{app}-data"

    def image_repository(self, app: str) -> str:
        return f"{self.settings.namespace}/{app}"

    def image_tag(self, app: str, release: int) -> str:
        return f"{self.image_repository(app)}:{release}"

    def container_name(self, app: str, process: str, release: int) -> str:
        return f"{self.settings.namespace}-{app}-{process}-{release}-{secrets.token_hex(3)}"

    def default_hostname(self, app: str) -> str:
        """APP.<domain>: hostctl.yml's domain, else the domain Cloudflare was connected with."""
        domain = self.settings.server.domain
        if domain == "localhost":
            connection = load_connection(self.settings)
            domain = connection.domain if connection else domain
        return f"{app}.{domain}"

    def webhook_url(self, app: str) -> str:
        """Where GitHub (or Gitea, Forgejo) posts the app's push events."""
        return f"{self.webhook_base_url()}/hooks/github/{app}"

    def webhook_base_url(self) -> str:
        agent = self.settings.server.agent
        if agent.public_url:
            return agent.public_url
        public = self.webhook_hostname()
        return f"https://{public}" if public else f"http://{agent.listen[0]}"

    def webhook_hostname(self) -> str | None:
        """The public name the edge routes to the agent's webhooks (its /hooks/ paths
        only): the configured public URL's, else hooks.<domain> through Cloudflare."""
        agent = self.settings.server.agent
        if agent.public_url:
            return urlsplit(agent.public_url).hostname
        connection = load_connection(self.settings)
        return webhook_hostname(connection.domain) if connection else None

    def urls(self, app: App) -> list[str]:
        port = self.settings.http_port
        return [f"http://{h}{'' if port == 80 else f':{port}'}/" for h in app.hostnames]
