"""Targets, saved hosts and which box a command goes to (no network: the SSH side is in
tests/integration/test_remote.py)."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hostctl.adapters.ssh import Endpoint
from hostctl.cli.setup import forwarded, setup
from hostctl.core.errors import HostctlError
from hostctl.core.paths import LaptopPaths
from hostctl.remote import (
    Target,
    add_host,
    as_root,
    parse_target,
    remove_host,
    resolve,
    save_tailnet_host,
    saved_hosts,
)
from hostctl.setup.questions import QUESTIONS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("root@203.0.113.10", Endpoint("root", "203.0.113.10", 22)),
        ("admin@box.example.com:2222", Endpoint("admin", "box.example.com", 2222)),
        ("root@[2001:db8::1]:22", Endpoint("root", "2001:db8::1", 22)),
        ("root@[::1]", Endpoint("root", "::1", 22)),
    ],
)
def test_targets_parse(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    "text",
    ["203.0.113.10", "root@", "@box", "root@box:0", "root@box:70000", "root@box;rm", "ro ot@box"],
)
def test_bad_targets_are_refused(text):
    with pytest.raises(HostctlError) as raised:
        parse_target(text)
    assert "USER@HOST" in (raised.value.hint or "")


def test_endpoints_print_as_they_were_written():
    for text in ("root@box", "admin@box:2222", "root@[::1]:2200"):
        assert str(parse_target(text)) == text


def test_saved_hosts_the_first_is_the_default_and_the_file_is_private(tmp_path):
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    add_host(paths, "prod", "root@203.0.113.10", None, default=False)
    add_host(paths, "staging", "admin@203.0.113.11:2222", Path("keys/id"), default=False)
    hosts = saved_hosts(paths)
    assert hosts.default == "prod"
    assert hosts.hosts["staging"].identity == str(Path("keys/id").resolve())
    assert stat.S_IMODE(paths.hosts.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.config.stat().st_mode) == 0o700

    add_host(paths, "staging", "admin@203.0.113.11:2222", None, default=True)
    assert saved_hosts(paths).default == "staging"
    remove_host(paths, "staging")
    assert saved_hosts(paths).default is None
    assert list(json.loads(paths.hosts.read_text())["hosts"]) == ["prod"]
    with pytest.raises(HostctlError, match="no saved host 'staging'"):
        remove_host(paths, "staging")
    with pytest.raises(HostctlError, match="not a host name"):
        add_host(paths, "Prod!", "root@box", None, default=False)
    with pytest.raises(HostctlError, match="not a USER@HOST target"):
        add_host(paths, "bad", "box", None, default=False)


def test_which_box_a_command_goes_to(tmp_path):
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    assert resolve(paths, None, None) is None  # nothing saved, nothing given: here
    add_host(paths, "prod", "root@203.0.113.10", Path("/keys/prod"), default=False)
    add_host(paths, "staging", "admin@203.0.113.11:2222", None, default=False)

    prod = Target(Endpoint("root", "203.0.113.10"), Path("/keys/prod"))
    assert resolve(paths, None, None) == prod  # the default
    assert resolve(paths, "staging", None) == Target(Endpoint("admin", "203.0.113.11", 2222))
    assert resolve(paths, "prod", Path("/other")) == Target(prod.endpoint, Path("/other"))
    assert resolve(paths, "root@198.51.100.7", None) == Target(Endpoint("root", "198.51.100.7"))
    with pytest.raises(HostctlError, match="no saved host 'nosuch'"):
        resolve(paths, "nosuch", None)


def test_other_users_go_through_sudo():
    argv = ["hostctl", "apps"]
    assert as_root(Target(Endpoint("root", "box")), argv) == argv
    assert as_root(Target(Endpoint("admin", "box")), argv) == ["sudo", "-n", "hostctl", "apps"]


def test_setup_passes_its_own_options_on_but_not_how_to_connect(monkeypatch):
    for question in QUESTIONS:
        monkeypatch.delenv(question.env, raising=False)
    ctx = setup.make_context("setup", ["root@box", "-i", "key", "--trust-host-key", "--check"])
    assert forwarded(ctx) == (["--check"], {})
    assert forwarded(setup.make_context("setup", ["root@box"])) == ([], {})


def test_setup_hands_secrets_on_apart_from_the_command_line(monkeypatch):
    for question in QUESTIONS:
        monkeypatch.delenv(question.env, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("HOSTCTL_FIREWALL", "yes")
    argv = ["root@box", "--domain", "example.com", "--cloudflare-token", "cf_secret"]
    args, secrets = forwarded(setup.make_context("setup", argv))
    assert args == ["--domain", "example.com", "--firewall"]
    assert secrets == {"CLOUDFLARE_API_TOKEN": "cf_secret", "GITHUB_TOKEN": "ghp_secret"}


def hostctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")} | {
        "HOSTCTL_CONFIG_DIR": str(tmp_path / "config"),
        "HOSTCTL_ROOT": str(tmp_path / "root"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return subprocess.run(
        [sys.executable, "-m", "hostctl", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_hosts_commands(tmp_path):
    assert "No saved hosts" in hostctl(tmp_path, "hosts").stdout
    added = hostctl(tmp_path, "hosts", "add", "prod", "root@203.0.113.10:2222")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Saved prod (root@203.0.113.10:2222), the default host"
    listed = hostctl(tmp_path, "hosts", "list").stdout.split()
    assert listed[listed.index("*") :][:4] == ["*", "prod", "root@203.0.113.10:2222", "-"]
    assert hostctl(tmp_path, "hosts", "remove", "prod").returncode == 0
    assert "No saved hosts" in hostctl(tmp_path, "hosts").stdout


def test_bad_host_input_is_an_error_not_a_traceback(tmp_path):
    for args, said in [
        (["--host", "nosuch", "apps"], "Error: no saved host 'nosuch'"),
        (["--host", "root@bad host", "apps"], "Error: 'root@bad host' is not a USER@HOST"),
        (["setup", "root@box:99999"], "Error: port 99999"),
    ]:
        done = hostctl(tmp_path, *args)
        assert done.returncode == 1, done
        assert said in done.stderr and "Traceback" not in done.stderr


def test_after_setup_the_saved_host_uses_the_boxs_tailnet_name(tmp_path):
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    key = tmp_path / "id_ed25519"
    box = Target(parse_target("root@203.0.113.10:2222"), key)
    add_host(paths, "other", "root@198.51.100.7", None, default=True)
    add_host(paths, "prod", "root@203.0.113.10:2222", key, default=False)

    said = save_tailnet_host(paths, box, "VPS.tail1234.ts.net.")
    assert said == "saved host prod now uses the box's tailnet name: root@vps.tail1234.ts.net"
    hosts = saved_hosts(paths)
    assert hosts.hosts["prod"].target == "root@vps.tail1234.ts.net"  # Tailscale SSH: port 22
    assert hosts.hosts["prod"].identity == str(key.resolve())
    assert hosts.hosts["other"].target == "root@198.51.100.7"
    assert hosts.default == "other"
    assert stat.S_IMODE(paths.hosts.stat().st_mode) == 0o600


def test_after_setup_an_unsaved_box_is_saved_under_its_tailnet_name(tmp_path):
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    box = Target(parse_target("root@203.0.113.10"))
    said = save_tailnet_host(paths, box, "vps.tail1234.ts.net.")
    assert said.startswith("saved the box as host vps (root@vps.tail1234.ts.net")
    hosts = saved_hosts(paths)
    assert hosts.default == "vps"
    assert hosts.hosts["vps"].target == "root@vps.tail1234.ts.net"

    # a name taken by another box is not overwritten: the command to save it is said
    other = Target(parse_target("root@192.0.2.5"))
    said = save_tailnet_host(paths, other, "vps.tail9999.ts.net")
    assert "hostctl hosts add NAME root@vps.tail9999.ts.net" in said
    assert saved_hosts(paths).hosts["vps"].target == "root@vps.tail1234.ts.net"


def test_a_tailnet_name_that_is_no_host_name_is_a_warning_not_a_failure(tmp_path):
    """Setup went well; what the box reports must not turn its exit status into 1."""
    paths = LaptopPaths(tmp_path / "config", tmp_path / "cache")
    add_host(paths, "prod", "root@203.0.113.10", None, default=True)
    box = Target(parse_target("root@203.0.113.10"))
    said = save_tailnet_host(paths, box, "vps box.tail1234.ts.net")
    assert said.startswith("warning: the box reports the tailnet name 'vps box.tail1234.ts.net'")
    assert said.endswith("hostctl hosts add NAME root@TAILNET-IP")
    assert saved_hosts(paths).hosts["prod"].target == "root@203.0.113.10"
