"""The agent's listening rules and systemd unit, and bad input to `hostctl keys`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostctl.agent.listen import listen_addresses, parse_address
from hostctl.cli import cli
from hostctl.core.errors import HostctlError
from hostctl.github.link import check_branch
from hostctl.server_config import AgentConfig


def test_loopback_and_the_tailnet_are_allowed_and_nothing_else():
    assert parse_address("127.0.0.1:8470") == ("127.0.0.1", 8470)
    assert parse_address("localhost:9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:8470") == ("::1", 8470)
    assert parse_address("100.101.102.103:8470") == ("100.101.102.103", 8470)
    assert listen_addresses(AgentConfig(), ("127.0.0.1:1",)) == [("127.0.0.1", 1)]
    for public in ("0.0.0.0:8470", "203.0.113.5:8470", "[::]:8470"):
        with pytest.raises(HostctlError, match="loopback or the tailnet only"):
            parse_address(public)
    for bad in ("8470", "127.0.0.1:", "127.0.0.1:99999", "example.com:80"):
        with pytest.raises(HostctlError, match="expected IP:PORT"):
            parse_address(bad)


def test_serve_refuses_a_public_address_with_a_hint(hostctl_env: Path):
    done = CliRunner().invoke(cli, ["serve", "--listen", "0.0.0.0:8470"])
    assert done.exit_code == 1
    assert "Error: refusing to listen on 0.0.0.0:8470" in done.output
    assert "Hint: public webhooks reach it through the Cloudflare tunnel" in done.output


def test_the_systemd_unit_runs_this_agent_with_its_settings(hostctl_env: Path):
    done = CliRunner().invoke(
        cli, ["serve", "--systemd-unit", "--listen", "127.0.0.1:9000", "--workers", "3"]
    )
    assert done.exit_code == 0, done.output
    unit = done.output
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("serve --workers 3 --listen 127.0.0.1:9000")
    assert f'Environment="HOSTCTL_ROOT={hostctl_env / "state"}"' in unit
    for line in (
        "KillMode=process",
        "KillSignal=SIGTERM",
        "Restart=always",
        "Requires=docker.service",
    ):
        assert line in unit.splitlines()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was checked for content only")
    path = hostctl_env / "hostctl-agent.service"
    path.write_text(unit)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("ssh-ed25519", "not an SSH public key"),
        ("ssh-ed25519 AAAA!!notbase64 me", "not an SSH public key"),
        ("-", "not an SSH public key"),  # stdin: a private key pasted by mistake
    ],
)
def test_a_bad_push_key_is_refused_and_nothing_is_written(hostctl_env: Path, key, message):
    pasted = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    done = CliRunner().invoke(cli, ["keys", "add", key], input=pasted)
    assert done.exit_code == 1 and message in done.output and "Hint:" in done.output
    assert not (hostctl_env / "state" / "ssh" / "authorized_keys").exists()


def test_a_key_added_twice_is_one_key_and_names_do_not_clash(hostctl_env: Path, tmp_path: Path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["keys", "add", str(tmp_path / "k.pub"), "--name", "alice"]).exit_code
        == 0
    )
    assert (
        runner.invoke(cli, ["keys", "add", str(tmp_path / "k.pub"), "--name", "alice"]).exit_code
        == 0
    )
    other = runner.invoke(cli, ["keys", "add", str(tmp_path / "k.pub"), "--name", "bob"])
    assert other.exit_code == 1 and "already added as 'alice'" in other.output
    authorized = (hostctl_env / "state" / "ssh" / "authorized_keys").read_text()
    assert authorized.count("restrict ssh-ed25519") == 1
    gone = runner.invoke(cli, ["keys", "remove", "carol"])
    assert gone.exit_code == 1 and "no push key 'carol'" in gone.output


@pytest.mark.parametrize("branch", ["", "-x", "a b", "a..b", "feature~1", "x@{1}"])
def test_bad_branch_names_are_refused(branch):
    with pytest.raises(HostctlError, match="is not a branch name"):
        check_branch(branch)
