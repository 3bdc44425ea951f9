"""git, as a subprocess: a per-app bare cache fetched from the app's source."""

from __future__ import annotations

import contextlib
import os
import posixpath
import signal
import subprocess
import tarfile
from pathlib import Path
from typing import NoReturn

from hostctl.core.errors import DISK_FULL, HostctlError, disk_full

TIMEOUT = 600  # seconds a git command may take
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


def run_git(
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = TIMEOUT,
) -> str:
    try:
        # A session of its own: on timeout its helpers (git-remote-http, ssh) are killed
        # too; else they stay, hung on the server, and hold the output pipes open.
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ | GIT_ENV | (env or {}),
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise HostctlError("git is not installed", "install it (apt-get install git)") from exc
    with process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):  # all gone meanwhile
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise HostctlError(
                f"git {args[0]} did not finish in {timeout:g} s",
                "check that the repository is reachable from this machine, then try again",
            ) from exc
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and done.returncode != 0:
        if DISK_FULL in done.stderr.lower():
            raise disk_full(f"run git {args[0]}")
        raise HostctlError(
            f"git {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}",
            "check that the repository and ref exist and are readable from this machine",
        )
    return done.stdout.strip()


def init_bare(path: Path, head_branch: str) -> None:
    """A bare repository at ``path`` (made if missing) whose HEAD names ``head_branch``."""
    if not (path / "HEAD").is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        run_git("init", "--bare", "--quiet", str(path))
    run_git("symbolic-ref", "HEAD", f"refs/heads/{head_branch}", cwd=path)


def archive(repo: Path, commit: str, output: Path) -> None:
    """Write the tree of ``commit`` to the tar file ``output``."""
    run_git("archive", "--format=tar", "-o", str(output), commit, cwd=repo)


def is_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def fetch(
    cache: Path,
    url: str,
    ref: str | None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """Fetch ``url`` into the bare ``cache``; return the full commit id ``ref`` names.

    With no ref, that is the commit the remote's HEAD (its default branch) points at.
    ``env`` adds e.g. GIT_SSH_COMMAND with the app's deploy key; each round trip to
    ``url`` gets at most ``timeout`` seconds.
    """
    fetch_refs(cache, url, env, timeout)
    return resolve(cache, url, ref, env, timeout)


def fetch_refs(
    cache: Path, url: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> None:
    """Mirror the branches, tags and HEAD of ``url`` into the bare ``cache`` (made if
    missing), in one round trip."""
    if not (cache / "HEAD").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        run_git("init", "--bare", "--quiet", str(cache))
    run_git(
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
        timeout=timeout,
    )


def resolve(
    cache: Path,
    url: str,
    ref: str | None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """The full commit id ``ref`` names in the fetched ``cache``: a branch, else a tag,
    else a commit id (fetched from ``url`` by itself when no branch or tag has it)."""
    if ref is None:
        return run_git("rev-parse", "--verify", "refs/hostctl/head^{commit}", cwd=cache)
    candidates = (f"refs/heads/{ref}", f"refs/tags/{ref}", ref)
    found = lookup(cache, candidates)
    if found:
        return found
    if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower()):
        run_git("fetch", "--quiet", url, ref, cwd=cache, check=False, env=env, timeout=timeout)
        found = lookup(cache, (ref,))
        if found:
            return found
    raise HostctlError(
        f"ref {ref!r} not found in {url}",
        "name a branch, a tag or a commit id that exists in the repository",
    )


def lookup(cache: Path, names: tuple[str, ...]) -> str | None:
    """The commit the first of ``names`` that names one points at, asked of one git
    process (a process per name costs ~15 ms each)."""
    if any("\n" in name for name in names):
        return None
    asked = "".join(f"{name}^{{commit}}\n" for name in names)
    answers = run_git(
        "cat-file", "--batch-check=%(objectname) %(objecttype)", cwd=cache, stdin=asked, check=False
    )
    for line in answers.splitlines():
        commit, _, kind = line.partition(" ")
        if kind == "commit":
            return commit
    return None


def branch_head(cache: Path, branch: str) -> str | None:
    """The commit ``branch`` points at in the fetched ``cache`` (None: no such branch)."""
    return lookup(cache, (f"refs/heads/{branch}",))


# tarfile's extraction filters came with Python 3.11.4; Debian 12 has 3.11.2.
DATA_FILTER = hasattr(tarfile, "data_filter")


def export(cache: Path, commit: str, destination: Path) -> None:
    """Write the tree of ``commit`` into ``destination`` (no .git)."""
    tar = destination.parent / f"{destination.name}.tar"
    archive(cache, commit, tar)
    extract(tar, destination)
    tar.unlink()


def extract(archive: Path, destination: Path) -> None:
    """Unpack a source tree; members that could write or point outside it are refused
    here, as this Python's ``data`` filter predates the 2025 fixes to it."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            check_members(members)
            if DATA_FILTER:
                tar.extractall(destination, members=members, filter="data")
            else:
                members = [as_data(m) for m in members]  # checked above
                tar.extractall(destination, members=members)  # noqa: S202
    except tarfile.TarError as exc:
        raise HostctlError(
            f"the source could not be unpacked: {exc}",
            "fix the file it names in the repository, commit and push again",
        ) from exc


def as_data(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """What the ``data`` filter keeps of a checked member, for a Python without it: no
    owner from the archive, no setuid, setgid or sticky bit, no group or other write."""
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    member.mode &= 0o755
    if member.isfile():
        member.mode |= 0o600
    return member


def check_members(members: list[tarfile.TarInfo]) -> None:
    links: set[str] = set()
    for member in members:
        name = posixpath.normpath(member.name)
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            refuse_member(member.name, "its path leaves the source tree")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            refuse_member(member.name, "it is inside a symlinked directory")
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            target = posixpath.normpath(posixpath.join(base, member.linkname))
            if member.linkname.startswith("/") or target.split("/")[0] == "..":
                refuse_member(member.name, f"it links to {member.linkname}, outside the tree")
            links.add(name)
        elif not (member.isfile() or member.isdir()):
            refuse_member(member.name, "it is not a file, a directory or a link")
    for member in members:
        if member.issym():
            check_link_walk(member, links)


def check_link_walk(member: tarfile.TarInfo, links: set[str]) -> None:
    """Follow a link's target one part at a time, as the kernel will: it must never pass
    through another link (whose own target normpath cannot see) or climb above the tree."""
    where = posixpath.normpath(member.name).split("/")[:-1]
    parts = member.linkname.split("/")
    for number, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                refuse_member(member.name, f"it links to {member.linkname}, outside the tree")
            where.pop()
            continue
        where.append(part)
        if number < len(parts) - 1 and "/".join(where) in links:
            refuse_member(member.name, f"it links to {member.linkname}, through another link")


def refuse_member(name: str, why: str) -> NoReturn:
    raise HostctlError(
        f"the source has {name!r}, which hostctl refuses: {why}",
        "commit the file itself instead of a link to something outside the repository",
    )


def commit_subject(cache: Path, commit: str) -> str:
    return run_git("log", "-1", "--format=%s", commit, cwd=cache, check=False)
