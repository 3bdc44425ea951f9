"""Which apps a push key may reach: rows of (fingerprint, app); a key with none may reach
every app. Kept by fingerprint and written before the key itself, so a key is never
stored, even for a moment, without its limits."""

from __future__ import annotations

from hostctl.state.store import Store


def limit_key(store: Store, fingerprint: str, apps: list[str]) -> None:
    """Set the apps the key with ``fingerprint`` may reach (none: every app)."""
    with store.transaction() as db:
        db.execute("DELETE FROM push_key_apps WHERE fingerprint = ?", (fingerprint,))
        db.executemany(
            "INSERT INTO push_key_apps (fingerprint, app) VALUES (?, ?)",
            [(fingerprint, app) for app in sorted(set(apps))],
        )


NO_APP = "-"  # not an app name: what a key limited to destroyed apps only may reach


def forget_app(store: Store, app: str) -> None:
    """A destroyed app leaves the keys limited to it; one limited to nothing else then
    reaches no app, not every app, nor a new app of the same name."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO push_key_apps (fingerprint, app) SELECT fingerprint, ? FROM"
            " push_key_apps WHERE app = ? AND fingerprint NOT IN (SELECT fingerprint FROM"
            " push_key_apps WHERE app != ?)",
            (NO_APP, app, app),
        )
        db.execute("DELETE FROM push_key_apps WHERE app = ?", (app,))


def key_apps(store: Store, fingerprint: str) -> list[str]:
    """The apps the key may reach; [] when it may reach every app."""
    rows = store.db.execute(
        "SELECT app FROM push_key_apps WHERE fingerprint = ? ORDER BY app", (fingerprint,)
    )
    return [row["app"] for row in rows]
