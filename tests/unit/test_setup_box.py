"""`hostctl setup`'s own parts without touching this machine: OS detection, the
questions and their flags, the Docker engine's settings, the domain, the units and which
Caddy hostctl starts, and skipped steps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import hostctl.cli.setup as setup_cli
import hostctl.host
from hostctl.adapters.caddy import PidFile, SystemdUnit, unit_runs
from hostctl.cli import cli
from hostctl.cli.setup import handed_secrets
from hostctl.core.errors import HostctlError
from hostctl.github import API_URL_ENV
from hostctl.host import Host
from hostctl.server_config import load_server_config
from hostctl.settings import Settings
from hostctl.setup import backups
from hostctl.setup.answers import Answers
from hostctl.setup.box import box_steps
from hostctl.setup.domain import domain_step
from hostctl.setup.engine import daemon_settings_ok, engine_steps, wanted_settings
from hostctl.setup.os_check import os_step
from hostctl.setup.questions import (
    GITHUB_API_ENV,
    OFFSITE_SECRET_ENV,
    QUESTIONS,
    equivalent_command,
    read_secrets,
    resolve,
)
from hostctl.setup.services import caddy_unit_text, service_steps
from hostctl.setup.steps import Step, StepResult, run_steps

DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
UBUNTU_24 = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nVERSION_ID="24.04"\n'
CENTOS_9 = 'NAME="CentOS Stream"\nPRETTY_NAME="CentOS Stream 9"\nID="centos"\nVERSION_ID="9"\n'
DEBIAN_11 = 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n'


@pytest.fixture(autouse=True)
def no_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for question in QUESTIONS:
        monkeypatch.delenv(question.env, raising=False)
    monkeypatch.setenv("HOSTCTL_ROOT", str(tmp_path / "state"))
    monkeypatch.setenv("HOSTCTL_ETC", str(tmp_path / "etc"))


def check_os(tmp_path: Path, text: str, arch: str = "x86_64") -> list[StepResult]:
    release = tmp_path / "os-release"
    release.write_text(text)
    return run_steps([os_step(release, lambda: arch)], lambda _: None)


@pytest.mark.parametrize(
    ("text", "arch", "name"),
    [
        (DEBIAN_12, "x86_64", "os Debian GNU/Linux 12 (bookworm) (amd64)"),
        (UBUNTU_24, "aarch64", "os Ubuntu 24.04.1 LTS (arm64)"),
    ],
)
def test_supported_systems_pass(tmp_path, text, arch, name):
    assert check_os(tmp_path, text, arch) == [StepResult(name, "ok")]


@pytest.mark.parametrize(
    ("text", "arch", "said"),
    [
        (CENTOS_9, "x86_64", "this box runs CentOS Stream 9 (amd64)"),
        (DEBIAN_11, "x86_64", "VERSION_ID=11"),
        (DEBIAN_12, "riscv64", "Debian GNU/Linux 12 (bookworm) (riscv64)"),
        ("", "x86_64", "an unknown system"),
    ],
)
def test_other_systems_are_refused_before_anything_is_installed(tmp_path, text, arch, said):
    with pytest.raises(HostctlError) as refused:
        check_os(tmp_path, text, arch)
    assert said in refused.value.message
    assert "Debian 12, 13; Ubuntu 22.04, 24.04, on amd64 or arm64" in refused.value.message
    assert "nothing was changed" in (refused.value.hint or "")


def test_a_skipped_step_is_neither_checked_nor_applied():
    def never() -> bool:
        raise AssertionError("a skipped step was looked at")

    step = Step("edge", "it runs", check=never, apply=lambda: None, skip=lambda: "no systemd")
    seen: list[StepResult] = []
    assert run_steps([step], seen.append) == [StepResult("edge", "skipped", "no systemd")]
    assert seen == [StepResult("edge", "skipped", "no systemd")]


def test_without_systemd_the_service_steps_say_so_and_pass(tmp_path):
    """This machine (and CI) has no systemd as PID 1; install.sh runs setup here."""
    steps = service_steps(Settings.from_env(), tmp_path / "units")
    steps += engine_steps(tmp_path / "daemon.json")[1:2]  # daemon.json; not the packages
    results = run_steps(steps, lambda _: None)
    assert {r.status for r in results} == {"skipped"}
    assert "hostctl starts Caddy itself" in results[1].detail
    assert not (tmp_path / "units").exists()
    assert not (tmp_path / "daemon.json").exists()


# the questions


def test_answers_come_from_flags_and_env_vars_and_questions_ask_only_for_the_rest():
    asked: list[str] = []

    def ask(question):
        asked.append(question.env)
        return {"TS_AUTHKEY": "login", "HOSTCTL_FIREWALL": True}.get(question.env, "")

    answers = resolve({"domain": "example.com", "github_token": "ghp_x"}, ask)
    assert asked == ["CLOUDFLARE_API_TOKEN", "TS_AUTHKEY", "HOSTCTL_OFFSITE", "HOSTCTL_FIREWALL"]
    assert answers == Answers(
        domain="example.com", tailscale_auth_key="login", github_token="ghp_x", firewall=True
    )
    assert len(QUESTIONS) <= 6


def test_no_cloudflare_token_is_asked_for_without_a_domain():
    asked: list[str] = []
    resolve({}, lambda q: asked.append(q.field))
    assert "cloudflare_token" not in asked
    assert "domain" in asked


def test_non_interactive_skips_what_was_not_given_but_refuses_a_token_without_a_domain():
    assert resolve({}, None) == Answers()
    with pytest.raises(HostctlError) as refused:
        resolve({"cloudflare_token": "cf_x"}, None)
    assert "no domain" in refused.value.message
    assert "--domain or HOSTCTL_DOMAIN" in (refused.value.hint or "")


def test_the_equivalent_command_names_the_secrets_env_vars_never_their_values():
    answers = Answers(
        domain="example.com",
        cloudflare_token="cf_secret",
        tailscale_auth_key="tskey-secret",
        github_token="ghp_secret",
        offsite="s3://KEY@s3.example.com/bucket",
        firewall=True,
    )
    command, env = equivalent_command(answers)
    assert command == (
        "hostctl setup --non-interactive --domain example.com "
        "--offsite s3://KEY@s3.example.com/bucket --firewall"
    )
    assert env == ["CLOUDFLARE_API_TOKEN", "TS_AUTHKEY", "GITHUB_TOKEN", "HOSTCTL_OFFSITE_SECRET"]
    login, _ = equivalent_command(Answers(tailscale_auth_key="login"))
    assert login == "hostctl setup --non-interactive --tailscale-auth-key login --no-firewall"


def test_secrets_travel_as_env_var_lines_and_nothing_else_is_taken():
    text = "CLOUDFLARE_API_TOKEN=cf=x\nGITHUB_TOKEN=ghp_x\nPATH=/evil\nnonsense\n"
    assert read_secrets(text) == {"CLOUDFLARE_API_TOKEN": "cf=x", "GITHUB_TOKEN": "ghp_x"}


def test_the_steps_run_core_first_then_the_answers_steps_in_order():
    answers = Answers(
        domain="example.com",
        cloudflare_token="cf_x",
        tailscale_auth_key="login",
        github_token="ghp_x",
        offsite="s3://KEY@s3.example.com/bucket",
        firewall=True,
    )
    names = [step.name for step in box_steps(Settings.from_env(), answers)]
    assert names[0].startswith("os ")
    assert names[1].startswith("packages docker")
    core = [
        "docker settings /etc/docker/daemon.json",
        "docker engine docker.service",
        f"domain example.com in {Settings.from_env().paths.server_config}",
        "caddy.service masked",
        "edge hostctl-caddy.service",
        "agent hostctl-agent.service",
        "packages sudo openssh-server",
        "user hostctl",
    ]
    assert names[2 : 2 + len(core)] == core
    rest = names[2 + len(core) :]
    order = ["tailscale up", "cloudflare", "github", "firewall", "offsite target"]
    assert [name for name in rest if name in order] == order
    assert rest.index("authorized_keys of hostctl") < rest.index("tailscale package")
    plain = [step.name for step in box_steps(Settings.from_env(), Answers())]
    assert not any(
        name.startswith(("tailscale", "cloudflare", "github", "firewall", "domain"))
        for name in plain
    )


def test_the_offsite_secret_is_handed_over_under_the_name_the_backup_step_reads():
    assert OFFSITE_SECRET_ENV == backups.SECRET_ENV
    assert read_secrets(f"{OFFSITE_SECRET_ENV}=s3cret\n") == {OFFSITE_SECRET_ENV: "s3cret"}


def test_the_box_gets_github_enterprises_api_url_in_its_setups_environment(tmp_path, monkeypatch):
    assert GITHUB_API_ENV == API_URL_ENV  # the name the GitHub step reads
    monkeypatch.delenv(API_URL_ENV, raising=False)
    handed = tmp_path / "secrets"
    handed.write_text(f"GITHUB_TOKEN=ghp_x\n{API_URL_ENV}=https://ghe.example.com/api/v3\n")
    answers = handed_secrets(handed)
    assert answers == {"github_token": "ghp_x"}
    assert os.environ[API_URL_ENV] == "https://ghe.example.com/api/v3"
    assert not handed.exists()  # read once


def run_setup(monkeypatch, args, terminal=False, input=""):
    """The CLI with the box's steps replaced: what answers would setup run with?"""
    ran: list[Answers] = []

    def fake_setup(report, answers=None, check_only=False, dry_run=False, choose=None):
        # Cloudflare's pickers ask only where there is a terminal
        asking = terminal and "--non-interactive" not in args
        assert isinstance(choose, setup_cli.Picks) if asking else choose is None
        ran.append(answers)
        return []

    monkeypatch.setattr("hostctl.setup.box.setup_this_box", fake_setup)
    monkeypatch.setattr(setup_cli, "stdin_is_terminal", lambda: terminal)
    result = CliRunner().invoke(cli, ["setup", *args], input=input)
    return result, ran


def test_an_interactive_run_reads_tokens_without_echo_and_ends_with_the_command(monkeypatch):
    typed = "example.com\ncf_secret\n\nghp_secret\n\ny\n"
    result, ran = run_setup(monkeypatch, [], terminal=True, input=typed)
    assert result.exit_code == 0, result.output
    assert ran == [
        Answers(
            domain="example.com",
            cloudflare_token="cf_secret",
            github_token="ghp_secret",
            firewall=True,
        )
    ]
    assert "secret" not in result.output  # neither echoed nor printed
    assert "hostctl setup --non-interactive --domain example.com --firewall" in result.output
    assert "(with CLOUDFLARE_API_TOKEN, GITHUB_TOKEN set in its environment)" in result.output


def test_non_interactive_never_asks_and_names_the_missing_flag(monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf_secret")
    result, ran = run_setup(monkeypatch, ["--non-interactive"], terminal=True)
    assert result.exit_code == 1
    assert ran == []
    assert "no domain for the apps" in result.output
    assert "--domain or HOSTCTL_DOMAIN" in result.output

    monkeypatch.setenv("HOSTCTL_DOMAIN", "example.com")
    result, ran = run_setup(monkeypatch, ["--non-interactive", "--firewall"], terminal=True)
    assert result.exit_code == 0, result.output
    assert ran == [Answers(domain="example.com", cloudflare_token="cf_secret", firewall=True)]
    assert "The same setup without questions" not in result.output


def test_secrets_handed_over_in_a_file_are_read_once_and_removed(monkeypatch, tmp_path):
    handed = tmp_path / "secrets"
    handed.write_text("GITHUB_TOKEN=ghp_secret\n")
    result, ran = run_setup(monkeypatch, ["--non-interactive", "--secrets-from", str(handed)])
    assert result.exit_code == 0, result.output
    assert ran == [Answers(github_token="ghp_secret")]
    assert not handed.exists()


# the Docker engine's settings, the domain


def test_daemon_json_gets_log_rotation_live_restore_and_cgroupfs_and_keeps_the_rest(tmp_path):
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text(json.dumps({"data-root": "/srv/docker", "log-opts": {"tag": "x"}}))
    assert not daemon_settings_ok(daemon_json)
    found = json.loads(daemon_json.read_text())
    assert wanted_settings(found) == {
        "data-root": "/srv/docker",
        "log-driver": "json-file",
        "log-opts": {"tag": "x", "max-size": "10m", "max-file": "3"},
        "live-restore": True,
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
    }
    journald = {"log-driver": "journald", "exec-opts": ["native.cgroupdriver=systemd", "x=y"]}
    assert wanted_settings(journald) == journald | {
        "live-restore": True,
        "exec-opts": ["x=y", "native.cgroupdriver=cgroupfs"],
    }
    daemon_json.write_text("{not json")
    with pytest.raises(HostctlError, match="is not valid JSON"):
        daemon_settings_ok(daemon_json)


def test_the_domain_goes_into_the_server_config_keeping_the_rest(tmp_path):
    config = tmp_path / "hostctl.yml"
    config.write_text("# mine\nhttp_port: 8080\ndomain: old.example\n")
    step = domain_step(config, "example.com")
    assert run_steps([step], lambda _: None)[0].status == "applied"
    assert config.read_text() == "# mine\nhttp_port: 8080\ndomain: example.com\n"
    assert run_steps([step], lambda _: None)[0].status == "ok"
    fresh = tmp_path / "new" / "hostctl.yml"
    run_steps([domain_step(fresh, "example.com")], lambda _: None)
    assert load_server_config(fresh).domain == "example.com"


# the units, and which Caddy hostctl starts


def test_the_caddy_unit_runs_hostctls_config_after_docker_with_a_minimal_env(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    settings = Settings.from_env()
    text = caddy_unit_text(settings)
    caddy = Host(settings).caddy
    assert f"ExecStart=/usr/bin/caddy run --config {caddy.config_file}\n" in text
    assert "After=network-online.target docker.service\n" in text
    assert "Restart=always\n" in text
    assert f'Environment="HOME={caddy.state_dir}"' in text
    assert "ghp_secret" not in text
    assert "HOSTCTL" not in text.split("[Service]")[1]


def test_hostctl_starts_caddy_through_systemd_once_its_unit_runs_this_state(monkeypatch, tmp_path):
    settings = Settings.from_env()
    units = tmp_path / "units"
    units.mkdir()
    monkeypatch.setattr(hostctl.host, "SYSTEMD_UNITS", units)
    monkeypatch.setattr(hostctl.host, "systemd_running", lambda: True)
    assert isinstance(Host(settings).caddy.process, PidFile)  # no unit yet

    (units / "hostctl-caddy.service").write_text(caddy_unit_text(settings))
    assert unit_runs(units / "hostctl-caddy.service", Host(settings).caddy.config_file)
    assert Host(settings).caddy.process == SystemdUnit("hostctl-caddy.service")

    monkeypatch.setenv("HOSTCTL_ROOT", str(tmp_path / "another"))  # another instance's
    assert isinstance(Host(Settings.from_env()).caddy.process, PidFile)
    monkeypatch.setattr(hostctl.host, "systemd_running", lambda: False)
    assert isinstance(Host(settings).caddy.process, PidFile)


def test_an_offsite_target_typed_in_asks_for_its_secret_without_echo(monkeypatch):
    monkeypatch.setenv(OFFSITE_SECRET_ENV, "")  # restored after the test
    typed = "\n\n\ns3://KEY@s3.example.com/bucket\nn\ns3cret\n"
    result, ran = run_setup(monkeypatch, [], terminal=True, input=typed)
    assert result.exit_code == 0, result.output
    assert ran == [Answers(offsite="s3://KEY@s3.example.com/bucket")]
    assert "Secret access key of the offsite store" in result.output
    assert "s3cret" not in result.output
    assert os.environ[OFFSITE_SECRET_ENV] == "s3cret"
    assert "(with HOSTCTL_OFFSITE_SECRET set in its environment)" in result.output


def test_cloudflare_pickers_are_numbered_and_in_the_equivalent_command_when_given(monkeypatch):
    picks = setup_cli.Picks()

    @click.command()
    def picking():
        options = [("a1", "Main (a1)"), ("b2", "Other (b2)")]
        click.echo(f"picked {picks('account', 'Which account', options)}")

    result = CliRunner().invoke(picking, input="3\n2\n")
    assert result.exit_code == 0, result.output
    assert "Which account:\n  1. Main (a1)\n  2. Other (b2)\n" in result.output
    assert "3 is not in the range 1<=x<=2" in result.output
    assert result.output.endswith("picked b2\n")
    assert picks == {"account": "b2"}  # for the equivalent command

    result, ran = run_setup(monkeypatch, ["--non-interactive", "--cloudflare-zone", "z1"])
    assert result.exit_code == 0, result.output
    assert (ran[0].cloudflare_account, ran[0].cloudflare_zone) == (None, "z1")
    monkeypatch.setenv("HOSTCTL_CLOUDFLARE_ACCOUNT", "Main")
    result, ran = run_setup(monkeypatch, ["--non-interactive"])
    assert ran[0].cloudflare_account == "Main"
    command, _ = equivalent_command(ran[0])
    assert command.endswith("--no-firewall --cloudflare-account Main")


def test_an_account_picked_in_a_terminal_is_in_the_equivalent_command(monkeypatch):
    def fake_setup(report, answers=None, check_only=False, dry_run=False, choose=None):
        options = [("a1", "Main (a1)"), ("b2", "Other (b2)")]
        assert choose("account", "The token sees example.com's zone in 2 accounts", options)
        return []

    monkeypatch.setattr("hostctl.setup.box.setup_this_box", fake_setup)
    monkeypatch.setattr(setup_cli, "stdin_is_terminal", lambda: True)
    typed = "example.com\ncf_secret\n\n\n\nn\n2\n"
    result = CliRunner().invoke(cli, ["setup"], input=typed)
    assert result.exit_code == 0, result.output
    assert "  1. Main (a1)\n  2. Other (b2)\n" in result.output
    expected = "hostctl setup --non-interactive --domain example.com --no-firewall"
    assert f"{expected} --cloudflare-account b2\n" in result.output
