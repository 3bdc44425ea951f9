"""git, as a subprocess: a per-app bare cache fetched from the app's source."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from hostctl.core.errors import DISK_FULL, HostctlError, disk_full

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


def git(
    *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None
) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=os.environ | GIT_ENV | (env or {}),
            timeout=600,
            check=False,
        )
    except FileNotFoundError as exc:
        raise HostctlError("git is not installed", "install it (apt-get install git)") from exc
    if check and done.returncode != 0:
        if DISK_FULL in done.stderr.lower():
            raise disk_full(f"run git {args[0]}")
        raise HostctlError(
            f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}",
            "check that the repository and ref exist and are readable from this machine",
        )
    return done.stdout.strip()


def is_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def fetch(cache: Path, url: str, ref: str | None, env: dict[str, str] | None = None) -> str:
    """Fetch ``url`` into the bare ``cache``; return the full commit id ``ref`` names.

    With no ref, that is the commit the remote's HEAD (its default branch) points at.
    ``env`` adds e.g. GIT_SSH_COMMAND with the app's deploy key.
    """
    if not (cache / "HEAD").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "--quiet", str(cache))
    git(
        "fetch",
        "--quiet",
        "--force",
        "--prune",
        "--no-tags",
        url,
        "+HEAD:refs/hostctl/head",
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
        cwd=cache,
        env=env,
    )
    if ref is None:
        return git("rev-parse", "--verify", "refs/hostctl/head^{commit}", cwd=cache)
    for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        found = git(
            "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=cache, check=False
        )
        if found:
            return found
    if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower()):
        git("fetch", "--quiet", url, ref, cwd=cache, check=False, env=env)
        found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cache, check=False)
        if found:
            return found
    raise HostctlError(
        f"ref {ref!r} not found in {url}",
        "name a branch, a tag or a commit id that exists in the repository",
    )


def remote_branch(url: str, branch: str, env: dict[str, str] | None = None) -> str | None:
    """The commit ``branch`` points at on ``url`` now, or None when it has no such branch."""
    wanted = f"refs/heads/{branch}"
    for line in git("ls-remote", "--heads", url, wanted, env=env).splitlines():
        commit, _, ref = line.partition("\t")
        if ref == wanted:
            return commit
    return None


def export(cache: Path, commit: str, destination: Path) -> None:
    """Write the tree of ``commit`` into ``destination`` (no .git)."""
    archive = destination.parent / f"{destination.name}.tar"
    git("archive", "--format=tar", "-o", str(archive), commit, cwd=cache)
    extract(archive, destination)
    archive.unlink()


def extract(archive: Path, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")


def commit_subject(cache: Path, commit: str) -> str:
    return git("log", "-1", "--format=%s", commit, cwd=cache, check=False)
