"""A deploy: fetch → plan → build → release command → swap. Any failure leaves the
previous release serving, and is recorded on the release with its reason."""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hostctl.adapters import git
from hostctl.adapters.cgroups import bound_buildkit, build_parent
from hostctl.adapters.docker import Builder, BuildLimits
from hostctl.core.errors import HostctlError, disk_full
from hostctl.core.locks import file_lock
from hostctl.core.progress import Logged, Reporter
from hostctl.deploy.env_defaults import apply_env_defaults
from hostctl.deploy.oneoff import run_postdeploy, run_predeploy
from hostctl.deploy.rules import build_cache_id, cache_to_prune, images_to_remove, serving_before
from hostctl.deploy.source import check_source, fetch_source, with_credentials
from hostctl.deploy.swap import RELEASE_TIMEOUT, Leftovers, run_release_command, swap
from hostctl.host import Host
from hostctl.stack.plan import DEFAULT_PORT, plan_build
from hostctl.state import Release

if TYPE_CHECKING:
    from hostctl.github.app import GitCredentials

# Listing the build cache costs the engine seconds (`docker system df`): every tenth
# release of an app looks, and the agent's maintenance.
CACHE_PRUNE_EVERY = 10


@contextmanager
def app_lock(host: Host, app: str, out: Reporter) -> Iterator[None]:
    def waiting(holder: str) -> None:
        who = f" (pid {holder})" if holder else ""
        out.step(f"Another deploy of {app} is running{who}; waiting for it to finish")

    with file_lock(host.settings.paths.app_lock(app), on_wait=waiting):
        yield


def deploy(
    host: Host,
    app: str,
    source: str,
    ref: str | None,
    trigger: str,
    out: Reporter,
    checkpoint: Callable[[], None] = lambda: None,
    on_release: Callable[[Release], None] = lambda release: None,
    leftovers: Leftovers | None = None,
    fetched: bool = False,
) -> Release:
    """Build ``source`` at ``ref`` into a new release and swap it in.

    ``checkpoint`` is called between steps, up to the swap, and may raise to stop the
    deploy there (a stopping agent); ``on_release`` learns the release number early;
    ``leftovers``, when given, gets the old containers to stop instead of this call;
    ``fetched``: the app's git cache already has the source (see stale_push).
    """
    host.store.app(app)
    with app_lock(host, app, out):
        release = host.store.new_release(app, "deploy", trigger, source=source)
        on_release(release)

        def build_and_swap(log: Logged) -> Release:
            return build_release(host, release, source, ref, log, checkpoint, leftovers, fetched)

        return run_release(host, release, out, build_and_swap)


def resolve_source(
    host: Host, app: str, source: str | None, ref: str | None
) -> tuple[str, str | None]:
    """What a deploy with no SOURCE builds: the app's repository at its branch, else the
    last source deployed. A path is made absolute here, where the caller's cwd is known."""
    if source is not None:
        return check_source(source), ref
    found = host.store.app(app)
    if found.repo:
        return found.repo, ref or found.branch
    return last_source(host, app), ref


def last_source(host: Host, app: str) -> str:
    for release in host.store.releases(app):
        if release.source and release.status in ("live", "retired"):
            return release.source
    raise HostctlError(
        f"{app} has never been deployed, so there is no source to deploy again",
        f"pass one: `hostctl deploy {app} PATH_OR_GIT_URL`, or connect a repository with"
        f" `hostctl apps connect {app} --repo URL`",
    )


def run_release(
    host: Host, release: Release, out: Reporter, work: Callable[[Logged], Release]
) -> Release:
    """Run a release's work with its log; on failure record why in the log and on the
    release, remove the image built for it, and keep the old one serving."""
    log_path = host.settings.paths.release_log(release.app, release.number)
    log = Logged(log_path, out)
    log.step(f"Release {release.number} of {release.app} ({release.kind}, by {release.trigger})")
    before = host.store.app(release.app).current_release
    try:
        done = work(log)
        prune_images(host, release.app)
        host.store.audit(release.kind, release.app, f"release {release.number} is live")
        return done
    except HostctlError as exc:
        log.note(f"Failed: {exc.message}")
        host.store.fail_release(release.app, release.number, exc.message)
        if host.store.release(release.app, release.number).status == "failed":
            host.docker.remove_image(host.image_tag(release.app, release.number))
        hint = exc.hint.rstrip(". ") + "; " if exc.hint else ""
        raise HostctlError(
            f"release {release.number} of {release.app} failed: {exc.message}",
            f"{hint}{serving_before(before)}. Full log: {log_path}",
        ) from exc
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            host.store.fail_release(release.app, release.number, f"unexpected: {exc}")
            raise
        host.store.fail_release(release.app, release.number, "the disk is full")
        full = disk_full(f"write {exc.filename or 'the source'}")
        raise HostctlError(
            f"release {release.number} of {release.app} failed: {full.message}", full.hint
        ) from exc
    except BaseException:
        host.store.fail_release(release.app, release.number, "interrupted")
        raise
    finally:
        log.close()


def build_release(
    host: Host,
    release: Release,
    source: str,
    ref: str | None,
    log: Logged,
    checkpoint: Callable[[], None],
    leftovers: Leftovers | None = None,
    cached: bool = False,
) -> Release:
    app, number = release.app, release.number
    timings: dict[str, float] = {}
    started = time.monotonic()
    with build_dir(host.settings.paths.dir("work", app) / "build") as work:
        tree = work / "src"
        log.step(f"Fetching {source}{f' at {ref}' if ref else ''}")
        fetched = fetch_source(
            source,
            ref,
            host.settings.paths.build_repo(app),
            tree,
            spooled=host.settings.paths.spooled_tree(app, ref) if ref else None,
            git_env=deploy_key_env(host, app),
            credentials=git_credentials(host, app, source),
            fetched=cached,
        )
        checkpoint()
        host.store.update_release(app, number, commit_sha=fetched.commit, source=fetched.location)
        log.step(f"Source: {fetched.description}")
        builder = host.docker.builder()
        cache_id = build_cache_id(host.store.app(app)) if builder.buildkit else None
        plan = plan_build(tree, cache_id)
        generated = " (Dockerfile generated by hostctl)" if plan.generated_dockerfile else ""
        log.step(f"Detected {plan.stack}{generated}")
        for warning in plan.app_json.warnings:
            log.step(f"Warning: {warning}")
        apply_env_defaults(host, app, plan.app_json.env, log)
        tag = host.image_tag(app, number)
        timings["fetch"] = time.monotonic() - started
        log.step(f"Building {tag} ({'BuildKit' if builder.buildkit else 'classic builder'})")
        dockerfile = "Dockerfile"
        if plan.dockerfile is not None:  # outside the tree: a link there is never written through
            dockerfile = str(work / "Dockerfile")
            Path(dockerfile).write_text(plan.dockerfile)
        deadline = started + plan.app_config.deploy_timeout
        limits = build_limits(host, builder, left(deadline, plan.app_config.deploy_timeout))
        # Each build label costs the classic builder a container; the tag names the app.
        try:
            host.docker.build(tree, tag, host.labels(), log.detail, limits, dockerfile)
        except HostctlError:
            left(deadline, plan.app_config.deploy_timeout)  # out of time: say so
            raise
        shutil.rmtree(tree, ignore_errors=True)
    checkpoint()
    timings["build"] = time.monotonic() - started - timings["fetch"]
    port = plan.app_config.port or single_exposed_port(host, tag)
    spec = plan.runtime(port, host.settings.server.resources)
    host.store.update_release(
        app, number, image=tag, spec=spec.to_json(), env=host.store.env(app), status="releasing"
    )
    release = host.store.release(app, number)
    if plan.app_json.predeploy:
        timeout = min(RELEASE_TIMEOUT, left(deadline, plan.app_config.deploy_timeout))
        run_predeploy(host, release, plan.app_json.predeploy, log, timeout)
        checkpoint()
    if spec.release_command:
        timeout = min(RELEASE_TIMEOUT, left(deadline, plan.app_config.deploy_timeout))
        run_release_command(host, release, spec.release_command, log, timeout)
        checkpoint()
    left(deadline, plan.app_config.deploy_timeout)
    host.store.update_release(app, number, status="starting")
    mark = time.monotonic()
    swap(host, release, log, leftovers=leftovers)
    timings["swap"] = time.monotonic() - mark
    if plan.app_json.postdeploy:
        run_postdeploy(host, release, plan.app_json.postdeploy, log)
    timings["total"] = time.monotonic() - started
    host.store.update_release(app, number, timings=timings)
    log.step(f"Release {number} is live ({timings['total']:.1f}s)")
    return host.store.release(app, number)


@contextmanager
def build_dir(path: Path) -> Iterator[Path]:
    """An empty folder for one deploy's source and Dockerfile, removed afterwards. Its path
    stays the same for the app (deploys of an app take turns): BuildKit then keeps one
    copy of the app's build context, updated, instead of one more for every deploy."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def left(deadline: float, timeout: float) -> float:
    """Seconds left before the deploy's deadline; none left fails the deploy."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HostctlError(
            f"the deploy took longer than its deploy_timeout ({timeout:g}s)",
            "make the build faster, or raise deploy_timeout in the app's hostctl.yml",
        )
    return remaining


def build_limits(host: Host, builder: Builder, timeout: float) -> BuildLimits:
    """One process and memory budget for all of the box's builds: a cgroup parent (the
    classic builder takes no pids limit), or the engine's BuildKit group (BuildKit takes
    neither limit); the classic builder also bounds each step's memory."""
    bounds = host.settings.server.build
    driver, version = host.docker.cgroup_setup()  # builder: the deploy's, not asked again
    if builder.buildkit:
        bound_buildkit(version, bounds.pids, bounds.memory)
        return BuildLimits(timeout=timeout, memory=bounds.memory)
    parent = build_parent(host.settings.namespace, driver, version, bounds.pids, bounds.memory)
    return BuildLimits(timeout=timeout, memory=bounds.memory, cgroup_parent=parent)


def stale_push(host: Host, app: str, repo: str, commit: str) -> str | None:
    """Why a pushed ``commit`` should not deploy: it is no longer the head of the app's
    branch on its repository (a newer push came, or the delivery is an old one sent
    again); None when it still is. A force-push back to an older commit is the head.

    The answer comes from fetching the repository into the app's git cache, which the
    deploy then builds from (``deploy(fetched=True)``): one round trip, not two."""
    found = host.store.app(app)
    cache = host.settings.paths.build_repo(app)
    with_credentials(
        lambda env: git.fetch_refs(cache, repo, env),
        deploy_key_env(host, app),
        git_credentials(host, app, repo),
    )
    head = git.branch_head(cache, found.branch)
    if head == commit:
        return None
    now = f"it is {head[:10]} now" if head else "the branch is gone"
    return f"{commit[:10]} is no longer the head of {found.branch} on {repo} ({now})"


def git_credentials(host: Host, app: str, source: str) -> GitCredentials | None:
    """How the app's fetch authenticates to GitHub: with a token when the app is linked
    through the GitHub App. Only then is the GitHub code imported: it loads httpx, which
    an agent (importing this module for its maintenance) need not hold otherwise."""
    linked = host.store.app(app).github
    if not linked.get("installation"):
        return None
    from hostctl.github.app import git_credentials

    return git_credentials(host.settings, linked, source)


def deploy_key_env(host: Host, app: str) -> dict[str, str]:
    """GIT_SSH_COMMAND with the app's deploy key, once `apps connect` made one."""
    from hostctl.github.keys import existing_deploy_key, git_ssh_command

    key = existing_deploy_key(host.settings, app)
    if key is None:
        return {}
    known_hosts = host.settings.paths.known_hosts
    return {"GIT_SSH_COMMAND": git_ssh_command(key, known_hosts)}


def single_exposed_port(host: Host, tag: str) -> int:
    ports = host.docker.exposed_ports(tag)
    return ports[0] if len(ports) == 1 else DEFAULT_PORT


def prune_images(host: Host, app: str) -> None:
    """Keep the images of the last N successful releases; remove older hostctl-built ones,
    and untagged images with hostctl's labels."""
    tags = host.docker.images(host.image_repository(app))
    releases = host.store.releases(app)
    for tag in images_to_remove(tags, releases, host.settings.server.keep_releases):
        host.docker.remove_image(tag)
    host.docker.prune_dangling_images(host.labels())


# The engine tries the id filter, a regular expression, on each of its records: a call's
# cost grows with ids times records (1000 ids among 7000 records took 38 s). Small batches
# (in cache_to_prune's order), within a budget; what is left goes at the next prune.
PRUNE_BATCH = 50
PRUNE_SECONDS = 30.0


def cache_prune_due(host: Host, app: str) -> bool:
    """Whether hostctl's build cache is pruned after the build the app just had: after
    every tenth (listing the cache costs the engine seconds, so not after each; the agent
    also prunes hourly). Builds, not releases: an env change adds no build cache."""
    return host.store.release_count(app, "deploy") % CACHE_PRUNE_EVERY == 0


def prune_build_cache(host: Host, log: Reporter | None = None) -> int:
    """Remove hostctl's build cache past the server config's age and size (rules.own_cache
    says which records are hostctl's); returns the bytes freed. Best effort: it runs
    after a job, which is not failed for it."""
    bounds = host.settings.server.build_cache
    freed = 0
    doomed: list[str] = []
    deadline = time.monotonic() + PRUNE_SECONDS  # listing the cache counts too
    try:
        records = host.docker.build_cache()
        doomed = cache_to_prune(records, bounds.max_age, bounds.max_size, datetime.now(UTC))
        while doomed and time.monotonic() < deadline:
            freed += host.docker.prune_build_cache(doomed[:PRUNE_BATCH])
            doomed = doomed[PRUNE_BATCH:]
    except HostctlError as exc:
        if log is not None:
            log.step(f"Could not prune the build cache: {exc.message}")
    if freed and log is not None:
        log.step(f"Pruned {freed / 1024**2:.1f} MiB of build cache")
    if doomed and log is not None:
        log.step(f"{len(doomed)} build cache records are left for the next prune")
    return freed
