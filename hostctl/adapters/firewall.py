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


def iptables(*args: str, tool: str = "iptables") -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool)
    if binary is None:
        raise HostctlError(
            f"{tool} is not installed, so app containers cannot be kept off the host",
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


# The box firewall (`hostctl setup --firewall`): two chains of hostctl's own, each jumped
# to from the top of its parent, for IPv4 and IPv6 alike. Each is rewritten whole when it
# differs from the wanted rules; a flushed chain lets everything through for that moment,
# never nothing.

INPUT_CHAIN = "HOSTCTL-INPUT"  # from INPUT: what may reach the box itself
DOCKER_CHAIN = "HOSTCTL-DOCKER"  # from DOCKER-USER: what may reach containers
BOX = comment("firewall")  # the two jumps
PUBLIC_SSH = comment("public-ssh")  # the rule that keeps SSH open until Tailscale SSH works
TAILNET_INTERFACE = "tailscale0"
# Docker's default bridge, its user-defined networks, and hostctl's app networks
# (Host.bridges: "hc" and a hash of the namespace).
BRIDGES = ("docker0", "br-+", "hc+")
SSH_PORT = 22
ESTABLISHED = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]
TOOLS = ("iptables", "ip6tables")


def box_input_rules(edge: int, ssh_open: bool, tool: str = "iptables") -> list[list[str]]:
    """The rules of HOSTCTL-INPUT, in the form `iptables -S` prints them back."""
    ssh = ["-p", "tcp", "-m", "tcp", "--dport", str(SSH_PORT)]
    # IPv6 needs ICMPv6 to find its neighbours and routers at all.
    icmp6 = [["-p", "ipv6-icmp", "-j", "ACCEPT"]] if tool == "ip6tables" else []
    return [
        ["-i", "lo", "-j", "ACCEPT"],
        [*ESTABLISHED, "-j", "ACCEPT"],
        *icmp6,
        ["-i", TAILNET_INTERFACE, "-j", "ACCEPT"],
        # cloudflared reaches Caddy over Docker's bridge
        *(
            ["-i", bridge, "-p", "tcp", "-m", "tcp", "--dport", str(edge), "-j", "ACCEPT"]
            for bridge in BRIDGES[:2]
        ),
        *([[*ssh, "-m", "comment", "--comment", PUBLIC_SSH, "-j", "ACCEPT"]] if ssh_open else []),
        ["-j", "DROP"],
    ]


def box_docker_rules() -> list[list[str]]:
    """The rules of HOSTCTL-DOCKER: containers take new connections only from the tailnet
    and from other containers (a published port is not reachable from outside)."""
    return [
        [*ESTABLISHED, "-j", "RETURN"],
        ["-i", TAILNET_INTERFACE, "-j", "RETURN"],
        *(["-i", bridge, "-j", "RETURN"] for bridge in BRIDGES),
        ["-j", "DROP"],
    ]


def chain_rules(chain: str, tool: str = "iptables") -> list[list[str]] | None:
    """The chain's rules as argument lists; None when it does not exist (or iptables
    cannot be read: not root)."""
    if shutil.which(tool) is None:
        return None
    listing = iptables("-S", chain, tool=tool)
    if listing.returncode != 0:
        return None
    found = (shlex.split(line) for line in listing.stdout.splitlines())
    return [words[2:] for words in found if words[:2] == ["-A", chain]]


def jump(chain: str) -> list[str]:
    return ["-m", "comment", "--comment", BOX, "-j", chain]


def wanted_chains(edge: int, ssh_open: bool, tool: str) -> dict[str, list[list[str]]]:
    """Per chain, its rules; without Docker's chain (IPv6 when dockerd leaves ip6tables
    alone) only HOSTCTL-INPUT."""
    wanted = {INPUT_CHAIN: box_input_rules(edge, ssh_open, tool)}
    if chain_rules("DOCKER-USER", tool) is not None:
        wanted[DOCKER_CHAIN] = box_docker_rules()
    return wanted


PARENTS = {INPUT_CHAIN: "INPUT", DOCKER_CHAIN: "DOCKER-USER"}


def box_firewall_in_place(edge: int, ssh_open: bool) -> bool:
    return all(
        chain_rules(chain, tool) == rules_
        and iptables("-C", PARENTS[chain], *jump(chain), tool=tool).returncode == 0
        for tool in TOOLS
        for chain, rules_ in wanted_chains(edge, ssh_open, tool).items()
    )


def ensure_box_firewall(edge: int, ssh_open: bool) -> None:
    """Make the chains exactly the wanted rules and jump to them. Idempotent."""
    if chain_rules("DOCKER-USER") is None:
        raise HostctlError(
            "Docker's DOCKER-USER chain is missing, so containers could not be firewalled",
            "start dockerd with its iptables rules (the default), then run `hostctl setup`",
        )
    for tool in TOOLS:
        for chain, rules_ in wanted_chains(edge, ssh_open, tool).items():
            found = chain_rules(chain, tool)
            if found != rules_:
                must(iptables("-N" if found is None else "-F", chain, tool=tool), chain)
                for rule in rules_:
                    must(iptables("-A", chain, *rule, tool=tool), chain)
            if iptables("-C", PARENTS[chain], *jump(chain), tool=tool).returncode != 0:
                must(iptables("-I", PARENTS[chain], "1", *jump(chain), tool=tool), chain)


def must(done: subprocess.CompletedProcess[str], chain: str) -> None:
    if done.returncode != 0:
        raise HostctlError(
            f"could not change the firewall chain {chain}: {done.stderr.strip()}",
            "hostctl needs root and iptables; nothing that was open has been closed",
        )


def box_firewall_state() -> str | None:
    """The box firewall's state: "ssh-open" (public SSH still allowed), "closed", or None
    (no box firewall, or it cannot be read)."""
    found = chain_rules(INPUT_CHAIN)
    if found is None:
        return None
    return "ssh-open" if any(PUBLIC_SSH in rule for rule in found) else "closed"
