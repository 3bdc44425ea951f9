"""The questions `hostctl setup` asks (at most six), each also a flag and an env var, and
each skippable. Answers given as flags or env vars are not asked again; with no one to
ask (--non-interactive), an unanswered question is skipped, and an answer that needs
another one missing is an error naming its flag and env var."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.setup.answers import Answers

TAILSCALE_LOGIN = "login"  # the Tailscale answer for a browser login (its URL is printed)
GITHUB_APP = "app"  # the GitHub answer for a GitHub App made in a browser (hostctl.setup.github)


@dataclass(frozen=True)
class Question:
    field: str  # of Answers
    flag: str
    env: str
    prompt: str
    secret: bool = False  # read without echo; never in argv, logs or files but its own
    yes_no: bool = False

    @property
    def names(self) -> str:
        return f"{self.flag} or {self.env}"


QUESTIONS = (
    Question("domain", "--domain", "HOSTCTL_DOMAIN", "Domain for your apps (APP.DOMAIN)"),
    Question(
        "cloudflare_token",
        "--cloudflare-token",
        "CLOUDFLARE_API_TOKEN",
        "Cloudflare API token (Zone DNS edit, Account Cloudflare Tunnel edit)",
        secret=True,
    ),
    Question(
        "tailscale_auth_key",
        "--tailscale-auth-key",
        "TS_AUTHKEY",
        f"Tailscale auth key, or `{TAILSCALE_LOGIN}` to log in with a browser",
        secret=True,
    ),
    Question(
        "github_token",
        "--github-token",
        "GITHUB_TOKEN",
        f"GitHub token (repo admin: deploy keys and webhooks), or `{GITHUB_APP}` to create "
        "a GitHub App",
        secret=True,
    ),
    Question(
        "offsite",
        "--offsite",
        "HOSTCTL_OFFSITE",
        "Offsite backup target (s3://KEY_ID@ENDPOINT/BUCKET)",
    ),
    Question(
        "firewall",
        "--firewall",
        "HOSTCTL_FIREWALL",
        "Turn on the firewall (SSH, HTTP and HTTPS in; the rest closed)?",
        yes_no=True,
    ),
)
# The offsite store's secret key: asked with the offsite target when it is not in the
# environment, and handed to the box like the tokens.
# (hostctl.setup.backups.SECRET_ENV; not imported: the CLI reads this module on start)
OFFSITE_SECRET_ENV = "HOSTCTL_OFFSITE_SECRET"  # noqa: S105 (the variable's name)
# GitHub Enterprise's API for the GitHub step (hostctl.github.API_URL_ENV, likewise).
GITHUB_API_ENV = "HOSTCTL_GITHUB_API_URL"
# What setup reads from its environment and no question asks: `hostctl setup USER@HOST`
# sets it in the box's setup as it is set here, in the file with the secrets.
HANDED_ENV = (OFFSITE_SECRET_ENV, GITHUB_API_ENV)
SECRET_ENV = {q.env for q in QUESTIONS if q.secret} | set(HANDED_ENV)

Ask = Callable[[Question], Any]  # the answer, or None to skip
# Which Cloudflare account and zone, when the token sees the domain's zone more than
# once (asked then, not among the questions): each field's flag.
PICKS = {"cloudflare_account": "--cloudflare-account", "cloudflare_zone": "--cloudflare-zone"}


def relevant(question: Question, so_far: dict[str, Any]) -> bool:
    """A Cloudflare token is only asked for with a domain to serve."""
    return question.field != "cloudflare_token" or bool(so_far.get("domain"))


def resolve(given: dict[str, Any], ask: Ask | None) -> Answers:
    """``given``: each Answers field from a flag or env var (None when neither). ``ask``:
    asks a question, or None when nobody may be asked."""
    values: dict[str, Any] = {}
    for question in QUESTIONS:
        value = given.get(question.field)
        if value is None and ask is not None and relevant(question, values):
            value = ask(question)
        values[question.field] = value if value not in ("", None) else None
    if values["cloudflare_token"] and not values["domain"]:
        domain = QUESTIONS[0]
        raise HostctlError(
            "a Cloudflare token was given, but no domain for the apps",
            f"pass the domain as {domain.names} (e.g. --domain example.com)",
        )
    values["firewall"] = bool(values["firewall"])
    for field in PICKS:
        values[field] = given.get(field) or None
    return Answers(**values)


def equivalent_command(answers: Answers) -> tuple[str, list[str]]:
    """The command that sets this box up the same way without a question, and the env
    vars that must hold its secrets (their values are never printed)."""
    argv, env = ["hostctl", "setup", "--non-interactive"], []
    for question in QUESTIONS:
        value = getattr(answers, question.field)
        if question.yes_no:
            argv.append(question.flag if value else f"--no-{question.flag[2:]}")
        elif value is None:
            continue
        elif question.secret and value not in (TAILSCALE_LOGIN, GITHUB_APP):
            env.append(question.env)
        else:
            argv += [question.flag, value]
            if question.field == "offsite":
                env.append(OFFSITE_SECRET_ENV)
    for field, flag in PICKS.items():
        if getattr(answers, field):
            argv += [flag, getattr(answers, field)]
    return shlex.join(argv), env


def read_secrets(text: str) -> dict[str, str]:
    """NAME=value lines (as `hostctl setup USER@HOST` hands secrets to the box)."""
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in SECRET_ENV:
            found[name] = value
    return found
