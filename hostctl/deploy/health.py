"""The health gate: a new web container gets traffic only once it answers."""

from __future__ import annotations

import time

from hostctl.adapters.docker import Docker
from hostctl.adapters.http_probe import ProbeError, health_probe
from hostctl.core.errors import HostctlError
from hostctl.stack.app_config import HealthCheck

POLL_INTERVAL = 0.05


def wait_until_healthy(
    docker: Docker, container: str, network: str, port: int, check: HealthCheck
) -> str:
    """Poll until the container answers; returns its address (ip:port) on the network."""
    deadline = time.monotonic() + check.timeout
    last_problem = "it did not answer yet"
    with health_probe() as probe:
        while True:
            state = docker.state(container, network)
            if state is None or state.status in ("exited", "dead") or state.restart_count > 0:
                code = f" with code {state.exit_code}" if state else ""
                raise failed(docker, container, f"the web process exited{code} while starting")
            if state.ip:
                address = f"{state.ip}:{port}"
                try:
                    answer = probe(f"http://{address}{check.path}")
                    if answer.status >= 500:
                        last_problem = f"{check.path} answered {answer.status}"
                    elif check.content and check.content not in answer.text:
                        last_problem = f"{check.path} did not contain {check.content!r}"
                    else:
                        return address
                except ProbeError as exc:
                    last_problem = f"{check.path}: {exc} on port {port}"
            if time.monotonic() > deadline:
                raise failed(
                    docker,
                    container,
                    f"the health check failed after {check.timeout:.0f}s: {last_problem}",
                )
            time.sleep(POLL_INTERVAL)


def failed(docker: Docker, container: str, reason: str) -> HostctlError:
    logs = list(docker.logs(container, tail=20))
    shown = "\n".join(f"  | {line}" for line in logs) if logs else "  (no output)"
    return HostctlError(
        f"{reason}\nlast lines of its output:\n{shown}",
        "make the app listen on $PORT and answer HTTP on the health-check path",
    )
