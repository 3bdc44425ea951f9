"""What `hostctl setup` was told: at most six answers, each also a flag and an env var.
Secrets are held here in memory only; they never go to argv, a log or a file other than
their own 0600 one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answers:
    domain: str | None = None  # --domain, HOSTCTL_DOMAIN
    cloudflare_token: str | None = None  # --cloudflare-token, CLOUDFLARE_API_TOKEN
    tailscale_auth_key: str | None = None  # --tailscale-auth-key, TS_AUTHKEY ("login": browser)
    github_token: str | None = None  # --github-token, GITHUB_TOKEN
    offsite: str | None = None  # --offsite s3://KEY_ID@ENDPOINT/BUCKET, HOSTCTL_OFFSITE
    firewall: bool = False  # --firewall/--no-firewall, HOSTCTL_FIREWALL=yes
    # Not questions: asked only when the token sees the domain's zone more than once.
    cloudflare_account: str | None = None  # --cloudflare-account, HOSTCTL_CLOUDFLARE_ACCOUNT
    cloudflare_zone: str | None = None  # --cloudflare-zone, HOSTCTL_CLOUDFLARE_ZONE
