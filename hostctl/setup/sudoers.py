"""The push user's sudoers rule: it may run the git-shell wrapper as root, with any
arguments (the wrapper takes exactly one, and git-shell checks it), and nothing else."""

from __future__ import annotations

from pathlib import Path

from hostctl.adapters.system import run, sudoers_problem
from hostctl.core.errors import HostctlError
from hostctl.push.user import PUSH_USER, WRAPPER
from hostctl.setup.files import install_file, owned_by_root
from hostctl.setup.steps import Step

SUDOERS_FILE = Path("/etc/sudoers.d") / PUSH_USER
MODE = 0o440


def sudoers_text() -> str:
    return (
        "# Written by `hostctl setup`; edits here are lost.\n"
        f"# The keys of the push user {PUSH_USER} run hostctl's git-shell as root through\n"
        "# the wrapper, nothing else. Never a tty: git's stream is binary.\n"
        f'Defaults:{PUSH_USER} env_keep += "SSH_ORIGINAL_COMMAND"\n'
        f"Defaults:{PUSH_USER} !requiretty, !use_pty\n"
        f"{PUSH_USER} ALL=(root) NOPASSWD: {WRAPPER} *\n"
    )


def install_sudoers(text: str) -> None:
    """Install ``text`` only once `visudo -c` accepts it: a broken sudoers file would take
    sudo away from everyone."""
    install_file(SUDOERS_FILE, text, MODE, check=visudo)


def visudo(path: str) -> None:
    problem = sudoers_problem(path)
    if problem is not None:
        raise HostctlError(
            f"visudo refused the sudoers rule: {problem}",
            f"{SUDOERS_FILE} was left as it was; please report this",
        )


def sudoers_step() -> Step:
    return Step(
        name=f"sudoers {SUDOERS_FILE}",
        goal=f"{SUDOERS_FILE} (0440) lets {PUSH_USER} run {WRAPPER} as root, and nothing else",
        check=sudoers_ok,
        apply=lambda: install_sudoers(sudoers_text()),
        verify=lambda: sudoers_ok() and str(WRAPPER) in sudo_listing(),
    )


def sudoers_ok() -> bool:
    return owned_by_root(SUDOERS_FILE, MODE) and SUDOERS_FILE.read_text() == sudoers_text()


def sudo_listing() -> str:
    """What sudo itself says the push user may run: the rule is read, and understood."""
    return run("sudo", "-n", "-l", "-U", PUSH_USER)
