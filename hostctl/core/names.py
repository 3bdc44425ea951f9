"""Validation of the names users choose: apps and hostnames."""

from __future__ import annotations

import re

from hostctl.core.errors import HostctlError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")  # where plain http is fine

APP_NAME = re.compile(r"[a-z][a-z0-9-]{0,29}")
HOSTNAME_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_app_name(name: str) -> str:
    if not APP_NAME.fullmatch(name) or name.endswith("-"):
        raise HostctlError(
            f"invalid app name {name!r}",
            "use a DNS label: a lowercase letter, then up to 29 lowercase letters, "
            "digits or dashes, not ending in a dash (e.g. blog, my-api)",
        )
    return name


def check_hostname(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    labels = host.split(".")
    if len(host) > 253 or not all(HOSTNAME_LABEL.fullmatch(label) for label in labels):
        raise HostctlError(
            f"invalid hostname {host!r}",
            "use a DNS name made of letters, digits, dashes and dots, e.g. blog.example.com",
        )
    return host


def check_env_key(key: str) -> str:
    if not ENV_KEY.fullmatch(key):
        raise HostctlError(
            f"invalid environment variable name {key!r}",
            "use letters, digits and underscores, not starting with a digit",
        )
    return key
