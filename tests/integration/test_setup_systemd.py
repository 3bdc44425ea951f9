"""`hostctl setup` on a fresh VPS with systemd as PID 1 (tests/harness/systemd_vps.py),
for real: it installs the Docker engine, Caddy and the agent as services, a deploy is
served, the services come back after a kill and after a reboot, a re-run only says "ok",
a run killed midway resumes, and bad input is one clear error. One box for the module:
set up once from a laptop over its sshd, then driven with `docker exec`."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.env import NAMESPACE, REPO, laptop_env
from tests.harness.ssh import client_key
from tests.harness.systemd_vps import SystemdVps, systemd_vps_image
from tests.harness.terminal import converse
from tests.harness.vps import dependency_wheels

pytestmark = pytest.mark.integration

APP_IMAGE = "python:3.11-slim-bookworm"  # examples/hello's base image
# handed to the box like a token; with no offsite target given, no step uses it
FAKE_SECRET = "systemdvps-not-a-real-secret"
UNITS = ("docker", "hostctl-caddy", "hostctl-agent")


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    return systemd_vps_image()


@pytest.fixture(scope="module")
def box(image: str) -> Iterator[SystemdVps]:
    """A fresh box: root may log in with a key; pip finds hostctl's dependencies in a
    wheelhouse (the box has no package index here)."""
    vps = SystemdVps.start(image, NAMESPACE)
    try:
        vps.use_wheels(dependency_wheels())
        yield vps
    finally:
        vps.remove()


@pytest.fixture(scope="module")
def set_up(
    box: SystemdVps, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    """`hostctl setup root@BOX --non-interactive` from a laptop, a secret in its env."""
    started = time.monotonic()
    done = box.set_up_from_a_laptop(
        tmp_path_factory.mktemp("laptop"), {"HOSTCTL_OFFSITE_SECRET": FAKE_SECRET}
    )
    print(f"setup from the laptop took {time.monotonic() - started:.1f} s")
    return done


def lines(output: str) -> list[str]:
    return [line for line in output.replace("\r\n", "\n").splitlines() if line]


def step_lines(output: str) -> list[str]:
    return [line for line in lines(output) if not line.startswith("Add who may push")]


def test_setup_from_a_laptop_installs_the_engine_the_edge_and_the_agent_as_services(box, set_up):
    assert set_up.returncode == 0, set_up.stdout + set_up.stderr
    output = set_up.stdout.replace("\r\n", "\n")
    for applied in (
        "applied  packages docker.io caddy git ca-certificates",
        "applied  docker settings /etc/docker/daemon.json",
        "applied  caddy.service masked",
        "applied  edge hostctl-caddy.service",
        "applied  agent hostctl-agent.service",
        "applied  user hostctl",
    ):
        assert applied in output, output
    assert step_lines(output)[0] == "ok       os Debian GNU/Linux 12 (bookworm) (amd64)"
    for unit in UNITS:
        assert box.exec("systemctl", "is-enabled", unit).stdout.strip() == "enabled"
        assert box.exec("systemctl", "is-active", unit).stdout.strip() == "active"
    assert box.exec("systemctl", "is-enabled", "caddy", check=False).stdout.strip() == "masked"
    settings = json.loads(box.exec("cat", "/etc/docker/daemon.json").stdout)
    assert settings["live-restore"] is True
    assert settings["log-opts"] == {"max-size": "10m", "max-file": "3"}
    engine = box.exec("docker", "info", "-f", "{{ .LiveRestoreEnabled }} {{ .Driver }}")
    assert engine.stdout.split() == ["true", "overlay2"]
    # one Caddy: systemd's, running hostctl's config
    caddies = box.exec("pgrep", "-a", "caddy").stdout.strip().splitlines()
    assert len(caddies) == 1, caddies
    assert caddies[0].startswith(f"{box.main_pid('hostctl-caddy')} /usr/bin/caddy run --config")
    # the secret went to the box in a file that is gone, never on a command line or disk
    assert (
        box.exec("sh", "-c", "ls -d /tmp/hostctl-secrets.* 2>/dev/null", check=False).stdout == ""
    )
    found = box.exec(
        "grep", "-rl", FAKE_SECRET, "/etc", "/var/lib/hostctl", "/root", "/tmp", check=False
    )
    assert found.stdout == "", found.stdout
    assert FAKE_SECRET not in set_up.stdout + set_up.stderr


def test_a_deploy_is_served_and_comes_back_after_kills_and_a_reboot(box, set_up):
    assert set_up.returncode == 0
    box.load_image(APP_IMAGE)
    subprocess.run(["docker", "cp", f"{REPO}/examples/hello", f"{box.name}:/tmp/hello"], check=True)
    box.exec("hostctl", "apps", "create", "hello")
    box.exec("hostctl", "deploy", "hello", "/tmp/hello")
    assert "Hello from hostctl" in box.get("hello.localhost").text

    for unit in ("hostctl-caddy", "hostctl-agent"):
        killed = box.main_pid(unit)
        box.exec("kill", "-9", str(killed))
        wait_for(lambda: box.main_pid(unit) not in (0, killed), f"{unit} restarted")  # noqa: B023
    wait_for(lambda: served(box), "hello served after Caddy was killed")

    box.reboot()  # nobody types a hostctl command after it
    for unit in UNITS:
        wait_for(functools.partial(active, box, unit), f"{unit} active")
    wait_for(lambda: served(box), "hello served after the reboot")
    wait_for(functools.partial(agent_healthy, box), "the agent's /health after the reboot")
    caddies = box.exec("pgrep", "-a", "caddy").stdout.strip().splitlines()
    assert caddies == [f"{box.main_pid('hostctl-caddy')} {caddies[0].split(' ', 1)[1]}"]


def agent_healthy(box: SystemdVps) -> bool:
    probe = "import urllib.request; print(urllib.request.urlopen(URL).read().decode())"
    url = "http://127.0.0.1:8470/health"
    done = box.exec("python3", "-c", probe.replace("URL", repr(url)), check=False)
    return done.returncode == 0 and json.loads(done.stdout)["healthy"] is True


def active(box: SystemdVps, unit: str) -> bool:
    return box.exec("systemctl", "is-active", unit, check=False).stdout.strip() == "active"


def served(box: SystemdVps) -> bool:
    try:
        return "Hello from hostctl" in box.get("hello.localhost").text
    except OSError:
        return False


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.5)


def test_a_second_run_prints_only_ok_lines_within_seconds(box, set_up):
    assert set_up.returncode == 0
    started = time.monotonic()
    again = box.exec("hostctl", "setup", "--non-interactive")
    took = time.monotonic() - started
    steps = step_lines(again.stdout)
    assert len(steps) >= 12, again.stdout
    assert all(line.startswith("ok       ") for line in steps), again.stdout
    assert took < 10, f"a re-run took {took:.1f} s"


def test_a_run_killed_midway_resumes(box, set_up):
    assert set_up.returncode == 0
    # undo two steps: the engine's settings (applying them restarts the engine, slowly
    # enough to be killed in the middle) and the agent's unit
    box.exec("rm", "/etc/docker/daemon.json")
    box.exec("systemctl", "disable", "--now", "hostctl-agent")
    box.exec("rm", "/etc/systemd/system/hostctl-agent.service")
    plan = box.exec("hostctl", "setup", "--dry-run")  # prints the plan, changes nothing
    assert "todo     docker settings /etc/docker/daemon.json  (" in plan.stdout, plan.stdout
    assert "todo     agent hostctl-agent.service  (" in plan.stdout, plan.stdout
    assert "ok       edge hostctl-caddy.service" in plan.stdout, plan.stdout
    assert box.exec("test", "-e", "/etc/docker/daemon.json", check=False).returncode == 1
    assert (
        box.exec("test", "-e", "/etc/systemd/system/hostctl-agent.service", check=False).returncode
        == 1
    )
    assert not active(box, "hostctl-agent")
    started = box.exec(
        "sh", "-c", "setsid hostctl setup --non-interactive > /tmp/killed.log 2>&1 & echo $!"
    )
    pid = started.stdout.strip()
    wait_for(
        lambda: (
            "ok       docker settings" in box.read("/tmp/killed.log")
            or "packages docker.io" in box.read("/tmp/killed.log")
        ),
        "setup under way",
        30,
    )
    box.exec("kill", "-9", pid)
    killed = box.read("/tmp/killed.log")
    assert "agent hostctl-agent.service" not in killed, killed

    resumed = box.exec("hostctl", "setup", "--non-interactive")
    assert "applied  agent hostctl-agent.service" in resumed.stdout, resumed.stdout
    assert box.exec("systemctl", "is-active", "hostctl-agent").stdout.strip() == "active"
    assert json.loads(box.read("/etc/docker/daemon.json"))["live-restore"] is True
    final = box.exec("hostctl", "setup", "--non-interactive")
    assert all(line.startswith("ok       ") for line in step_lines(final.stdout)), final.stdout


def test_bad_input_is_one_clear_error_and_changes_nothing(box, set_up):
    assert set_up.returncode == 0
    missing = box.exec(
        "env",
        "CLOUDFLARE_API_TOKEN=cf_not_real",
        "hostctl",
        "setup",
        "--non-interactive",
        check=False,
    )
    assert missing.returncode == 1
    assert "a Cloudflare token was given, but no domain for the apps" in missing.stderr
    assert "--domain or HOSTCTL_DOMAIN" in missing.stderr
    assert "Traceback" not in missing.stderr

    # another system: refused at the first step, before anything is installed
    ubuntu_20 = 'PRETTY_NAME="Ubuntu 20.04.6 LTS"\nID=ubuntu\nVERSION_ID="20.04"\n'
    box.exec("mv", "/etc/os-release", "/etc/os-release.real")
    try:
        box.exec("sh", "-c", "cat > /etc/os-release", input=ubuntu_20)
        refused = box.exec("hostctl", "setup", "--non-interactive", check=False)
    finally:
        box.exec("mv", "-f", "/etc/os-release.real", "/etc/os-release")
    assert refused.returncode == 1
    assert lines(refused.stdout) == ["failed   os Ubuntu 20.04.6 LTS (amd64)"], refused.stdout
    assert "this box runs Ubuntu 20.04.6 LTS (amd64)" in refused.stderr
    assert "hostctl supports Debian 12, 13; Ubuntu 22.04, 24.04" in refused.stderr

    # a full disk where a file goes: the step fails clearly; a run after space is freed
    # picks up there
    box.exec("rm", "/etc/docker/daemon.json")
    box.exec("mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", "/etc/docker")
    try:
        box.exec("sh", "-c", "cat /dev/zero > /etc/docker/filler", check=False)
        full = box.exec("hostctl", "setup", "--non-interactive", check=False)
    finally:
        box.exec("umount", "/etc/docker")
    assert full.returncode == 1
    assert "failed   docker settings /etc/docker/daemon.json" in full.stdout, full.stdout
    assert "No space left on device" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    again = box.exec("hostctl", "setup", "--non-interactive")
    assert "applied  docker settings /etc/docker/daemon.json" in again.stdout


def test_questions_asked_in_a_terminal_from_a_laptop_end_with_the_command(box, set_up, tmp_path):
    """Through `hostctl setup root@BOX` in a terminal: the box's questions appear on the
    laptop, Enter skips one, and the run ends with the same setup as one command."""
    assert set_up.returncode == 0
    key = client_key(tmp_path, "root")
    box.exec("sh", "-c", "cat >> /root/.ssh/authorized_keys", input=Path(f"{key}.pub").read_text())
    argv = [
        *(sys.executable, "-m", "hostctl", "setup", f"root@{box.address}"),
        *("-i", str(key), "--trust-host-key"),
    ]
    answers = [
        (b"Domain for your apps", b"example.com\r"),
        (b"Cloudflare API token", b"\r"),
        (b"Tailscale auth key", b"\r"),
        (b"GitHub token", b"\r"),
        (b"Offsite backup target", b"\r"),
        (b"Turn on the firewall", b"n\r"),
    ]
    status, shown, answers = converse(argv, laptop_env(tmp_path / "home"), answers, 300)
    output = shown.replace("\r\n", "\n")
    assert status == 0, output
    assert answers == [], output
    assert "applied  domain example.com in /etc/hostctl/hostctl.yml" in output
    assert "hostctl setup --non-interactive --domain example.com --no-firewall" in output
    assert "domain: example.com" in box.read("/etc/hostctl/hostctl.yml")


def laptop_key(box: SystemdVps, home: Path) -> Path:
    """A laptop's key that root on the box accepts."""
    key = client_key(home, "root")
    box.exec("sh", "-c", "cat >> /root/.ssh/authorized_keys", input=Path(f"{key}.pub").read_text())
    return key


def laptop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hostctl", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def hello_deployed(box: SystemdVps) -> None:
    if box.exec("hostctl", "apps", "info", "hello", check=False).returncode != 0:
        box.load_image(APP_IMAGE)
        subprocess.run(
            ["docker", "cp", f"{REPO}/examples/hello", f"{box.name}:/tmp/hello"], check=True
        )
        box.exec("hostctl", "apps", "create", "hello")
        box.exec("hostctl", "deploy", "hello", "/tmp/hello")
    wait_for(lambda: served(box), "hello served")


def app_containers(box: SystemdVps, app: str) -> list[str]:
    shown = box.exec("docker", "ps", "-q", "--no-trunc", "--filter", f"label=io.hostctl.app={app}")
    return sorted(shown.stdout.split())


class Poller(threading.Thread):
    """GETs hello's page over and over until stopped; what did not answer 200."""

    def __init__(self, box: SystemdVps) -> None:
        super().__init__(daemon=True)
        self.box, self.stopped, self.polls, self.failures = box, threading.Event(), 0, []

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                status = self.box.get("hello.localhost").status_code
                if status != 200:
                    self.failures.append(status)
            except OSError as exc:
                self.failures.append(repr(exc))
            self.polls += 1
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


def test_upgrade_restarts_the_agent_and_leaves_apps_serving(box, set_up, tmp_path):
    """`hostctl upgrade root@BOX` from a laptop: this hostctl's wheel installed as setup
    installs it (the same version: said so), the agent restarted (a new main PID) and
    healthy, the app's container the same one and serving throughout; the exit status
    is doctor's. Then `hostctl upgrade --wheel` on the box, with doctor failing: exit 1."""
    assert set_up.returncode == 0
    hello_deployed(box)
    containers = app_containers(box, "hello")
    assert containers
    agent = box.main_pid("hostctl-agent")
    home = tmp_path / "home"
    key = laptop_key(box, tmp_path)
    poller = Poller(box)
    poller.start()
    try:
        done = laptop(
            laptop_env(home), "upgrade", f"root@{box.address}", "-i", str(key), "--trust-host-key"
        )
    finally:
        poller.stop()
    output = (done.stdout + done.stderr).replace("\r\n", "\n")
    version = subprocess.run(
        [sys.executable, "-m", "hostctl", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    assert f"hostctl {version} was installed already: the same version, reinstalled" in output
    assert "restarting hostctl-agent.service" in output, output
    assert "the agent is healthy at http://127.0.0.1:8470/health" in output, output
    assert re.search(r"\n\d+ failed, \d+ warnings, \d+ checks\n", output), output
    doctor = box.exec("hostctl", "doctor", check=False)
    assert done.returncode == doctor.returncode, output + doctor.stdout
    assert box.main_pid("hostctl-agent") not in (0, agent)
    assert agent_healthy(box)
    assert app_containers(box, "hello") == containers
    assert poller.polls > 10 and poller.failures == [], poller.failures

    # on the box, the wheel the laptop built; doctor fails (the push user's sudoers rule
    # is gone, which the upgrade leaves alone), and so does the upgrade
    wheel = next((home / "cache" / "wheels").glob("*/hostctl-*.whl"))
    subprocess.run(["docker", "cp", str(wheel), f"{box.name}:/tmp/{wheel.name}"], check=True)
    box.exec("mv", "/etc/sudoers.d/hostctl", "/root/sudoers-hostctl")
    try:
        failed = box.exec("hostctl", "upgrade", "--wheel", f"/tmp/{wheel.name}", check=False)
    finally:
        box.exec("mv", "/root/sudoers-hostctl", "/etc/sudoers.d/hostctl")
    assert "the same version, reinstalled" in failed.stderr, failed.stderr
    # the restart and doctor come from the new hostctl, which pip just put there
    assert "restarting hostctl-agent.service" in failed.stderr, failed.stderr
    assert "FAIL  push user" in failed.stdout, failed.stdout
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert app_containers(box, "hello") == containers
    assert served(box)

    # without --wheel or --from: nothing from the package index (another project's hostctl)
    bare = box.exec("hostctl", "upgrade", check=False)
    assert bare.returncode == 1
    assert "Error: hostctl upgrade needs to be told what to install" in bare.stderr, bare.stderr
    assert "Hint: from a laptop with a clone of hostctl: `hostctl upgrade root@HOST`" in (
        bare.stderr
    )


def test_setup_from_a_laptop_saves_the_host_under_its_tailnet_name(box, set_up, tmp_path):
    """Once the box has recorded its tailnet name, the laptop's saved host for it uses
    that name. The name file is written here as setup's Tailscale step writes it: this
    box has no Tailscale (the step itself is tested with a stand-in in
    tests/unit/test_setup_tailscale.py)."""
    assert set_up.returncode == 0
    assert "tailnet" not in set_up.stderr  # none recorded: the address is kept
    home = tmp_path / "home"
    env = laptop_env(home)
    key = laptop_key(box, tmp_path)
    added = laptop(env, "hosts", "add", "prod", f"root@{box.address}", "-i", str(key))
    assert added.returncode == 0, added.stderr
    record = json.dumps({"name": "vps.tail1234.ts.net.", "ipv4": "100.101.102.103"})
    box.exec(
        "sh",
        "-c",
        "umask 077 && mkdir -p /etc/hostctl && cat > /etc/hostctl/tailnet.json",
        input=record,
    )
    try:
        done = laptop(env, "setup", "prod", "--trust-host-key", "--non-interactive")
    finally:
        box.exec("rm", "/etc/hostctl/tailnet.json")
    assert done.returncode == 0, done.stdout + done.stderr
    said = "saved host prod now uses the box's tailnet name: root@vps.tail1234.ts.net"
    assert said in done.stderr, done.stderr
    hosts = json.loads((home / "config" / "hosts.json").read_text())
    assert hosts == {
        "default": "prod",
        "hosts": {"prod": {"target": "root@vps.tail1234.ts.net", "identity": str(key.resolve())}},
    }


def test_doctor_checks_the_edge_service(box, set_up):
    """hostctl-caddy.service as setup installed it: active and enabled, else a failure
    line with what to do (the agent is stopped first: it would start Caddy again)."""
    assert set_up.returncode == 0

    def edge_service() -> tuple[int, dict[str, str]]:
        done = box.exec("hostctl", "doctor", "--json", check=False)
        checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
        return done.returncode, checks["edge service"]

    code, check = edge_service()
    assert check["status"] == "ok", check
    assert check["detail"] == "hostctl-caddy.service is active and enabled"

    box.exec("systemctl", "disable", "hostctl-caddy")
    try:
        code, check = edge_service()
    finally:
        box.exec("systemctl", "enable", "hostctl-caddy")
    assert code == 1
    assert check["status"] == "fail"
    assert "not enabled: a reboot would not start it" in check["detail"]
    assert check["hint"] == "`systemctl enable hostctl-caddy.service`"

    box.exec("systemctl", "stop", "hostctl-agent", "hostctl-caddy")
    try:
        code, check = edge_service()
    finally:
        box.exec("systemctl", "start", "hostctl-caddy", "hostctl-agent")
    assert code == 1
    assert (check["status"], check["detail"]) == ("fail", "hostctl-caddy.service is not active")
    assert check["hint"].startswith("`systemctl start hostctl-caddy.service`; `journalctl -u")
    assert edge_service()[1]["status"] == "ok"
