"""The push user's one way in as root: WRAPPER, a root-owned script that runs hostctl's
git-shell for one key name, with the interpreter and settings this hostctl runs with.

The sudoers rule names only the script: sudo joins a command's arguments with spaces
before it matches them, so a rule naming the whole `env … python -m hostctl git-shell`
command with a wildcard for the key name would let the user pack the settings into one
argument and append a command of their own."""

from __future__ import annotations

import shlex

from hostctl.push.launcher import hostctl_argv
from hostctl.push.user import WRAPPER
from hostctl.setup.files import install_file, owned_by_root
from hostctl.setup.steps import Step
from hostctl.setup.trust import check_trusted, launch_paths

MODE = 0o755


def wrapper_text() -> str:
    command = ["/usr/bin/env", *hostctl_argv("git-shell")[1:]]
    return (
        "#!/bin/sh\n"
        "# Written by `hostctl setup`; edits here are lost. The push user's keys run it as\n"
        "# root through sudo; its one argument is the key name, which git-shell checks.\n"
        'if [ "$#" -ne 1 ]; then\n'
        f'    echo "usage: {WRAPPER} KEY_NAME" >&2\n'
        "    exit 2\n"
        "fi\n"
        "# from /, not the push user's home: `python -m` imports from where it starts\n"
        "cd / || exit 1\n"
        f'exec {shlex.join(command)} "--key=$1"\n'
    )


def wrapper_step() -> Step:
    return Step(
        name=f"git-shell {WRAPPER}",
        goal=f"{WRAPPER} (root's, 0755) runs this hostctl's git-shell with its settings "
        "(HOSTCTL_*), from paths only root can change",
        check=wrapper_ok,
        apply=install_wrapper,
    )


def wrapper_ok() -> bool:
    check_trusted([*launch_paths(), WRAPPER])
    return owned_by_root(WRAPPER, MODE) and WRAPPER.read_text() == wrapper_text()


def install_wrapper() -> None:
    """(The step's check has found every path trusted, or raised.)"""
    if not WRAPPER.parent.is_dir():
        WRAPPER.parent.mkdir(mode=MODE, parents=True)
        WRAPPER.parent.chmod(MODE)  # whatever the umask
    install_file(WRAPPER, wrapper_text(), MODE)
