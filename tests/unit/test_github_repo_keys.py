"""`--repo` specs, per-app deploy keys, and the ssh command git fetches with.

The keys are checked by OpenSSH itself (ssh-keygen); a real git fetch with the ssh command
is in tests/integration/test_github_deploy_key_fetch.py.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from hostctl.core.errors import HostctlError
from hostctl.github.keys import DeployKey, ensure_deploy_key, git_ssh_command
from hostctl.github.repo import RepoSpec, parse_repo

AS_GIVEN = None


@pytest.mark.parametrize(
    ("spec", "url", "github"),
    [
        ("me/blog", "git@github.com:me/blog.git", "me/blog"),
        ("me/blog.git", "git@github.com:me/blog.git", "me/blog"),
        ("Big-Org-2/my.site_v2", "git@github.com:Big-Org-2/my.site_v2.git", "Big-Org-2/my.site_v2"),
        ("https://github.com/me/blog", AS_GIVEN, "me/blog"),
        ("https://github.com/me/blog.git", AS_GIVEN, "me/blog"),
        ("https://GitHub.com/me/blog/", AS_GIVEN, "me/blog"),
        ("git@github.com:me/blog.git", AS_GIVEN, "me/blog"),
        ("ssh://git@github.com/me/blog.git", AS_GIVEN, "me/blog"),
        ("ssh://git@github.com:22/me/blog", AS_GIVEN, "me/blog"),
        ("file:///srv/git/blog.git", AS_GIVEN, None),
        ("file://localhost/srv/git/blog", AS_GIVEN, None),
        ("https://git.example.com/me/blog.git", AS_GIVEN, None),
        ("http://10.0.0.5:3000/me/blog.git", AS_GIVEN, None),
        ("git://git.example.com/blog.git", AS_GIVEN, None),
        ("ssh://git@git.example.com:2222/x.git", AS_GIVEN, None),
        ("deploy@git.example.com:srv/blog.git", AS_GIVEN, None),
        ("git@gitlab.com:me/blog.git", AS_GIVEN, None),
        ("https://deploy@git.example.com/x.git", AS_GIVEN, None),
    ],
)
def test_parse_repo(spec: str, url: str | None, github: str | None) -> None:
    assert parse_repo(spec) == RepoSpec(url or spec, github)


def test_parse_repo_on_github_enterprise() -> None:
    host = "ghe.example.com"
    assert parse_repo("me/blog", ssh_host=host) == RepoSpec(f"git@{host}:me/blog.git", "me/blog")
    assert parse_repo(f"https://{host}/me/blog", ssh_host=host).github == "me/blog"
    assert parse_repo("https://github.com/me/blog", ssh_host=host).github is None


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "blog",
        "-me/blog",
        "me-/blog",
        "me/",
        "me/blog/extra",
        "a" * 40 + "/blog",
        "me/" + "x" * 101,
        "me/..",
        "me/bl og",
        "me/\x1bblog",
        "/srv/git/blog.git",
        "./blog",
        "ext::sh -c touch% /tmp/pwned",
        "--upload-pack=touch /tmp/pwned",
        "ftp://git.example.com/blog.git",
        "file://",
        "file://otherhost/srv/blog",
        "https://",
        "https://git.example.com",
        "https://github.com/me",
        "git@github.com:me",
        "https://me:hunter2@git.example.com/blog.git",
    ],
)
def test_parse_repo_refuses_with_an_example(spec: str) -> None:
    with pytest.raises(HostctlError) as caught:
        parse_repo(spec)
    assert "e.g. me/blog" in str(caught.value.hint) or "OWNER/NAME" in str(caught.value.hint)
    assert "hunter2" not in caught.value.message


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_deploy_key_is_made_once_private_and_accepted_by_openssh(tmp_path: Path) -> None:
    directory = tmp_path / "keys" / "blog"
    key = ensure_deploy_key(directory)
    assert key.private_path == directory / "id_ed25519"
    assert (mode(directory), mode(key.private_path)) == (0o700, 0o600)
    assert key.private_path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    kind, material, comment = key.public_key_openssh.split(" ", 2)
    assert (kind, comment) == ("ssh-ed25519", "hostctl deploy key")
    assert material.startswith("AAAAC3NzaC1lZDI1NTE5")
    load_ssh_public_key(key.public_key_openssh.encode())  # valid OpenSSH public key
    assert (directory / "id_ed25519.pub").read_text() == key.public_key_openssh + "\n"
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key.private_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert derived[:2] == [kind, material]
    before = key.private_path.read_bytes()
    key.private_path.chmod(0o644)
    again = ensure_deploy_key(directory)
    assert again == key and key.private_path.read_bytes() == before
    assert mode(key.private_path) == 0o600  # ssh would refuse a key others can read
    assert sorted(p.name for p in directory.iterdir()) == ["id_ed25519", "id_ed25519.pub"]


def test_a_damaged_key_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / "id_ed25519").write_text("not a key\n")
    with pytest.raises(HostctlError) as caught:
        ensure_deploy_key(directory)
    assert "not a readable OpenSSH private key" in caught.value.message
    assert "hostctl apps connect" in str(caught.value.hint)


def test_git_ssh_command_is_one_shell_string_with_quoted_paths(tmp_path: Path) -> None:
    key = DeployKey(tmp_path / "keys 100%" / "id_ed25519", "ssh-ed25519 AAAA")
    known = tmp_path / "known hosts"
    assert shlex.split(git_ssh_command(key, known)) == [
        "ssh",
        "-i",
        f"{tmp_path}/keys 100%%/id_ed25519",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f'UserKnownHostsFile="{known}"',
        "-o",
        "BatchMode=yes",
    ]
