"""Push keys: the SSH public keys that may `git push` to apps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hostctl.state.store import Store, now


@dataclass(frozen=True)
class PushKey:
    name: str
    fingerprint: str
    public_key: str  # "type base64", no comment
    added_at: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, "added_at": self.added_at}


def push_keys(store: Store) -> list[PushKey]:
    rows = store.db.execute("SELECT * FROM push_keys ORDER BY name")
    return [PushKey(r["name"], r["fingerprint"], r["public_key"], r["added_at"]) for r in rows]


def insert_push_key(store: Store, name: str, fingerprint: str, public_key: str) -> PushKey:
    key = PushKey(name, fingerprint, public_key, now())
    store.db.execute(
        "INSERT INTO push_keys (fingerprint, name, public_key, added_at) VALUES (?, ?, ?, ?)",
        (key.fingerprint, key.name, key.public_key, key.added_at),
    )
    return key


def delete_push_key(store: Store, fingerprint: str) -> None:
    store.db.execute("DELETE FROM push_keys WHERE fingerprint = ?", (fingerprint,))
