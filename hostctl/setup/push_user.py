"""The steps that let `git push ssh://hostctl@BOX/APP` in: sudo and sshd installed, the
system user hostctl, its sudoers rule, and its authorized_keys."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from hostctl.errors import HostctlError
from hostctl.push.keys import PushKey, push_user_keys_text
from hostctl.push.user import (
    PUSH_USER,
    SUDOERS_FILE,
    account,
    install_sudoers,
    sudoers_text,
    write_authorized_keys,
)
from hostctl.settings import Settings
from hostctl.setup.steps import Step
from hostctl.setup.system import packages_step, run

PACKAGES = ["sudo", "openssh-server"]
HOME = Path("/home") / PUSH_USER
SHELL = "/bin/sh"  # sshd runs a forced command as `<the user's shell> -c COMMAND`
# No password matches "*". useradd's "!" would do as much, but sshd with `UsePAM no` takes
# "!" for a locked account and refuses it even a key.
PASSWORD = "*"  # noqa: S105 (the shadow field meaning "no password")
FIRST_PERSON_UID = 1000  # Debian: system accounts are below (login.defs SYS_UID_MAX 999)


def push_user_steps(settings: Settings, keys: Callable[[], list[PushKey]]) -> list[Step]:
    return [
        packages_step(PACKAGES),
        user_step(),
        sudoers_step(),
        authorized_keys_step(settings, keys),
    ]


def user_step() -> Step:
    return Step(
        name=f"user {PUSH_USER}",
        goal=f"a system user {PUSH_USER} with a home, shell {SHELL} and password field "
        f"{PASSWORD!r} exists",
        check=user_ok,
        apply=make_user,
    )


def user_ok() -> bool:
    found = account()
    return (
        found is not None
        and found.pw_uid < FIRST_PERSON_UID
        and found.pw_shell == SHELL
        and Path(found.pw_dir).is_dir()
        and password_field() == PASSWORD
    )


def password_field() -> str:
    return run("getent", "shadow", PUSH_USER).split(":")[1]


def make_user() -> None:
    found = account()
    if found is None:
        run(
            *("useradd", "--system", "--create-home", "--home-dir", str(HOME)),
            *("--shell", SHELL, "--comment", "hostctl git push", PUSH_USER),
        )
    elif found.pw_uid >= FIRST_PERSON_UID:
        raise HostctlError(
            f"the user {PUSH_USER} exists and is a person's account (uid {found.pw_uid})",
            "hostctl will not take it over: rename or remove it, then run `hostctl setup`",
        )
    run("usermod", "--shell", SHELL, "--password", PASSWORD, PUSH_USER)


def sudoers_step() -> Step:
    return Step(
        name=f"sudoers {SUDOERS_FILE}",
        goal=f"{SUDOERS_FILE} (0440) lets {PUSH_USER} run hostctl's git-shell as root, "
        "with the settings (HOSTCTL_*) this hostctl runs with",
        check=sudoers_ok,
        apply=lambda: install_sudoers(sudoers_text()),
        verify=lambda: sudoers_ok() and "git-shell --key" in sudo_listing(),
    )


def sudoers_ok() -> bool:
    try:
        found = SUDOERS_FILE.lstat()
    except FileNotFoundError:
        return False
    return (
        stat.S_ISREG(found.st_mode)
        and stat.S_IMODE(found.st_mode) == 0o440
        and (found.st_uid, found.st_gid) == (0, 0)
        and SUDOERS_FILE.read_text() == sudoers_text()
    )


def sudo_listing() -> str:
    """What sudo itself says the push user may run: the rule is read, and understood."""
    return run("sudo", "-n", "-l", "-U", PUSH_USER)


def authorized_keys_step(settings: Settings, keys: Callable[[], list[PushKey]]) -> Step:
    def wanted() -> str:
        return push_user_keys_text(settings, keys())

    def apply() -> None:
        found = account()
        if found is None:
            raise HostctlError(f"there is no user {PUSH_USER}")
        home = Path(found.pw_dir)
        home.chmod(stat.S_IMODE(home.stat().st_mode) & ~0o022)  # sshd's StrictModes
        write_authorized_keys(wanted())

    return Step(
        name=f"authorized_keys of {PUSH_USER}",
        goal=f"~{PUSH_USER}/.ssh/authorized_keys (0600, in a 0700 dir, both {PUSH_USER}'s) "
        "holds the push keys, each forced to the git-shell",
        check=lambda: keys_ok(wanted),
        apply=apply,
    )


def keys_ok(wanted: Callable[[], str]) -> bool:
    found = account()
    if found is None:
        return False
    home = Path(found.pw_dir)
    try:
        home_stat = home.stat()
        ssh_dir = (home / ".ssh").lstat()
        keys_file = (home / ".ssh" / "authorized_keys").lstat()
    except FileNotFoundError:
        return False
    mine = (found.pw_uid, found.pw_gid)
    return (
        home_stat.st_uid in (0, found.pw_uid)
        and not home_stat.st_mode & 0o022
        and stat.S_ISDIR(ssh_dir.st_mode)
        and (ssh_dir.st_uid, ssh_dir.st_gid, stat.S_IMODE(ssh_dir.st_mode)) == (*mine, 0o700)
        and stat.S_ISREG(keys_file.st_mode)
        and (keys_file.st_uid, keys_file.st_gid, stat.S_IMODE(keys_file.st_mode)) == (*mine, 0o600)
        and (home / ".ssh" / "authorized_keys").read_text() == wanted()
    )
