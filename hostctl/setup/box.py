"""Setting up this box, where hostctl runs (as root)."""

from __future__ import annotations

import os
from collections.abc import Callable

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings
from hostctl.setup.push_user import push_user_steps
from hostctl.setup.steps import StepResult, run_steps
from hostctl.state import Store
from hostctl.state.keys import PushKey, push_keys


def setup_this_box(
    report: Callable[[StepResult], None], check_only: bool = False
) -> list[StepResult]:
    """Run every step (each result goes to ``report``); with ``check_only``, only look,
    and raise a HostctlError if any step is not done."""
    if os.geteuid() != 0:
        raise HostctlError(
            "hostctl setup must run as root: it installs packages, adds a system user "
            "and a sudoers rule",
            "run it as root (e.g. `sudo hostctl setup`)",
        )
    settings = Settings.from_env()
    results = run_steps(
        push_user_steps(settings, lambda: stored_push_keys(settings)), report, check_only
    )
    missing = [r.name for r in results if r.status == "missing"]
    if missing:
        raise HostctlError(f"not done yet: {', '.join(missing)}", "run `hostctl setup` as root")
    return results


def stored_push_keys(settings: Settings) -> list[PushKey]:
    """The keys that may push; none on a box hostctl has stored nothing on yet (without
    creating the state store, so `--check` changes nothing)."""
    if not settings.paths.database.exists():
        return []
    store = Store(settings.paths.database)
    try:
        return push_keys(store)
    finally:
        store.close()
