"""The forced command of every push key: allow git-receive-pack (push) and
git-upload-pack (fetch) on an existing app's repository, and nothing else."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from hostctl.adapters import git
from hostctl.core.errors import HostctlError
from hostctl.core.names import check_app_name
from hostctl.push.launcher import hostctl_argv
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.key_scopes import key_apps
from hostctl.state.keys import push_keys

ALLOWED = ("git-receive-pack", "git-upload-pack")
USAGE = "git remote add hostctl ssh://hostctl@HOST/APP && git push hostctl main"


def git_command(settings: Settings, store: Store, original: str | None, key_name: str) -> list[str]:
    """The argv to exec for SSH_ORIGINAL_COMMAND, or a HostctlError saying why not."""
    if not original:
        raise HostctlError("this account only takes git pushes, not a shell", USAGE)
    try:
        parts = shlex.split(original)
    except ValueError as exc:
        raise HostctlError(f"cannot parse the command {original!r}", USAGE) from exc
    if len(parts) == 3 and parts[0] == "git":  # "git receive-pack 'x'" from some clients
        parts = [f"git-{parts[1]}", parts[2]]
    if len(parts) != 2 or parts[0] not in ALLOWED:
        raise HostctlError(f"{parts[0] if parts else 'that'} is not allowed here", USAGE)
    name = parts[1].removeprefix("~/").strip("/").removesuffix(".git")
    check_app_name(name)
    check_key_reaches(store, key_name, name)
    store.app(name)
    return [parts[0], str(ensure_push_repo(settings, name, store.app(name).branch))]


def check_key_reaches(store: Store, key_name: str, app: str) -> None:
    """A key limited to some apps gets the same refusal for any other name, existing or
    not, so it cannot find out which apps exist. A key the store no longer has (removed
    while an authorized_keys line still named it) reaches nothing: limits fail closed."""
    found = [k for k in push_keys(store) if k.name == key_name]
    allowed = key_apps(store, found[0].fingerprint) if found else []
    if not found or (allowed and app not in allowed):
        raise HostctlError(
            f"the push key {key_name} may not push to or fetch {app}",
            "an admin can allow it: `hostctl keys remove NAME`, then `hostctl keys add KEY"
            " --app APP ...`",
        )


def ensure_push_repo(settings: Settings, app: str, branch: str) -> Path:
    """The app's bare repository, with the pre-receive hook that deploys (kept current)."""
    path = settings.paths.push_repo(app)
    git.init_bare(path, branch)
    hook = path / "hooks" / "pre-receive"
    script = f"#!/bin/sh\nexec {shlex.join(hostctl_argv('git-hook', 'pre-receive'))}\n"
    if not hook.exists() or hook.read_text() != script:
        temporary = hook.with_suffix(".tmp")
        temporary.write_text(script)
        os.chmod(temporary, 0o755)  # noqa: S103 (git runs hooks that are executable)
        temporary.replace(hook)
    return path
