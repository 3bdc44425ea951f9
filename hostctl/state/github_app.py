"""The GitHub App's state: one-time manifest setups, and the installations GitHub
reported to the app's webhook (``repositories`` NULL: all of the account's)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hostctl.state.store import Store, now


@dataclass(frozen=True)
class Setup:
    state: str
    api_url: str
    base_url: str  # the agent's public URL: the app's webhook and redirect go there
    org: str | None
    created_at: float
    used_at: float | None
    outcome: str | None  # "ok" or what went wrong, once the callback ran


@dataclass(frozen=True)
class Installation:
    id: int
    account: str
    repositories: tuple[str, ...] | None  # None: every repository of the account


def add_setup(store: Store, setup: Setup) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT INTO github_app_setups (state, api_url, base_url, org, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (setup.state, setup.api_url, setup.base_url, setup.org, setup.created_at),
        )


def find_setup(store: Store, state: str) -> Setup | None:
    row = store.db.execute("SELECT * FROM github_app_setups WHERE state = ?", (state,)).fetchone()
    return Setup(**dict(row)) if row else None


def claim_setup(store: Store, state: str, at: float, oldest: float) -> Setup | None:
    """Use the setup once: None when unknown, already used, or created before ``oldest``."""
    with store.transaction() as db:
        done = db.execute(
            "UPDATE github_app_setups SET used_at = ? "
            "WHERE state = ? AND used_at IS NULL AND created_at >= ?",
            (at, state, oldest),
        )
        if done.rowcount != 1:
            return None
    return find_setup(store, state)


def finish_setup(store: Store, state: str, outcome: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE github_app_setups SET outcome = ? WHERE state = ?", (outcome, state))


def cancel_setup(store: Store, state: str, at: float, outcome: str) -> bool:
    """Expire a setup nobody waits for any more, so its link can no longer make an app;
    False when the callback had already taken it."""
    with store.transaction() as db:
        done = db.execute(
            "UPDATE github_app_setups SET used_at = ?, outcome = ? "
            "WHERE state = ? AND used_at IS NULL",
            (at, outcome, state),
        )
        return done.rowcount == 1


def forget_setups(store: Store) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM github_app_setups")
        db.execute("DELETE FROM github_installations")


def save_installation(
    store: Store, installation: int, account: str, repositories: list[str] | None
) -> None:
    listed = None if repositories is None else json.dumps(sorted(repositories))
    with store.transaction() as db:
        db.execute(
            "INSERT INTO github_installations (id, account, repositories, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET account = excluded.account,"
            " repositories = excluded.repositories, updated_at = excluded.updated_at",
            (installation, account, listed, now()),
        )


def change_repositories(
    store: Store,
    installation: int,
    account: str,
    added: list[str],
    removed: list[str],
    every: bool = False,
) -> None:
    """Repositories added to or removed from an installation that lists them; ``every``:
    GitHub says the installation now sees all of them.

    An "all" → "selected" switch lists only the repositories removed, never the ones
    kept: the installation is then recorded as seeing none until repositories are added
    (`hostctl github status` asks GitHub itself)."""
    if every:
        save_installation(store, installation, account, None)
        return
    found = next((i for i in installations(store) if i.id == installation), None)
    if found is None and not added and not removed:
        return  # nothing known, and nothing said: stays unrecorded
    if found is not None and found.repositories is None and not removed:
        return  # all repositories: a list added to them changes nothing
    if found is not None and found.repositories is None:
        found = None  # switched to selected repositories: the kept ones are not named
    names = {n.lower() for n in (found.repositories or ())} if found else set()
    names = (names | {n.lower() for n in added}) - {n.lower() for n in removed}
    save_installation(store, installation, account, sorted(names))


def remove_installation(store: Store, installation: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM github_installations WHERE id = ?", (installation,))


def installations(store: Store) -> list[Installation]:
    rows = store.db.execute("SELECT * FROM github_installations ORDER BY id").fetchall()
    return [
        Installation(
            row["id"],
            row["account"],
            None if row["repositories"] is None else tuple(json.loads(row["repositories"])),
        )
        for row in rows
    ]
