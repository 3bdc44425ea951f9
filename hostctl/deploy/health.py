"""The health gate: a new web container gets traffic only once it answers."""

from __future__ import annotations

import re
import time

from hostctl.adapters.docker import ContainerState, Docker
from hostctl.adapters.http_probe import ProbeError, health_probe
from hostctl.core.errors import HostctlError
from hostctl.stack.app_config import HealthCheck

POLL_INTERVAL = 0.05
PROBE_INTERVAL = 0.02  # probes are cheap: a refused connection on a local bridge
STATE_INTERVAL = 0.25  # between reads of the container's state, while no probe succeeds
LISTEN = "0A"  # the TCP state of a listening socket in /proc/net/tcp


def wait_until_healthy(
    docker: Docker, container: str, network: str, port: int, check: HealthCheck
) -> str:
    """Poll until the container answers; returns its address (ip:port) on the network."""
    if check.type == "uptime":
        return wait_for_uptime(docker, container, network, port, check.seconds)
    deadline = time.monotonic() + check.timeout
    last_problem = "it did not answer yet"
    refused = False  # the last probe found nothing listening on the port
    state = None
    looked = 0.0  # when the container's state was last read
    with health_probe() as probe:
        while True:
            # Probes are cheap and polled often; the engine is asked for the state less
            # often (it costs as much as a probe or more), and again before any answer counts.
            if state is None or time.monotonic() - looked >= STATE_INTERVAL:
                state, looked = running(docker, container, network), time.monotonic()
            if state.ip:
                address = f"{state.ip}:{port}"
                try:
                    answer = probe(f"http://{address}{check.path}")
                    refused = False
                    if answer.status >= 500:
                        last_problem = f"{check.path} answered {answer.status}"
                    elif check.content and check.content not in answer.text:
                        last_problem = f"{check.path} did not contain {check.content!r}"
                    elif running(docker, container, network).ip == state.ip:
                        return address
                    else:
                        state = None  # restarted elsewhere meanwhile: look again
                except ProbeError as exc:
                    refused = True
                    last_problem = f"{check.path}: {exc} on port {port}"
            if time.monotonic() > deadline:
                reason = f"the health check failed after {check.timeout:.0f}s: {last_problem}"
                if refused:
                    elsewhere = wrong_port(docker.socket_tables(container), port)
                    if elsewhere is not None:
                        raise failed(docker, container, f"{reason}\n{elsewhere}")
                raise failed(docker, container, reason)
            time.sleep(PROBE_INTERVAL)


def running(docker: Docker, container: str, network: str) -> ContainerState:
    """The container's state while it starts; fails once it exited or restarted."""
    state = docker.state(container, network)
    if state is None or state.status in ("exited", "dead") or state.restart_count > 0:
        code = f" with code {state.exit_code}" if state else ""
        raise failed(docker, container, f"the web process exited{code} while starting")
    return state


def wait_for_uptime(docker: Docker, container: str, network: str, port: int, seconds: float) -> str:
    """Healthy once the web process has run ``seconds`` without exiting or restarting
    (Dokku's check for an app that declares none), for a web process that is not HTTP."""
    deadline = time.monotonic() + seconds
    while True:
        state = docker.state(container, network)
        if state is None or state.status in ("exited", "dead") or state.restart_count > 0:
            code = f" with code {state.exit_code}" if state else ""
            raise failed(
                docker, container, f"the web process exited{code} within its first {seconds:g}s"
            )
        if time.monotonic() > deadline and state.status == "running" and state.ip:
            return f"{state.ip}:{port}"
        time.sleep(POLL_INTERVAL)


def listening(tables: str) -> set[tuple[str, int]]:
    """(address, port) of each listening TCP socket in /proc/net/tcp{,6} text; the address
    is "loopback", "any" or "other"."""
    found = set()
    for line in tables.splitlines():
        match = re.match(
            r"\s*\d+:\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+\S+\s+([0-9A-Fa-f]{2})\s", line
        )
        if match is None or match[3].upper() != LISTEN:
            continue
        address = match[1].upper()
        found.add((address_kind(address), int(match[2], 16)))
    return found


def address_kind(address: str) -> str:
    """The hex address of /proc/net/tcp{,6} (32-bit words in host order, little-endian):
    "any", "loopback" (127.0.0.0/8, ::1, ::ffff:127.x) or "other"."""
    if set(address) == {"0"}:
        return "any"
    ipv4 = address if len(address) == 8 else None
    if len(address) == 32 and address[:24] == "0" * 16 + "FFFF0000":
        ipv4 = address[24:]
    if (ipv4 is not None and ipv4.endswith("7F")) or address == "0" * 24 + "01000000":
        return "loopback"
    return "other"


def wrong_port(tables: str, port: int) -> str | None:
    """Why nothing answered on ``port`` when the process listens elsewhere, and the fix
    (in the message: a failed job keeps only that)."""
    sockets = listening(tables)
    if ("loopback", port) in sockets and ("any", port) not in sockets:
        return (
            f"the web process listens on port {port} of 127.0.0.1 only, where the edge cannot"
            f" reach it: make it listen on 0.0.0.0:{port} (all addresses)"
        )
    # Loopback listeners (Docker's embedded DNS among them) cannot be the web process.
    others = sorted({p for kind, p in sockets if kind != "loopback" and p != port})
    if not others:
        return None
    named = ", ".join(str(p) for p in others)
    return (
        f"the web process listens on port {named}, not on $PORT ({port}): make it listen on"
        f" $PORT, or set `port: {others[0]}` in hostctl.yml"
        f" (or EXPOSE {others[0]} in the Dockerfile, as its only EXPOSE)"
    )


def failed(docker: Docker, container: str, reason: str) -> HostctlError:
    logs = list(docker.logs(container, tail=20))
    shown = "\n".join(f"  | {line}" for line in logs) if logs else "  (no output)"
    return HostctlError(
        f"{reason}\nlast lines of its output:\n{shown}",
        "make the app listen on $PORT and answer HTTP on the health-check path",
    )
