"""iptables: the rules that keep app containers off the host and the cloud's metadata
service. Docker already drops traffic between two bridge networks (its
DOCKER-ISOLATION chains), so with a network per app an app cannot reach another.

Every rule matches the bridges of one namespace by their name prefix (``<prefix>+``) and
carries the comment ``hostctl:<namespace>``: hostctl adds each rule once and removes only
rules with its own comment."""

from __future__ import annotations

import shlex
import shutil
import subprocess

from hostctl.core.errors import HostctlError

LINK_LOCAL = "169.254.0.0/16"  # cloud metadata (169.254.169.254) and its neighbours


def comment(namespace: str) -> str:
    return f"hostctl:{namespace}"


def rules(namespace: str, bridges: str) -> list[tuple[str, list[str]]]:
    """(chain, rule) pairs for app bridges named ``bridges`` + anything."""
    tag = ["-m", "comment", "--comment", comment(namespace)]
    return [
        # Forwarded traffic out of an app's network: never to metadata.
        ("DOCKER-USER", ["-i", f"{bridges}+", "-d", LINK_LOCAL, *tag, "-j", "REJECT"]),
        # New connections from an app to the host itself (Caddy's port, the agent on the
        # tailnet, sshd). Replies to Caddy's own connections are not NEW, so pass.
        (
            "INPUT",
            ["-i", f"{bridges}+", "-m", "conntrack", "--ctstate", "NEW", *tag, "-j", "REJECT"],
        ),
    ]


def iptables(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise HostctlError(
            "iptables is not installed, so app containers cannot be kept off the host",
            "install it (apt-get install iptables) and try again",
        )
    return subprocess.run([binary, "-w", *args], capture_output=True, text=True, check=False)


def ensure_rules(namespace: str, bridges: str) -> None:
    """Add the rules that are missing, at the top of their chain. Idempotent."""
    for chain, rule in rules(namespace, bridges):
        if iptables("-C", chain, *rule).returncode == 0:
            continue
        added = iptables("-I", chain, "1", *rule)
        if added.returncode != 0:
            raise HostctlError(
                f"could not add a firewall rule to {chain}: {added.stderr.strip()}",
                "hostctl needs root and Docker's iptables chains (dockerd with iptables "
                "enabled, the default)",
            )


def remove_rules(namespace: str) -> None:
    """Remove every rule with this namespace's comment, and nothing else."""
    if shutil.which("iptables") is None:
        return  # then hostctl added none
    for chain in sorted({chain for chain, _ in rules(namespace, "")}):
        listing = iptables("-S", chain)
        for line in listing.stdout.splitlines():
            words = shlex.split(line)
            if words[:2] == ["-A", chain] and comment(namespace) in words:
                iptables("-D", chain, *words[2:])
