"""Releases that reuse an image: rollback, env changes; and restart and scale (no new
release)."""

from __future__ import annotations

from hostctl.core.errors import HostctlError
from hostctl.core.names import check_env_key
from hostctl.core.progress import Logged, Reporter
from hostctl.deploy.pipeline import app_lock, run_release
from hostctl.deploy.rules import parse_scale, process_counts
from hostctl.deploy.swap import swap
from hostctl.host import Host
from hostctl.stack.plan import RuntimeSpec
from hostctl.state import Release


def rollback(host: Host, app: str, target: int | None, trigger: str, out: Reporter) -> Release:
    with app_lock(host, app, out):
        current = host.store.app(app).current_release
        if current is None:
            raise HostctlError(f"{app} has no live release to roll back from", "deploy it first")
        chosen = host.store.release(app, target) if target else previous_release(host, app, current)
        if chosen.number == current:
            raise HostctlError(f"release {chosen.number} is already live", "pick another release")
        if chosen.image is None or chosen.spec is None or chosen.status == "failed":
            raise HostctlError(
                f"release {chosen.number} never went live, so it cannot be rolled back to",
                f"pick a successful release from `hostctl releases {app}`",
            )
        if not host.docker.image_exists(chosen.image):
            raise HostctlError(
                f"the image of release {chosen.number} ({chosen.image}) was pruned",
                "hostctl keeps the images of the last 5 successful releases; pick a newer one",
            )
        out.step(f"Rolling {app} back to release {chosen.number}")
        return release_from(host, chosen, "rollback", trigger, chosen.env, out)


def previous_release(host: Host, app: str, current: int) -> Release:
    for release in host.store.releases(app):
        if release.number < current and release.status in ("live", "retired"):
            return release
    raise HostctlError(f"{app} has no earlier successful release", "there is nothing to go back to")


def change_env(
    host: Host, app: str, changes: dict[str, str], removals: list[str], trigger: str, out: Reporter
) -> Release | None:
    """Store the new env; when the app is live, roll it out as a new release."""
    for key in [*changes, *removals]:
        check_env_key(key)
    if "PORT" in changes:  # the container's PORT is the port hostctl routes to
        raise HostctlError(
            "PORT is set by hostctl to the port it sends traffic to, so it cannot be set",
            "to change the app's port, set `port:` in the app's hostctl.yml (or EXPOSE one"
            " port in its Dockerfile) and deploy",
        )
    with app_lock(host, app, out):
        env = host.store.env(app)
        missing = [key for key in removals if key not in env]
        if missing:
            raise HostctlError(
                f"{app} has no variable {', '.join(missing)}", f"see `hostctl env {app}`"
            )
        env = {k: v for k, v in (env | changes).items() if k not in removals}
        current = host.store.app(app).current_release
        if current is None:
            host.store.replace_env(app, env)
            host.store.audit("env", app, f"set {sorted(changes)} unset {sorted(removals)}")
            return None
        live = host.store.release(app, current)
        return release_from(host, live, "env", trigger, env, out)


def release_from(
    host: Host, base: Release, kind: str, trigger: str, env: dict[str, str], out: Reporter
) -> Release:
    """A new release running ``base``'s image and spec with ``env``, swapped in."""
    release = host.store.new_release(
        base.app,
        kind,
        trigger,
        source=base.source,
        commit_sha=base.commit_sha,
        image=base.image,
        spec=base.spec,
        env=env,
    )

    def do_swap(log: Logged) -> Release:
        swap(host, release, log)
        host.store.replace_env(base.app, env)
        return host.store.release(base.app, release.number)

    return run_release(host, release, out, do_swap)


def restart(host: Host, app: str, out: Reporter) -> None:
    with app_lock(host, app, out):
        current = host.store.app(app).current_release
        if current is None:
            raise HostctlError(f"{app} has no live release to restart", "deploy it first")
        swap(host, host.store.release(app, current), out, new_release=False)


def scale(host: Host, app: str, arguments: list[str], out: Reporter) -> dict[str, int]:
    """Run TYPE=COUNT containers of the live release's process types (none given: the
    counts now). The new counts are kept only once the swap to them succeeded."""
    with app_lock(host, app, out):
        found = host.store.app(app)
        if found.current_release is None:
            raise HostctlError(f"{app} has no live release to scale", "deploy it first")
        live = host.store.release(app, found.current_release)
        assert live.spec is not None
        spec = RuntimeSpec.from_json(live.spec)
        if not arguments:
            return process_counts(spec.processes, spec.formation, found.scale)
        wanted = found.scale | parse_scale(arguments, spec.processes)
        out.step(f"Scaling {app}: {' '.join(f'{p}={n}' for p, n in sorted(wanted.items()))}")
        swap(host, live, out, new_release=False, scale=wanted)
        host.store.set_scale(app, wanted)
        host.store.audit("scale", app, " ".join(arguments))
        return process_counts(spec.processes, spec.formation, wanted)
