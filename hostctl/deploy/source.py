"""Getting an app's source: a local directory, a local git repository or a git URL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hostctl.adapters import git
from hostctl.core.errors import HostctlError

T = TypeVar("T")
URL_SCHEMES = ("file://", "ssh://", "https://", "http://", "git://", "git@")


@dataclass(frozen=True)
class Source:
    location: str  # as recorded: an absolute path or a URL
    commit: str | None
    description: str


def is_url(source: str) -> bool:
    return source.startswith(URL_SCHEMES)


def check_source(source: str) -> str:
    """The source as it will be recorded: a URL, or the absolute path of a directory."""
    if is_url(source):
        return source
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise HostctlError(
            f"source {source!r} does not exist",
            "pass a directory, a git repository or a git URL (file://, ssh://, https://)",
        )
    if not path.is_dir():
        raise HostctlError(f"source {source!r} is not a directory", "pass the app's folder")
    return str(path)


def fetch_source(
    source: str,
    ref: str | None,
    cache: Path,
    tree: Path,
    spooled: Path | None = None,
    git_env: dict[str, str] | None = None,
    credentials: Callable[[bool], dict[str, str]] | None = None,
    fetched: bool = False,
) -> Source:
    """Put the source's files in ``tree``; for git, exactly the commit ``ref`` names,
    taken from the ``spooled`` tree of a push when there is one.

    ``credentials(fresh)`` gives git an HTTPS token (a GitHub App's installation token):
    when the server refuses it (it expired or was revoked mid-way), a fresh one is minted
    and the fetch tried once more. ``fetched``: this job already fetched the source
    into ``cache`` (its stale-push check), so git only looks the ref up there."""
    source = check_source(source)
    archive = spooled
    if archive is not None and archive.is_file():
        git.extract(archive, tree)
        return Source(source, ref, f"{(ref or '')[:10]} (pushed)")
    if not is_url(source):
        path = Path(source)
        if not git.is_repository(path):
            if ref:
                raise HostctlError(
                    f"--ref needs a git repository, and {source} is a plain directory",
                    "drop --ref, or point at a git repository",
                )
            # Links stay links: hostctl (root) never copies the host files they point at.
            shutil.copytree(path, tree, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            return Source(str(path), None, f"directory {path}")
        source = str(path)
    get = git.resolve if fetched else git.fetch
    commit = with_credentials(lambda env: get(cache, source, ref, env), git_env or {}, credentials)
    git.export(cache, commit, tree)
    subject = git.commit_subject(cache, commit)
    return Source(source, commit, f"{commit[:10]} {subject}".strip())


def with_credentials(
    run: Callable[[dict[str, str]], T],
    git_env: dict[str, str],
    credentials: Callable[[bool], dict[str, str]] | None,
) -> T:
    """``run(environment)`` for git, with the token when there are ``credentials``; when
    the server refuses the (cached) token, once more with a freshly minted one."""
    if credentials is None:
        return run(git_env)
    try:
        return run(git_env | credentials(False))
    except HostctlError as exc:
        if not refused(exc.message):
            raise
        return run(git_env | credentials(True))


def refused(message: str) -> bool:
    """Whether git failed because the HTTP server refused its credentials."""
    return any(
        sign in message
        for sign in ("Authentication failed", "returned error: 401", "returned error: 403")
    )
