"""doctor's pure parts and its adapters: listening sockets (real ones, and /proc lines for
addresses this machine cannot bind), the firewall verdict, and Tailscale's status through a
stand-in `tailscale` executable (the real one cannot be installed here)."""

from __future__ import annotations

import json
import socket
import sys
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest

from hostctl.adapters.system import listening_sockets
from hostctl.doctor import (
    AppView,
    Check,
    app_outcome,
    firewall_verdict,
    run_check,
    tailscale_outcome,
)

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"


def line(address: str, port: int, state: str) -> str:
    rest = "00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0"
    return f"   0: {address}:{port:04X} {'0' * len(address)}:0000 {state} {rest}\n"


def test_real_listening_sockets_are_found_and_connections_are_not() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as v4,
        socket.create_server(("::1", 0), family=socket.AF_INET6) as v6,
    ):
        client = socket.create_connection(v4.getsockname()[:2])
        accepted, _ = v4.accept()
        try:
            found = listening_sockets()
            assert (ip_address("127.0.0.1"), v4.getsockname()[1]) in found
            assert (ip_address("::1"), v6.getsockname()[1]) in found
            assert all(port != client.getsockname()[1] for _, port in found)
        finally:
            client.close()
            accepted.close()


@pytest.mark.skipif(sys.byteorder != "little", reason="/proc lines written for little-endian")
def test_proc_lines_give_addresses_and_only_listeners(tmp_path: Path) -> None:
    tcp, tcp6 = tmp_path / "tcp", tmp_path / "tcp6"
    tcp.write_text(
        HEADER
        + line("67666564", 8470, "0A")  # 100.101.102.103, the tailnet
        + line("057100CB", 8080, "0A")  # 203.0.113.5
        + line("057100CB", 9999, "01")  # an established connection
    )
    tcp6.write_text(HEADER + line("5C117AFD0000E0A10000000001000000", 22, "0A"))
    assert listening_sockets((tcp, tcp6, tmp_path / "absent")) == [
        (ip_address("fd7a:115c:a1e0::1"), 22),
        (ip_address("203.0.113.5"), 8080),
        (ip_address("100.101.102.103"), 8470),
    ]


def test_firewall_allows_the_edge_warns_for_ssh_and_fails_on_anything_else() -> None:
    private = [
        (ip_address("127.0.0.1"), 8470),
        (ip_address("::1"), 5432),
        (ip_address("100.64.0.7"), 8470),
        (ip_address("fd7a:115c:a1e0::5"), 22),
        (ip_address("fe80::1"), 9000),
    ]
    assert firewall_verdict(private, 80).status == "ok"
    assert firewall_verdict([*private, (ip_address("::"), 80)], 80).status == "ok"
    ssh = firewall_verdict([*private, (ip_address("0.0.0.0"), 22)], 80)
    assert ssh.status == "warn" and "SSH (22)" in ssh.detail and ssh.hint
    both = [(ip_address("0.0.0.0"), 22), (ip_address("::ffff:203.0.113.5"), 3000)]
    found = firewall_verdict(both, 80)
    assert found.status == "fail" and "port 3000" in found.detail and "22" not in found.detail
    assert firewall_verdict([(ip_address("::"), 80)], 8080).status == "fail"


def test_the_box_firewall_decides_whether_public_ssh_is_open() -> None:
    ssh = [(ip_address("0.0.0.0"), 22), (ip_address("::"), 22)]
    still_open = firewall_verdict(ssh, 80, "ssh-open")
    assert still_open.status == "warn"
    assert still_open.detail == "public SSH still open (SSH over Tailscale not verified)"
    assert firewall_verdict(ssh, 80, "closed").status == "ok"
    assert firewall_verdict([*ssh, (ip_address("0.0.0.0"), 3000)], 80, "closed").status == "fail"


@pytest.fixture
def tailscale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `tailscale` first on PATH: prints status.json, or fails like a stopped
    tailscaled; records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tailscale"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/calls\n'
        f'if [ -f {tmp_path}/down ]; then echo "failed to connect to local tailscaled" >&2; '
        "exit 1; fi\n"
        f"cat {tmp_path}/status.json\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path


def status_json(folder: Path, **self_fields: object) -> None:
    me = {"Online": True, "sshHostKeys": ["ssh-ed25519 AAAA"]} | self_fields
    data = {"BackendState": "Running", "TailscaleIPs": ["100.64.0.7"], "Self": me}
    (folder / "status.json").write_text(json.dumps({k: v for k, v in data.items()}))


def expiry(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_tailscale_not_installed_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = tailscale_outcome()
    assert found.status == "warn" and "not installed" in found.detail


def test_tailscale_up_with_ssh_and_a_distant_key_expiry(tailscale: Path) -> None:
    status_json(tailscale, KeyExpiry=expiry(90))
    found = tailscale_outcome()
    assert found.status == "ok", found
    assert "100.64.0.7" in found.detail and "SSH on" in found.detail
    assert (tailscale / "calls").read_text() == "status --json\n"
    status_json(tailscale)  # no KeyExpiry: expiry disabled
    assert "key expiry disabled" in tailscale_outcome().detail


@pytest.mark.parametrize(
    ("fields", "backend", "status", "words"),
    [
        ({"KeyExpiry": expiry(5)}, "Running", "warn", "in 4 days"),
        ({"KeyExpiry": expiry(-1)}, "Running", "fail", "expired"),
        ({"sshHostKeys": None}, "Running", "fail", "Tailscale SSH is off"),
        ({"Online": False}, "Running", "fail", "not online"),
        ({}, "NeedsLogin", "fail", "not up (state NeedsLogin)"),
    ],
)
def test_tailscale_problems(
    tailscale: Path, fields: dict[str, object], backend: str, status: str, words: str
) -> None:
    status_json(tailscale, **fields)
    data = json.loads((tailscale / "status.json").read_text())
    (tailscale / "status.json").write_text(json.dumps(data | {"BackendState": backend}))
    found = tailscale_outcome()
    assert found.status == status and words in found.detail and found.hint, found


def test_tailscaled_down_is_a_failure_line(tailscale: Path) -> None:
    (tailscale / "down").touch()
    found = run_check(Check("tailscale", tailscale_outcome))
    assert found.status == "fail"
    assert "failed to connect to local tailscaled" in found.detail
    assert found.hint and "tailscaled" in found.hint


def view(**fields: object) -> AppView:
    base: dict[str, object] = {
        "name": "blog",
        "release": 3,
        "container": "hostctl-blog-web-3-abc",
        "container_status": "running",
        "restarts": 0,
        "last_deploy": {"release": 3, "status": "live", "finished_at": None, "error": None},
        "health": "/ answered 200",
        "healthy": True,
    }
    return AppView(**(base | fields))  # type: ignore[arg-type]


def test_app_outcomes() -> None:
    assert app_outcome(view()).status == "ok"
    failed = {"release": 4, "status": "failed", "finished_at": None, "error": "build failed"}
    later = app_outcome(view(last_deploy=failed))
    assert later.status == "warn" and "build failed" in later.detail
    assert "--release 4" in str(later.hint)
    never = app_outcome(view(release=None, container=None, last_deploy=failed))
    assert never.status == "fail" and "nothing serves it" in never.detail
    unhealthy = app_outcome(view(healthy=False, health="/ answered 502"))
    assert unhealthy.status == "fail" and "502" in unhealthy.detail
    exited = app_outcome(view(container_status="exited"))
    assert exited.status == "fail" and "hostctl restart blog" in str(exited.hint)
    assert app_outcome(view(last_deploy=None, release=None)).status == "warn"


def test_a_check_that_breaks_is_its_own_failure_line() -> None:
    def broken() -> object:
        raise KeyError("x")

    found = run_check(Check("broken", broken))  # type: ignore[arg-type]
    assert found.status == "fail" and "KeyError" in found.detail
