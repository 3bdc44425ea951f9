"""app.json's env defaults, applied before a build: a required variable the app lacks
refuses the deploy; a default value or a generated secret is stored with the app's env
(as `hostctl env set` stores it) the first time, so it persists across deploys."""

from __future__ import annotations

import secrets

from hostctl.core.errors import HostctlError
from hostctl.core.progress import Reporter
from hostctl.host import Host
from hostctl.stack.appjson import EnvDefault


def apply_env_defaults(
    host: Host, app: str, defaults: dict[str, EnvDefault], out: Reporter
) -> None:
    current = host.store.env(app)
    missing = [
        key
        for key, default in defaults.items()
        if default.required and default.value is None and not default.secret and key not in current
    ]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        # The message says how: a queued deploy's error reaches the user without its hint.
        raise HostctlError(
            f"app.json requires {', '.join(missing)}, and {app} has no value for {them};"
            f" set {them} with `hostctl env set {app} {missing[0]}`",
            "then deploy again; the previous release is still serving",
        )
    wanted = {
        key: default.value if default.value is not None else secrets.token_hex(32)
        for key, default in defaults.items()
        if key not in current and (default.value is not None or default.secret)
    }
    for key in host.store.add_env(app, wanted):
        made = "a generated secret" if defaults[key].value is None else "its default value"
        out.step(f"Set {key} from app.json ({made})")
