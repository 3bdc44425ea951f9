"""What `--repo` accepts: ``OWNER/NAME`` for GitHub, or a git URL of any host.

Only the URL forms listed in ``SCHEMES`` and scp-like ``user@host:path`` are accepted.
That is deliberate: git also runs remote helpers (``ext::sh -c ...``) and takes options
where a URL is expected (``--upload-pack=...``), so a spec that is neither a plain
repository name nor one of these URLs is refused rather than handed to git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hostctl.core.errors import HostctlError

SCHEMES = ("https", "http", "ssh", "git", "file")
# GitHub's rules: an owner is letters, digits and hyphens, not at either end, at most 39;
# a repository name is letters, digits, '.', '-' and '_', at most 100.
OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
SCP = re.compile(r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>.+)")
EXAMPLES = (
    "use OWNER/NAME for GitHub (e.g. me/blog), or a git URL (e.g. "
    "https://git.example.com/me/blog.git, git@git.example.com:me/blog.git, "
    "file:///srv/git/blog.git)"
)


@dataclass(frozen=True)
class RepoSpec:
    url: str  # what git fetches
    github: str | None = None  # "OWNER/NAME" when the repository is on GitHub

    @property
    def over_ssh(self) -> bool:
        """Whether git fetches it over SSH, the only way a deploy key is used."""
        return self.url.startswith("ssh://") or SCP.fullmatch(self.url) is not None


def parse_repo(spec: str, ssh_host: str = "github.com") -> RepoSpec:
    """``OWNER/NAME`` becomes the SSH URL on ``ssh_host``; a URL is kept as given, and
    marked as GitHub's when it points at ``ssh_host`` (GitHub Enterprise: its host)."""
    spec = spec.strip()
    if not spec or spec.startswith("-") or re.search(r"[\s\x00-\x1f\x7f]", spec):
        raise HostctlError(f"{spec!r} is not a repository hostctl can fetch", EXAMPLES)
    if "://" not in spec and "@" not in spec and ":" not in spec:
        github = github_name(spec.removesuffix(".git"), spec)
        return RepoSpec(url=f"git@{ssh_host}:{github}.git", github=github)
    scp = SCP.fullmatch(spec)
    if scp is not None:
        on_github = scp["host"].lower() == ssh_host.lower()
        return RepoSpec(spec, github_name(repo_path(scp["path"]), spec) if on_github else None)
    return url_spec(spec, ssh_host)


def url_spec(spec: str, ssh_host: str) -> RepoSpec:
    try:
        url = urlsplit(spec)
        host = (url.hostname or "").lower()
    except ValueError as exc:  # e.g. an unbalanced [ in the host
        raise HostctlError(f"{spec!r} is not a valid URL", EXAMPLES) from exc
    if url.scheme not in SCHEMES:
        raise HostctlError(
            f"{spec!r} is not a repository hostctl can fetch (scheme {url.scheme!r})", EXAMPLES
        )
    if url.scheme == "file":
        if host not in ("", "localhost") or url.path in ("", "/"):
            raise HostctlError(f"{spec!r} is not a local repository path", EXAMPLES)
        return RepoSpec(spec)
    if not host or url.path in ("", "/"):
        raise HostctlError(f"{spec!r} has no host or no repository path", EXAMPLES)
    if url.password is not None:
        raise HostctlError(
            f"the repository URL for {host} contains a password",
            "hostctl stores and shows repository URLs, so they must not hold credentials; "
            "for GitHub use OWNER/NAME (hostctl adds a read-only deploy key)",
        )
    on_github = host == ssh_host.lower() and url.scheme in ("https", "http", "ssh")
    return RepoSpec(spec, github_name(repo_path(url.path), spec) if on_github else None)


def repo_path(path: str) -> str:
    return path.strip("/").removesuffix(".git")


def github_name(name: str, spec: str) -> str:
    """``OWNER/NAME`` checked against GitHub's naming rules."""
    owner, _, repo = name.partition("/")
    if OWNER.fullmatch(owner) and NAME.fullmatch(repo) and repo not in (".", ".."):
        return f"{owner}/{repo}"
    raise HostctlError(
        f"{spec!r} is not a GitHub repository: OWNER is letters, digits and hyphens (not "
        "at either end, at most 39), NAME is letters, digits, '.', '-' and '_' (at most 100)",
        EXAMPLES,
    )
