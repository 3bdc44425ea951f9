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


def key_apps(store: Store, fingerprint: str) -> list[str]:
    """The apps the key may reach; [] when it may reach every app."""
    rows = store.db.execute(
        "SELECT app FROM push_key_apps WHERE fingerprint = ? ORDER BY app", (fingerprint,)
    )
    return [row["app"] for row in rows]
