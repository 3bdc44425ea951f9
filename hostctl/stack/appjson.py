"""The health checks Dokku reads from app.json (``healthchecks.web``)."""

from __future__ import annotations

import json
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.stack.app_config import HealthCheck


def health_from_app_json(text: str) -> HealthCheck | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HostctlError(
            f"app.json: not valid JSON ({exc.msg} at line {exc.lineno})",
            "fix app.json and deploy again",
        ) from exc
    checks = ((data or {}).get("healthchecks") or {}).get("web") or []
    startup = [c for c in checks if isinstance(c, dict) and c.get("type", "startup") == "startup"]
    if not startup:
        return None
    check: dict[str, Any] = startup[0]
    path = check.get("path") or "/"
    if not isinstance(path, str) or not path.startswith("/"):
        raise HostctlError(
            "app.json: healthchecks/web/path: should start with /", "fix app.json and deploy again"
        )
    attempts = number(check, "attempts", 5)
    per_attempt = number(check, "timeout", 5) + number(check, "wait", 5)
    content = check.get("content")
    return HealthCheck(
        path=path,
        timeout=max(attempts * per_attempt, 5.0),
        content=str(content) if content else None,
    )


def number(check: dict[str, Any], key: str, default: float) -> float:
    value = check.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise HostctlError(
            f"app.json: healthchecks/web/{key}: should be a number", "fix app.json and deploy again"
        )
    return float(value)
