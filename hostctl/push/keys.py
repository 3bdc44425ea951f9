"""Who may push: public keys in the state store, written out as authorized_keys files (root's
under the state root, and the push user's) whose every line forces `hostctl git-shell` and
sshd's ``restrict`` (no shell, no pty, no forwarding)."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.core.names import check_app_name
from hostctl.core.private_files import write_private_text
from hostctl.push.launcher import hostctl_argv
from hostctl.push.user import forced_command, keys_file_for, keys_header
from hostctl.push.user import write_authorized_keys as write_push_user_keys
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.key_scopes import key_apps, limit_key
from hostctl.state.keys import PushKey, delete_push_key, insert_push_key, push_keys

KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def parse_public_key(text: str) -> tuple[str, str, str]:
    """(type base64, SHA256 fingerprint as ssh-keygen prints it, comment)."""
    # Imported here: the forced command of every push (git-shell) needs this module's
    # check_key_name, not cryptography's 10-20 ms.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    parts = text.strip().split(None, 2)
    try:
        if len(parts) < 2:
            raise ValueError("too short")
        load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise HostctlError(
            "that is not an SSH public key",
            "pass the one line of e.g. ~/.ssh/id_ed25519.pub (or the file's path)",
        ) from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{parts[0]} {parts[1]}", f"SHA256:{digest}", parts[2].strip() if len(parts) > 2 else ""


def check_key_name(name: str) -> None:
    """A key name goes into forced commands and sudo's argv: one plain word, never an
    option (it starts with a letter or digit)."""
    if not KEY_NAME.fullmatch(name):
        raise HostctlError(f"{name!r} is not a push key name", "use letters, digits, . _ @ -")


def add_key(
    settings: Settings, store: Store, text: str, name: str | None, apps: list[str] | None = None
) -> PushKey:
    """Allow a key to push: to ``apps`` only, when given, else to every app."""
    public_key, fingerprint, comment = parse_public_key(text)
    name = name or re.sub(r"[^A-Za-z0-9._@-]", "-", comment).strip("-.") or fingerprint[7:19]
    check_key_name(name)
    apps = sorted({store.app(check_app_name(app)).name for app in apps or []})
    known = {k.fingerprint: k for k in push_keys(store)}
    if fingerprint in known:
        if known[fingerprint].name == name and key_apps(store, fingerprint) == apps:
            return known[fingerprint]  # adding the same key again changes nothing
        if known[fingerprint].name == name:
            raise HostctlError(
                f"that key is already added as {name!r}, for other apps",
                f"remove it first (`hostctl keys remove {name}`), then add it with its apps",
            )
        raise HostctlError(
            f"that key is already added as {known[fingerprint].name!r}",
            f"remove it first: `hostctl keys remove {known[fingerprint].name}`",
        )
    if any(k.name == name for k in known.values()):
        raise HostctlError(f"a key named {name!r} exists", "pick another --name")
    limit_key(store, fingerprint, apps)  # before the key: it never exists unlimited
    key = insert_push_key(store, name, fingerprint, public_key)
    store.audit("keys:add", None, f"{name} {fingerprint}")
    write_authorized_keys(settings, store)
    return key


def remove_key(settings: Settings, store: Store, name_or_fingerprint: str) -> PushKey:
    for key in push_keys(store):
        if name_or_fingerprint in (key.name, key.fingerprint):
            delete_push_key(store, key.fingerprint)
            limit_key(store, key.fingerprint, [])  # its limits go with it
            store.audit("keys:remove", None, f"{key.name} {key.fingerprint}")
            write_authorized_keys(settings, store)
            return key
    raise HostctlError(f"no push key {name_or_fingerprint!r}", "list them with `hostctl keys`")


def key_line(key: PushKey, command: list[str]) -> str:
    """The forced command, ``restrict``, the key and its name. sshd's option parser only
    unescapes ``\\"``; shlex.join's output never ends in a backslash."""
    quoted = shlex.join(command).replace('"', '\\"')
    return f'command="{quoted}",restrict {key.public_key} {key.name}'


def authorized_keys_lines(store: Store) -> list[str]:
    """root's lines: the key runs hostctl's git-shell itself."""
    return [key_line(k, hostctl_argv("git-shell", "--key", k.name)) for k in push_keys(store)]


def push_user_keys_text(settings: Settings, keys: list[PushKey]) -> str:
    """The push user's authorized_keys: each key runs the git-shell as root through sudo
    and the wrapper `hostctl setup` wrote, which holds the settings."""
    lines = [keys_header(settings), *(key_line(k, forced_command(k.name)) for k in keys)]
    return "\n".join(lines) + "\n"


def write_authorized_keys(settings: Settings, store: Store) -> Path:
    """Rewrite the whole file atomically (0600) from the store, and the push user's when
    `hostctl setup` made it for this state root."""
    lines = ["# Written by hostctl (`hostctl keys`); edits here are lost."]
    lines += authorized_keys_lines(store)
    path = settings.paths.authorized_keys
    write_private_text(path, "\n".join(lines) + "\n")
    if keys_file_for(settings):
        write_push_user_keys(push_user_keys_text(settings, push_keys(store)))
    return path
