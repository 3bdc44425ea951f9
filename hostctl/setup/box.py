"""Setting up this box, where hostctl runs (as root): the steps in order, from the
operating system to the services, each checked before it is applied."""

from __future__ import annotations

import os
from collections.abc import Callable

from hostctl.cloudflare.connect import Choose
from hostctl.core.errors import HostctlError
from hostctl.core.paths import DOCKER_DAEMON_JSON, OS_RELEASE, SYSTEMD_UNITS
from hostctl.settings import Settings
from hostctl.setup import backups, cloudflared, firewall, github, tailscale
from hostctl.setup.answers import Answers
from hostctl.setup.domain import domain_step
from hostctl.setup.engine import engine_steps
from hostctl.setup.os_check import os_step
from hostctl.setup.push_user import push_user_steps
from hostctl.setup.services import service_steps
from hostctl.setup.steps import Step, StepResult, run_steps
from hostctl.state import Store
from hostctl.state.keys import PushKey, push_keys


def box_steps(settings: Settings, answers: Answers, choose: Choose | None = None) -> list[Step]:
    """Every step, in the order they depend on each other: nothing is installed on an
    unsupported system; the engine runs before the edge (which may listen on a Docker
    network's gateway) and the agent; the push user last of the core."""
    steps = [os_step(OS_RELEASE), *engine_steps(DOCKER_DAEMON_JSON)]
    if answers.domain:
        steps.append(domain_step(settings.paths.server_config, answers.domain))
    steps += service_steps(settings, SYSTEMD_UNITS)
    steps += push_user_steps(settings, lambda: stored_push_keys(settings))
    # steps 6 to 10, from the answers (``choose``: Cloudflare's account and zone pickers)
    steps += tailscale.steps(settings, answers)
    steps += cloudflared.steps(settings, answers, choose)
    for more in (github.steps, firewall.steps, backups.steps):
        steps += more(settings, answers)
    return steps


def setup_this_box(
    report: Callable[[StepResult], None],
    answers: Answers | None = None,
    check_only: bool = False,
    dry_run: bool = False,
    choose: Choose | None = None,
) -> list[StepResult]:
    """Run every step (each result goes to ``report``). With ``check_only`` or
    ``dry_run``, only look; ``check_only`` then raises a HostctlError if a step is not
    done, ``dry_run`` reports the plan."""
    if os.geteuid() != 0:
        raise HostctlError(
            "hostctl setup must run as root: it installs packages, adds a system user "
            "and a sudoers rule",
            "run it as root (e.g. `sudo hostctl setup`)",
        )
    settings = Settings.from_env()
    steps = box_steps(settings, answers or Answers(), choose)
    results = run_steps(steps, report, check_only or dry_run)
    missing = [r.name for r in results if r.status == "missing"]
    if missing and check_only:
        raise HostctlError(f"not done yet: {', '.join(missing)}", "run `hostctl setup` as root")
    return results


def setup_notes(answers: Answers) -> list[str]:
    """What to know once every step is done (a Tailscale key that expires, public SSH
    left open), from the steps that ran."""
    found = []
    if answers.tailscale_auth_key:
        found += tailscale.notes()
    if answers.firewall:
        found += firewall.notes()
    return found


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
