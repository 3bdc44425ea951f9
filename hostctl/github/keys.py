"""Per-app deploy keys: an ed25519 keypair made on the box, and the ssh command git uses.

The private key never leaves the box; GitHub gets the public half as a read-only deploy
key. ``cryptography`` makes the key (paramiko cannot generate ed25519) and writes it in
OpenSSH's own format, which ssh reads directly. It is imported only to make or read a
key (~8 MiB): a deploy only needs the key's path.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings

PRIVATE = "id_ed25519"
PUBLIC = "id_ed25519.pub"


@dataclass(frozen=True)
class DeployKey:
    private_path: Path
    public_key_openssh: str  # "ssh-ed25519 AAAA... comment", one line


def app_deploy_key(settings: Settings, app: str) -> DeployKey:
    """The app's keypair, made on first use (`apps connect`), commented ``hostctl <app>``."""
    return ensure_deploy_key(settings.paths.deploy_keys(app), f"hostctl {app}")


def existing_deploy_key(settings: Settings, app: str) -> DeployKey | None:
    """The app's keypair if `apps connect` made one, else None; only reads (a deploy)."""
    directory = settings.paths.deploy_keys(app)
    private_path = directory / PRIVATE
    if not private_path.is_file():
        return None
    public_path = directory / PUBLIC
    public = public_path.read_text().strip() if public_path.is_file() else ""
    return DeployKey(private_path, public or public_key(private_path))


def ensure_deploy_key(directory: Path, comment: str = "hostctl deploy key") -> DeployKey:
    """The keypair in ``directory``, made on first use and loaded ever after.

    The private key is written to a temporary file (0600) and hard-linked into place, so
    a crash never leaves half a key and two concurrent callers end up with the same one.
    The public half is written only when missing or not this key: a public file of the
    same key with another comment is kept as it is.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    private_path = directory / PRIVATE
    if not private_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        temporary = directory / f".{PRIVATE}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        try:
            os.link(temporary, private_path)
        except FileExistsError:
            pass  # another process made it first: use that one
        finally:
            temporary.unlink()
    private_path.chmod(0o600)  # ssh refuses a private key others can read
    material = public_key(private_path)
    public_path = directory / PUBLIC
    if public_path.is_file():
        existing = public_path.read_text().strip()
        if existing.split()[:2] == material.split()[:2]:
            return DeployKey(private_path, existing)
    public = f"{material} {comment}".strip()
    public_path.write_text(public + "\n")
    return DeployKey(private_path, public)


def public_key(private_path: Path) -> str:
    """``ssh-ed25519 AAAA...`` of the private key on disk."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise HostctlError(
            f"{private_path} is not a readable OpenSSH private key",
            f"delete {private_path.parent} to make a new key, then connect the app again "
            "(`hostctl apps connect`) so GitHub gets the new public key",
        ) from exc
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def git_ssh_command(key: DeployKey, known_hosts: Path) -> str:
    """The value of GIT_SSH_COMMAND for fetching with ``key``, never prompting.

    Git runs it through a shell, hence shlex quoting; ssh splits an ``-o`` value on spaces
    and expands ``%`` tokens in file names, hence the inner quotes and ``%%``. Paths are
    made absolute because git runs ssh from inside the repository.

    Host keys: ``accept-new`` trusts a host on first contact, records its key in
    hostctl's own ``known_hosts`` and refuses any later change (trust on first use).
    Pinning GitHub's published keys would also protect that first contact, but hostctl
    would then have to ship and update them (GitHub replaced its RSA key in 2023) and
    could not fetch from any other host (GitHub Enterprise, or any git server) without
    more configuration; the first contact is from the box itself, over its own network.
    """
    return shlex.join(
        [
            "ssh",
            "-i",
            ssh_path(key.private_path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f'UserKnownHostsFile="{ssh_path(known_hosts)}"',
            "-o",
            "BatchMode=yes",
        ]
    )


def ssh_path(path: Path) -> str:
    """``path`` as ssh reads a file name: absolute, with ``%`` escaped."""
    text = str(path.absolute())
    if '"' in text:
        raise HostctlError(
            f"ssh cannot use a file whose path contains a double quote: {text}",
            "move HOSTCTL_ROOT to a path without double quotes",
        )
    return text.replace("%", "%%")
