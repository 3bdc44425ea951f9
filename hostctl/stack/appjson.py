"""The health checks Dokku reads from app.json (``healthchecks.web``).

app.json is untrusted input like hostctl.yml: every shape and number is checked, and an
error names the key path."""

from __future__ import annotations

import json

from hostctl.core.errors import HostctlError
from hostctl.core.yaml_sections import Limits, Section
from hostctl.stack.app_config import HEALTH_SECONDS, HealthCheck

# The documented ranges (docs/apps.md); attempts * (timeout + wait) ≤ HEALTH_SECONDS too.
ATTEMPTS = Limits("a number of attempts", 1, 100)
CHECK_SECONDS = Limits("a number of seconds", 0, 600)


def load_json(text: str, source: str) -> object:
    """Parsed JSON, or an error naming ``source``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HostctlError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})",
            f"fix {source} and deploy again",
        ) from exc
    except RecursionError:
        raise HostctlError(
            f"{source}: nested too deeply", f"flatten {source} and deploy again"
        ) from None


def health_from_app_json(text: str) -> HealthCheck | None:
    top = Section("app.json", load_json(text, "app.json"))
    checks = top.section("healthchecks")
    web = checks.data.get("web") if checks else None
    if not web:
        return None
    if not isinstance(web, list):
        top.fail("healthchecks/web", "should be a list of checks")
    startup = []
    for index, found in enumerate(web):
        check = Section("app.json", found, f"healthchecks/web/{index}")
        if check.data.get("type", "startup") == "startup":
            startup.append(check)
    if not startup:
        return None
    check = startup[0]
    path = check.string("path") or "/"
    if not path.startswith("/"):
        check.fail(check.key_path("path"), "should start with /")
    attempts = check.number("attempts", 5, ATTEMPTS) or 0.0
    timeout = check.number("timeout", 5, CHECK_SECONDS) or 0.0
    wait = check.number("wait", 5, CHECK_SECONDS) or 0.0
    total = attempts * (timeout + wait)
    if total > HEALTH_SECONDS.maximum:
        check.fail(
            check.path,
            f"attempts * (timeout + wait) is {total:g}s; it should be at most "
            f"{HEALTH_SECONDS.maximum:g}s",
        )
    content = check.data.get("content")
    if content is not None and not isinstance(content, str | int | float):
        check.fail(check.key_path("content"), "should be a string")
    return HealthCheck(
        path=path, timeout=max(total, 5.0), content=str(content) if content else None
    )
