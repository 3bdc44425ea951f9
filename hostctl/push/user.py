"""The push user: `git push ssh://hostctl@BOX/APP` logs in as the system user ``hostctl``.
Each of its keys is forced to run ``sudo -n`` hostctl's git-shell, as root (Docker and the
state store are root's); its sudoers rule allows exactly that command and nothing else."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import tempfile
from pathlib import Path

from hostctl.errors import HostctlError
from hostctl.push.launcher import hostctl_argv
from hostctl.settings import Settings

PUSH_USER = "hostctl"
SUDOERS_FILE = Path("/etc/sudoers.d") / PUSH_USER
ENV = "/usr/bin/env"  # sudoers names a command by its absolute path
SUDOERS_ESCAPES = str.maketrans({c: f"\\{c}" for c in "\\,:=#"})
GLOB_ESCAPES = str.maketrans({c: f"\\{c}" for c in "\\*?[]"})


def git_shell_prefix() -> list[str]:
    """hostctl_argv's git-shell command up to the key name, with env by its full path."""
    argv = hostctl_argv("git-shell", "--key")
    return [ENV, *argv[1:]]


def forced_command(key_name: str) -> list[str]:
    """What a key of the push user runs: the one command its sudoers rule allows."""
    return ["sudo", "-n", *git_shell_prefix(), key_name]


def sudoers_word(arg: str) -> str:
    """One literal argument of a sudoers command: escaped for fnmatch (the rule ends in a
    wildcard, so sudo matches arguments as a pattern), then for the sudoers parser.
    ``( ) !`` need no escape inside arguments (sudo 1.9 rejects ``\\(``)."""
    if not arg or not arg.isprintable() or any(c.isspace() for c in arg):
        raise HostctlError(
            f"cannot write a sudoers rule for {arg!r}: it is empty or has whitespace",
            "sudo joins arguments with spaces, so paths with whitespace cannot be matched "
            "exactly: install hostctl and HOSTCTL_ROOT under paths without spaces",
        )
    return arg.translate(GLOB_ESCAPES).translate(SUDOERS_ESCAPES)


def sudoers_text() -> str:
    command = " ".join(sudoers_word(arg) for arg in git_shell_prefix())
    return (
        "# Written by `hostctl setup`; edits here are lost.\n"
        f"# The keys of the push user {PUSH_USER} run hostctl's git-shell as root, nothing\n"
        "# else; the key name is the one free argument. Never a tty: git's stream is binary.\n"
        f'Defaults:{PUSH_USER} env_keep += "SSH_ORIGINAL_COMMAND"\n'
        f"Defaults:{PUSH_USER} !requiretty, !use_pty\n"
        f"{PUSH_USER} ALL=(root) NOPASSWD: {command} *\n"
    )


def install_sudoers(text: str, path: Path = SUDOERS_FILE) -> None:
    """Install ``text`` at ``path`` (0440) atomically, only once `visudo -c` accepts it:
    a broken sudoers file would take sudo away from everyone."""
    # sudo never reads a file whose name has a dot, so the temporary one is inert
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o440)
            file.write(text)
        try:
            checked = subprocess.run(
                ["visudo", "-c", "-f", temporary], capture_output=True, text=True, check=False
            )
        except FileNotFoundError as exc:
            raise HostctlError("visudo is not installed", "apt-get install sudo") from exc
        if checked.returncode != 0:
            raise HostctlError(
                f"visudo refused the sudoers rule: {checked.stderr.strip() or checked.stdout}",
                f"{path} was left as it was; please report this",
            )
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(PUSH_USER)
    except KeyError:
        return None


def keys_header(settings: Settings) -> str:
    """The first line of the push user's authorized_keys: whose keys these are. `hostctl
    keys` run for another state root (a test, a second instance) leaves the file alone."""
    return f"# Written by hostctl for {settings.root} (`hostctl keys`); edits here are lost."


def authorized_keys_file() -> Path | None:
    found = account()
    return Path(found.pw_dir) / ".ssh" / "authorized_keys" if found else None


def keys_file_for(settings: Settings) -> Path | None:
    """The push user's authorized_keys when `hostctl setup` wrote it for this state root."""
    path = authorized_keys_file()
    if path is None:
        return None
    try:
        with path.open("rb") as file:
            first = file.readline().decode(errors="replace").rstrip("\n")
    except OSError:
        return None
    return path if first == keys_header(settings) else None


def write_authorized_keys(text: str) -> Path:
    """Write the push user's ~/.ssh/authorized_keys (dir 0700, file 0600, both theirs, as
    sshd's StrictModes wants) atomically. The user owns ~/.ssh, so root works through a
    descriptor of it and never follows a link planted there."""
    found = account()
    if found is None:
        raise HostctlError(f"there is no user {PUSH_USER}", "run `hostctl setup` first")
    ssh_dir = Path(found.pw_dir) / ".ssh"
    with contextlib.suppress(FileExistsError):
        ssh_dir.mkdir(mode=0o700)
    directory = os.open(ssh_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    temporary = f".authorized_keys.{secrets.token_hex(4)}"
    try:
        os.fchown(directory, found.pw_uid, found.pw_gid)
        os.fchmod(directory, 0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(temporary, flags, 0o600, dir_fd=directory)
        with os.fdopen(fd, "w") as file:
            os.fchown(fd, found.pw_uid, found.pw_gid)
            file.write(text)
        os.replace(temporary, "authorized_keys", src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)
        os.close(directory)
    return ssh_dir / "authorized_keys"
