"""The firewall step with the real iptables and ip6tables, inside a network namespace of
the test's own (`ip netns add`), so the machine's rules are never touched: an `iptables`
and an `ip6tables` on PATH run the real ones in that namespace. The namespace gets a
DOCKER-USER chain as dockerd makes it.
Whether SSH over Tailscale works is injected (there is no tailnet here)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.adapters.firewall import box_firewall_state
from hostctl.core.errors import HostctlError
from hostctl.settings import Settings
from hostctl.setup import firewall
from hostctl.setup.answers import Answers
from hostctl.setup.steps import StepResult, run_steps

pytestmark = pytest.mark.integration
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"
IP6TABLES = shutil.which("ip6tables") or "/usr/sbin/ip6tables"
EDGE = 18080
ON = Answers(firewall=True)


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *argv: str, check: bool = True) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, check=check
        )
        return done.stdout

    def rules(self, tool: str = IPTABLES) -> str:
        return self.run(tool, "-S")


@pytest.fixture
def netns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostctl_env: Path
) -> Iterator[Namespace]:
    namespace = Namespace(f"hostctl-test-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", namespace.name], check=True)
    try:
        folder = tmp_path / "bin"
        folder.mkdir()
        for tool in (IPTABLES, IP6TABLES):
            wrapper = folder / Path(tool).name
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace.name} {tool} "$@"\n')
            wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}:{Path(IPTABLES).parent}:/usr/bin:/bin")
        monkeypatch.setenv("HOSTCTL_HTTP_PORT", str(EDGE))
        monkeypatch.delenv("SSH_CONNECTION", raising=False)
        yield namespace
    finally:
        subprocess.run(["ip", "netns", "delete", namespace.name], check=True)


def with_docker_chain(netns: Namespace, tools: tuple[str, ...] = (IPTABLES, IP6TABLES)) -> None:
    for tool in tools:
        netns.run(tool, "-N", "DOCKER-USER")
        netns.run(tool, "-A", "FORWARD", "-j", "DOCKER-USER")


def run(verified: bool) -> list[StepResult]:
    settings = Settings.from_env()
    return run_steps(firewall.steps(settings, ON, lambda: verified), lambda _: None)


def expected(ssh_open: bool, v6: bool = False, docker: bool = True) -> str:
    comment = '-m comment --comment "hostctl:public-ssh"'
    ssh = [f"-A HOSTCTL-INPUT -p tcp -m tcp --dport 22 {comment} -j ACCEPT"] if ssh_open else []
    docker_chains = [
        "-A FORWARD -j DOCKER-USER",
        '-A DOCKER-USER -m comment --comment "hostctl:firewall" -j HOSTCTL-DOCKER',
        "-A HOSTCTL-DOCKER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-A HOSTCTL-DOCKER -i tailscale0 -j RETURN",
        "-A HOSTCTL-DOCKER -i docker0 -j RETURN",
        "-A HOSTCTL-DOCKER -i br-+ -j RETURN",
        "-A HOSTCTL-DOCKER -i hc+ -j RETURN",
        "-A HOSTCTL-DOCKER -j DROP",
    ]
    return "\n".join(
        [
            "-P INPUT ACCEPT",
            "-P FORWARD ACCEPT",
            "-P OUTPUT ACCEPT",
            *(["-N DOCKER-USER", "-N HOSTCTL-DOCKER"] if docker else []),
            "-N HOSTCTL-INPUT",
            '-A INPUT -m comment --comment "hostctl:firewall" -j HOSTCTL-INPUT',
            *(docker_chains if docker else []),
            "-A HOSTCTL-INPUT -i lo -j ACCEPT",
            "-A HOSTCTL-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            *(["-A HOSTCTL-INPUT -p ipv6-icmp -j ACCEPT"] if v6 else []),
            "-A HOSTCTL-INPUT -i tailscale0 -j ACCEPT",
            f"-A HOSTCTL-INPUT -i docker0 -p tcp -m tcp --dport {EDGE} -j ACCEPT",
            f"-A HOSTCTL-INPUT -i br-+ -p tcp -m tcp --dport {EDGE} -j ACCEPT",
            *ssh,
            "-A HOSTCTL-INPUT -j DROP",
        ]
    )


def sorted_rules(text: str) -> str:
    """`iptables -S` lists chains by name; rules keep their order within a chain."""
    lines = text.strip().splitlines()
    heads = [line for line in lines if line.startswith(("-P", "-N"))]
    return "\n".join(heads + [line for line in lines if line not in heads])


def test_ssh_stays_open_until_ssh_over_tailscale_is_verified(netns: Namespace) -> None:
    with_docker_chain(netns)
    assert [r.status for r in run(verified=False)] == ["applied"]
    assert sorted_rules(netns.rules()) == expected(ssh_open=True)
    assert sorted_rules(netns.rules(IP6TABLES)) == expected(ssh_open=True, v6=True)
    assert box_firewall_state() == "ssh-open"
    assert firewall.notes() and "stays open" in firewall.notes()[0]

    assert [r.status for r in run(verified=False)] == ["ok"]
    assert sorted_rules(netns.rules()) == expected(ssh_open=True), "a re-run adds nothing"

    assert [r.status for r in run(verified=True)] == ["applied"]
    assert sorted_rules(netns.rules()) == expected(ssh_open=False)
    assert sorted_rules(netns.rules(IP6TABLES)) == expected(ssh_open=False, v6=True)
    assert box_firewall_state() == "closed" and firewall.notes() == []

    # Once closed, a run that cannot verify (another session) does not open it again.
    assert [r.status for r in run(verified=False)] == ["ok"]
    assert sorted_rules(netns.rules()) == expected(ssh_open=False)


def test_rules_of_others_are_kept_and_a_changed_chain_is_put_back(netns: Namespace) -> None:
    with_docker_chain(netns, (IPTABLES,))  # dockerd without ip6tables: no DOCKER-USER there
    netns.run(IPTABLES, "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT")
    run(verified=True)
    netns.run(IPTABLES, "-D", "HOSTCTL-INPUT", "-i", "tailscale0", "-j", "ACCEPT")
    netns.run(
        IPTABLES,
        "-D",
        "INPUT",
        "-m",
        "comment",
        "--comment",
        "hostctl:firewall",
        "-j",
        "HOSTCTL-INPUT",
    )
    assert [r.status for r in run(verified=True)] == ["applied"]
    rules = sorted_rules(netns.rules())
    assert "-A INPUT -p tcp -m tcp --dport 9 -j ACCEPT" in rules
    assert rules.replace("-A INPUT -p tcp -m tcp --dport 9 -j ACCEPT\n", "") == expected(False)
    assert sorted_rules(netns.rules(IP6TABLES)) == expected(False, v6=True, docker=False)


def test_without_dockers_chain_nothing_is_changed(netns: Namespace) -> None:
    before = netns.rules() + netns.rules(IP6TABLES)
    with pytest.raises(HostctlError) as raised:
        run(verified=True)
    assert "setup step 'firewall' failed: Docker's DOCKER-USER chain is missing" in str(
        raised.value.message
    )
    assert netns.rules() + netns.rules(IP6TABLES) == before


def test_not_asked_for_no_step(hostctl_env: Path) -> None:
    assert firewall.steps(Settings.from_env(), Answers()) == []


def test_a_session_over_the_tailnet_counts_as_verified() -> None:
    assert firewall.came_over_tailnet("100.101.1.2 52100 100.64.0.7 22")
    assert firewall.came_over_tailnet("fd7a:115c:a1e0::9 52100 fd7a:115c:a1e0::1 22")
    assert not firewall.came_over_tailnet("203.0.113.5 52100 198.51.100.1 22")
    assert not firewall.came_over_tailnet("")


LISTEN = """
import socket, sys, time
kept = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.bind(("0.0.0.0", int(port)))
    s.listen()
    kept.append(s)
print("ready", flush=True)
time.sleep(120)
"""
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)"


@pytest.fixture
def outside(netns: Namespace) -> Iterator[Namespace]:
    """A second namespace wired to the box's by a veth pair: the public internet. The box
    is 10.77.0.1 on its eth0, the outside 10.77.0.2."""
    other = Namespace(f"hostctl-test-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", other.name], check=True)
    try:
        subprocess.run(
            [
                *("ip", "-n", netns.name, "link", "add", "eth0", "type", "veth"),
                *("peer", "name", "eth0", "netns", other.name),
            ],
            check=True,
        )
        for namespace, address in ((netns, "10.77.0.1/24"), (other, "10.77.0.2/24")):
            subprocess.run(
                ["ip", "-n", namespace.name, "addr", "add", address, "dev", "eth0"], check=True
            )
            for link in ("lo", "eth0"):
                subprocess.run(["ip", "-n", namespace.name, "link", "set", link, "up"], check=True)
        yield other
    finally:
        subprocess.run(["ip", "netns", "delete", other.name], check=True)


def listen(namespace: Namespace, *ports: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["ip", "netns", "exec", namespace.name, sys.executable, "-c", LISTEN, *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def reaches(namespace: Namespace, address: str, port: int) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace.name, sys.executable, "-c", CONNECT, address, str(port)],
        capture_output=True,
    )
    return done.returncode == 0


def test_packets_from_outside_are_dropped_but_ssh_until_verified(
    netns: Namespace, outside: Namespace
) -> None:
    with_docker_chain(netns)
    box = listen(netns, 22, 3000)
    world = listen(outside, 4000)
    try:
        assert reaches(outside, "10.77.0.1", 22) and reaches(outside, "10.77.0.1", 3000)
        run(verified=False)
        assert reaches(outside, "10.77.0.1", 22), "public SSH stays open, unverified"
        assert not reaches(outside, "10.77.0.1", 3000)
        assert reaches(netns, "127.0.0.1", 3000), "loopback is open"
        assert reaches(netns, "10.77.0.2", 4000), "the box's own connections get replies"
        run(verified=True)
        assert not reaches(outside, "10.77.0.1", 22)
        assert reaches(netns, "10.77.0.2", 4000)
    finally:
        box.kill()
        world.kill()
        box.wait()
        world.wait()


def test_the_ssh_session_is_found_above_sudo() -> None:
    """A process without SSH_CONNECTION (as under sudo) finds its ancestor's."""
    inner = "from hostctl.setup.firewall import session_ssh_connection as s; print(s())"
    outer = (
        "import subprocess, sys; subprocess.run("
        f"[sys.executable, '-c', {inner!r}], env={{'PATH': '/usr/bin:/bin'}}, check=True)"
    )
    found = subprocess.run(
        [sys.executable, "-c", outer],
        env={"SSH_CONNECTION": "100.64.0.7 52100 100.64.0.1 22", "PYTHONPATH": str(Path.cwd())},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout == "100.64.0.7 52100 100.64.0.1 22\n"
