"""One-off containers of a release: `hostctl run`, app.json's predeploy and postdeploy
scripts and its cron jobs. Each runs as the release's processes do (its image, env,
/data, limits), never restarts, and is removed when it exits."""

from __future__ import annotations

import secrets
import shlex
from dataclasses import replace

from hostctl.adapters.docker import ContainerSpec
from hostctl.core.errors import HostctlError
from hostctl.core.progress import Reporter, Silent
from hostctl.deploy.swap import RELEASE_TIMEOUT, container_spec, prepare
from hostctl.host import Host
from hostctl.state import Release

TAIL_LINES = 15  # of a failed script's output, in its error


def live_release(host: Host, app: str) -> Release:
    found = host.store.app(app)
    if found.current_release is None:
        raise HostctlError(
            f"{app} has no live release to run a command in",
            f"deploy it first: `hostctl deploy {app} PATH_OR_GIT_URL`",
        )
    return host.store.release(app, found.current_release)


def one_off(host: Host, release: Release, kind: str, command: str) -> ContainerSpec:
    """A container running ``command`` (a Procfile-style line) once; ``kind`` names it."""
    spec = container_spec(host, release, kind, command, one_off=True)
    # Several may run at once (two `hostctl run`): each gets a name of its own.
    return replace(spec, name=f"{spec.name}-{secrets.token_hex(2)}")


def run_script(
    host: Host,
    release: Release,
    kind: str,
    command: str,
    out: Reporter,
    timeout: float = RELEASE_TIMEOUT,
) -> tuple[int, str]:
    """Run ``command`` to completion; returns its exit code and output (shown as details)."""
    prepare(host, release, out)
    code, output = host.docker.run_once(one_off(host, release, kind, command), timeout)
    for line in output.splitlines():
        out.detail(line)
    return code, output


def failure_tail(output: str) -> str:
    return "\n".join(f"  | {line}" for line in output.splitlines()[-TAIL_LINES:])


def command_line(argv: list[str]) -> str:
    """One argument is a command line for the shell (`hostctl run app 'echo $X'`); several
    are quoted, so each reaches the command as it was given."""
    return argv[0] if len(argv) == 1 else shlex.join(argv)


def run_attached(host: Host, app: str, argv: list[str], tty: bool) -> int:
    """`hostctl run`: ``argv`` in a container of the live release, attached to this
    terminal; returns the command's exit code."""
    release = live_release(host, app)
    prepare(host, release, Silent())
    return host.docker.run_attached(one_off(host, release, "run", command_line(argv)), tty)


def run_detached(host: Host, app: str, argv: list[str]) -> str:
    """`hostctl run --detach`: start ``argv`` and return the container's name."""
    release = live_release(host, app)
    prepare(host, release, Silent())
    spec = one_off(host, release, "run", command_line(argv))
    host.docker.run(spec)
    return spec.name


def run_predeploy(
    host: Host, release: Release, command: str, out: Reporter, timeout: float
) -> None:
    """app.json's scripts.dokku.predeploy, in the new image before the swap: a failure
    fails the deploy."""
    out.step(f"Running the predeploy script: {command}")
    code, output = run_script(host, release, "predeploy", command, out, timeout)
    if code != 0:
        raise HostctlError(
            f"the predeploy script failed with exit code {code}\n{failure_tail(output)}",
            "fix it (app.json: scripts/dokku/predeploy) and deploy again; the previous"
            " release is still serving",
        )


def run_postdeploy(host: Host, release: Release, command: str, out: Reporter) -> None:
    """app.json's scripts.dokku.postdeploy, after the swap. The release already serves,
    so a failure is reported, not undone."""
    out.step(f"Running the postdeploy script: {command}")
    try:
        code, _ = run_script(host, release, "postdeploy", command, out)
    except HostctlError as exc:  # e.g. the engine hiccupped: the swap is done all the same
        out.step(f"Warning: the postdeploy script did not run: {exc.message}")
        return
    if code != 0:
        out.step(
            f"Warning: the postdeploy script failed with exit code {code};"
            f" release {release.number} stays live"
        )
