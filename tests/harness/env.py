"""The test run's namespace, isolated hostctl environments, and the run's cleanup.

Everything a test run creates in the engine carries the label io.hostctl.namespace=<a
namespace of this run>, and is removed at the end; nothing else is touched. Under
pytest-xdist each worker has a namespace of its own, the run's plus the worker's number
(hct1a2b3c0 for gw0), and removes only what it made.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from pathlib import Path

from hostctl.adapters import cgroups, firewall

REPO = Path(__file__).resolve().parents[2]
# xdist gives every worker the controller's run id (tests/conftest.py sets it to this one)
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", secrets.token_hex(3))[:6]
# short: off a terminal, `hostctl ps` fits 80 columns and cuts longer container names
NAMESPACE = f"hct{RUN}{os.environ.get('PYTEST_XDIST_WORKER', '').removeprefix('gw')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(root: Path, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    return env | {
        "HOSTCTL_ROOT": str(root / "state"),
        "HOSTCTL_ETC": str(root / "etc"),
        "HOSTCTL_NAMESPACE": namespace,
        "HOSTCTL_HTTP_PORT": str(free_port()),
        "PYTHONPATH": str(REPO),
    }


def laptop_env(home: Path) -> dict[str, str]:
    """A laptop's environment: its own home, config and (empty) state, no ssh-agent."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HOSTCTL_") and k not in ("SSH_AUTH_SOCK", "TERM")
    }
    return env | {
        "HOME": str(home),  # no ~/.ssh keys of this machine's root
        "HOSTCTL_CONFIG_DIR": str(home / "config"),
        "HOSTCTL_CACHE_DIR": str(home / "cache"),
        "HOSTCTL_ROOT": str(home / "state"),  # a command run here by mistake finds nothing
        "PYTHONPATH": str(REPO),
    }


def remove_labelled(namespace: str) -> None:
    label = f"label=io.hostctl.namespace={namespace}"
    for kind, listing in (
        ("container", ["docker", "ps", "-aq", "--filter", label]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label]),
        ("image", ["docker", "images", "-q", "--filter", label]),
    ):
        found = subprocess.run(listing, capture_output=True, text=True, check=False).stdout.split()
        if found:
            force = ["-f"] if kind in ("container", "volume", "image") else []
            subprocess.run(
                ["docker", kind, "rm", *force, *sorted(set(found))],
                capture_output=True,
                check=False,
            )
    firewall.remove_rules(namespace)  # iptables rules with the comment hostctl:<namespace>
    cgroups.remove_build_parent(namespace)


def stop_caddy(root: Path) -> None:
    for sock in root.glob("**/caddy/admin.sock"):
        subprocess.run(
            ["curl", "-s", "-X", "POST", "--unix-socket", str(sock), "http://localhost/stop"],
            capture_output=True,
            check=False,
        )
