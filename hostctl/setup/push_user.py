"""The steps that let `git push ssh://hostctl@BOX/APP` in: sudo and sshd installed, the
system user hostctl with its root-owned home, the git-shell wrapper, its sudoers rule, and
its authorized_keys."""

from __future__ import annotations

import stat
from collections.abc import Callable

from hostctl.adapters.system import run
from hostctl.core.errors import HostctlError
from hostctl.push.keys import push_user_keys_text
from hostctl.push.user import PUSH_USER, account, read_keys_file, write_authorized_keys
from hostctl.settings import Settings
from hostctl.setup.files import owner_and_mode
from hostctl.setup.git_shell import wrapper_step
from hostctl.setup.home import HOME, home_ok, make_home
from hostctl.setup.steps import Step
from hostctl.setup.sudoers import sudoers_step
from hostctl.setup.system import packages_step
from hostctl.state.keys import PushKey

PACKAGES = ["sudo", "openssh-server"]
SHELL = "/bin/sh"  # sshd runs a forced command as `<the user's shell> -c COMMAND`
# No password matches "*". useradd's "!" would do as much, but sshd with `UsePAM no` takes
# "!" for a locked account and refuses it even a key.
PASSWORD = "*"  # noqa: S105 (the shadow field meaning "no password")
FIRST_PERSON_UID = 1000  # Debian: system accounts are below (login.defs SYS_UID_MAX 999)


def push_user_steps(settings: Settings, keys: Callable[[], list[PushKey]]) -> list[Step]:
    return [
        packages_step(PACKAGES),
        user_step(),
        wrapper_step(),
        sudoers_step(),
        authorized_keys_step(settings, keys),
    ]


def user_step() -> Step:
    return Step(
        name=f"user {PUSH_USER}",
        goal=f"a system user {PUSH_USER} with shell {SHELL}, password field {PASSWORD!r} "
        f"and home {HOME}, root's (0755) and writable by nobody else",
        check=user_ok,
        apply=make_user,
    )


def user_ok() -> bool:
    found = account()
    return (
        found is not None
        and found.pw_uid < FIRST_PERSON_UID
        and found.pw_shell == SHELL
        and found.pw_dir == str(HOME)
        and password_field() == PASSWORD
        and home_ok()
    )


def password_field() -> str:
    return run("getent", "shadow", PUSH_USER).split(":")[1]


def make_user() -> None:
    found = account()
    if found is None:
        run(
            *("useradd", "--system", "--no-create-home", "--home-dir", str(HOME)),
            *("--shell", SHELL, "--comment", "hostctl git push", PUSH_USER),
        )
    elif found.pw_uid >= FIRST_PERSON_UID:
        raise HostctlError(
            f"the user {PUSH_USER} exists and is a person's account (uid {found.pw_uid})",
            "hostctl will not take it over: rename or remove it, then run `hostctl setup`",
        )
    run("usermod", "--home", str(HOME), "--shell", SHELL, "--password", PASSWORD, PUSH_USER)
    make_home()


def authorized_keys_step(settings: Settings, keys: Callable[[], list[PushKey]]) -> Step:
    def wanted() -> str:
        return push_user_keys_text(settings, keys())

    def apply() -> None:
        write_authorized_keys(wanted())

    return Step(
        name=f"authorized_keys of {PUSH_USER}",
        goal=f"{HOME}/.ssh/authorized_keys (0644 in a 0755 .ssh, both root's) holds the "
        "push keys, each forced to the git-shell wrapper",
        check=lambda: keys_ok(wanted()),
        apply=apply,
    )


def keys_ok(wanted: str) -> bool:
    try:
        ssh_dir = (HOME / ".ssh").lstat()
    except FileNotFoundError:
        return False
    text = wanted.encode()
    read = read_keys_file(len(text) + 1)  # one byte more: a longer file differs
    return (
        stat.S_ISDIR(ssh_dir.st_mode)
        and owner_and_mode(ssh_dir) == (0, 0, 0o755)
        and read is not None
        and owner_and_mode(read[0]) == (0, 0, 0o644)
        and read[1] == text
    )
