"""`hostctl doctor` and `status` through the real CLI, on a box set up for real: Docker,
Caddy, a deployed app with a backup and a restore drill, the agent as a process, and the
Cloudflare and GitHub doubles. Each failing case breaks one layer and expects its line,
its hint and exit 1; doctor itself must change nothing.

cloudflared's image cannot be pulled here, so its container is a stand-in: the app's own
image sleeping under the connector's name and labels (what doctor looks at).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from hostctl.cloudflare.connect import IMAGE
from hostctl.doctor import is_public
from tests.doubles.cloudflare import TOKEN as CF_TOKEN
from tests.doubles.cloudflare import CloudflareDouble
from tests.doubles.github import TOKEN as GH_TOKEN
from tests.doubles.github import GitHubDouble
from tests.harness.agent import AgentProcess
from tests.harness.env import NAMESPACE, free_port, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, make_repo

pytestmark = pytest.mark.integration
DOCTOR_NAMESPACE = f"{NAMESPACE}dr"
NOT_SET_UP_HERE = {"agent service", "push user", "tailscale"}  # no systemd, user, tailscale


@dataclass
class Box:
    hostctl: Hostctl
    cloudflare: CloudflareDouble
    github: GitHubDouble
    zone: str
    tunnel: str
    app: str
    agent_port: int

    @property
    def hostname(self) -> str:
        return f"{self.app}.example.com"

    def doctor(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.hostctl.run("doctor", "--json", *args, check=False)
        return done.returncode, json.loads(done.stdout)

    def web_container(self) -> str:
        found = json.loads(self.hostctl.run("status", "--json").stdout)
        (app,) = found["apps"]
        return str(app["container"])


def lines(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


@pytest.fixture(scope="module")
def box(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    root = tmp_path_factory.mktemp("doctor")
    cloudflare = CloudflareDouble().start()
    github = GitHubDouble().start()
    hostctl = Hostctl(
        isolated_env(root, DOCTOR_NAMESPACE) | {"CLOUDFLARE_BASE_URL": cloudflare.url}
    )
    port = free_port()
    (root / "etc").mkdir()
    (root / "etc" / "hostctl.yml").write_text(
        f"domain: example.com\nagent:\n  listen: 127.0.0.1:{port}\n"
    )
    try:
        zone = cloudflare.add_zone("example.com")
        hostctl.run("cloudflare", "connect", "--token", CF_TOKEN, "--domain", "example.com")
        (tunnel,) = cloudflare.live_tunnels()
        tunnel["status"] = "healthy"  # as Cloudflare reports a tunnel cloudflared serves
        hostctl.run("github", "connect", "--token", GH_TOKEN, "--api-url", github.url)
        app = "doc"
        repo = make_repo(root / "repo", "python")
        hostctl.run("apps", "create", app, "--domain", f"{app}.example.com")
        hostctl.run("deploy", app, str(repo))
        hostctl.run("backup", app)
        hostctl.run("backup", "verify", app)
        connector = f"{DOCTOR_NAMESPACE}-cloudflared"
        if subprocess.run(["docker", "inspect", connector], capture_output=True).returncode:
            subprocess.run(
                [
                    *("docker", "run", "-d", "--name", connector, "--network", DOCTOR_NAMESPACE),
                    *("--label", f"io.hostctl.namespace={DOCTOR_NAMESPACE}"),
                    *("--label", f"io.hostctl.tunnel={tunnel['id']}"),
                    *("--label", f"io.hostctl.standin-for={IMAGE}"),
                    *("--entrypoint", "sleep", f"{DOCTOR_NAMESPACE}/{app}:1", "infinity"),
                ],
                capture_output=True,
                check=True,
            )
        yield Box(hostctl, cloudflare, github, zone, str(tunnel["id"]), app, port)
    finally:
        stop_caddy(root)
        remove_labelled(DOCTOR_NAMESPACE)
        cloudflare.stop()
        github.stop()


@pytest.fixture
def agent(box: Box, tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(box.hostctl, box.agent_port, tmp_path / "agent.log").start()
    yield process
    assert process.stop() == 0, process.log()


def public_ports_by_ss() -> set[int]:
    """Public listeners as `ss` sees them, to hold the /proc parser to another reader."""
    found = set()
    listing = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True)
    for row in listing.stdout.splitlines():
        host, _, port = row.split()[3].rpartition(":")
        host = host.strip("[]").split("%")[0]
        address = ip_address("::" if host == "*" else host)
        if is_public(address):
            found.add(int(port))
    return found


def test_everything_set_up_is_ok(box: Box, agent: AgentProcess) -> None:
    before = len(box.cloudflare.log), len(box.github.requests)
    listening = public_ports_by_ss()
    code, report = box.doctor()
    listening_after = public_ports_by_ss()
    found = lines(report)
    assert list(found) == [
        "agent",
        "agent service",
        "docker",
        "edge",
        "edge service",  # no systemd here: ok, hostctl starts Caddy itself
        "disk",
        "push user",
        "tailscale",
        "cloudflare tunnel",
        "cloudflared",
        f"cloudflare {box.hostname}",
        "cloudflare hooks.example.com",
        "github",
        "firewall",
        f"app {box.app}",
        f"backups {box.app}",
    ]
    for name, check in found.items():
        if name in NOT_SET_UP_HERE:
            assert check["status"] == "warn" and check["hint"], check
        elif name != "firewall":
            assert check["status"] == "ok", check
            assert check["hint"] is None
    assert found["agent"]["detail"].startswith(f"healthy at 127.0.0.1:{box.agent_port}: 2 workers")
    assert found[f"app {box.app}"]["detail"] == "release 1 live, web running, / answered 200"
    assert "last restore drill passed" in found[f"backups {box.app}"]["detail"]
    assert "hostctl's images: 1," in found["disk"]["detail"]
    assert "token github_pat_******** valid, as " in found["github"]["detail"]
    # Other tests on this shared machine come and go with public listeners: every one
    # there before and after is named, nothing else is, and the edge port is allowed.
    firewall = found["firewall"]
    named = set()
    if firewall["status"] == "fail":
        named = {int(p) for p in firewall["detail"].split(": port ")[1].split(", ")}
    allowed = {box.hostctl.port, 22}
    assert (listening & listening_after) - allowed <= named <= (listening | listening_after)
    assert box.hostctl.port not in named
    assert firewall["status"] == ("fail" if named else "ok"), firewall
    assert code == (1 if named else 0)
    assert report["ok"] is (not named)
    # Only reads reached Cloudflare and GitHub.
    assert {method for method, _, _ in box.cloudflare.log[before[0] :]} == {"GET"}
    assert {r.method for r in box.github.requests[before[1] :]} == {"GET"}

    text = box.hostctl.run("doctor", check=False)
    assert text.returncode == code
    assert f"ok    app {box.app}" in text.stdout
    assert "hint: install Tailscale" in text.stdout

    status = json.loads(box.hostctl.run("status", "--json").stdout)
    assert status["agent"] | {"workers": 2} == {
        "address": f"127.0.0.1:{box.agent_port}",
        "lock_held": True,
        "answered": True,
        "healthy": True,
        "workers": 2,
        "queued": 0,
        "running": 0,
        "error": None,
    }
    (app,) = status["apps"]
    assert app["name"] == box.app and app["release"] == 1
    assert app["container_status"] == "running" and app["healthy"] is True
    assert app["last_deploy"]["release"] == 1 and app["last_deploy"]["status"] == "live"
    assert app["health"] == "/ answered 200"
    shown = box.hostctl.run("status").stdout
    assert "Agent: healthy" in shown and box.app in shown and "1 live" in shown


def snapshot(box: Box) -> dict[str, Any]:
    """What doctor must leave as it found it."""
    database = box.hostctl.root / "state.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        dump = "\n".join(db.iterdump())
    caddy = box.hostctl.root / "caddy" / "admin.sock"
    config = subprocess.run(
        ["curl", "-s", "--unix-socket", str(caddy), "http://localhost/config/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    containers = subprocess.run(
        [
            *("docker", "ps", "-a", "--format", "{{.Names}} {{.State}}"),
            *("--filter", f"label=io.hostctl.namespace={DOCTOR_NAMESPACE}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        "database": hashlib.sha256(dump.encode()).hexdigest(),
        "database_mtime": database.stat().st_mtime_ns,
        "caddy": json.loads(config),
        "containers": sorted(containers.splitlines()),
        "dns": box.cloudflare.dns(box.zone),
        "ingress": box.cloudflare.ingress(box.tunnel),
        "hooks": {name: list(repo.hooks) for name, repo in box.github.repos.items()},
    }


def test_the_agent_not_running_fails_with_a_hint(box: Box) -> None:
    before = snapshot(box)
    code, report = box.doctor()
    agent = lines(report)["agent"]
    assert code == 1 and report["ok"] is False
    assert agent["status"] == "fail"
    assert agent["detail"].startswith(
        f"not running (nothing answers at 127.0.0.1:{box.agent_port})"
    )
    assert "systemctl start hostctl-agent.service" in agent["hint"]
    text = box.hostctl.run("doctor", check=False)
    assert text.returncode == 1
    assert "FAIL  agent " in text.stdout and "hint: start it:" in text.stdout
    status = json.loads(box.hostctl.run("status", "--json").stdout)
    assert status["agent"]["answered"] is False and status["agent"]["lock_held"] is False
    assert snapshot(box) == before, "doctor and status change nothing"


def test_another_listener_on_the_edge_port_fails_the_edge_line(box: Box) -> None:
    # As Caddy binds it: a reused port, where the kernel shares connections among all.
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as rival:
        rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        rival.bind(("::", box.hostctl.port))
        rival.listen()
        code, report = box.doctor()
        edge = lines(report)["edge"]
        assert code == 1 and edge["status"] == "fail", edge
        assert f"pid {os.getpid()} (" in edge["detail"], edge
        assert f"edge port {box.hostctl.port} is also listened on" in edge["detail"]
        assert "http_port" in edge["hint"]
    assert lines(box.doctor()[1])["edge"]["status"] == "ok"


def test_a_removed_web_container_is_reported_not_repaired(box: Box) -> None:
    container = box.web_container()
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=True)
    try:
        before = snapshot(box)
        code, report = box.doctor(box.app)
        assert code == 1
        names = list(lines(report))
        assert f"app {box.app}" in names and "cloudflare hooks.example.com" not in names
        app = lines(report)[f"app {box.app}"]
        assert app["status"] == "fail"
        assert app["detail"] == (
            f"release 1 should serve it, but its web container {container} is gone"
        )
        assert f"hostctl ps {box.app}" in app["hint"]
        status = json.loads(box.hostctl.run("status", "--json").stdout)
        assert status["apps"][0]["container_status"] == "gone"
        assert status["apps"][0]["healthy"] is None
        assert snapshot(box) == before, "doctor did not start the container again"
    finally:
        box.hostctl.run("ps", box.app)  # reconcile starts it again for the next tests
    assert lines(box.doctor(box.app)[1])[f"app {box.app}"]["status"] == "ok"


def test_a_deleted_cname_is_named_with_what_brings_it_back(box: Box) -> None:
    records = box.cloudflare.records[box.zone]
    (record,) = [r for r in records if r["name"] == box.hostname]
    records.remove(record)
    ingress = box.cloudflare.ingress(box.tunnel)
    try:
        before = snapshot(box)
        code, report = box.doctor()
        line = lines(report)[f"cloudflare {box.hostname}"]
        assert code == 1
        assert line["status"] == "fail"
        assert line["detail"] == f"no DNS CNAME → {box.tunnel}.cfargotunnel.com"
        # Without the record, sync takes the remaining rule for someone else's.
        assert f"remove the tunnel's ingress rule for {box.hostname}" in line["hint"]
        assert lines(report)["cloudflare hooks.example.com"]["status"] == "ok"
        assert snapshot(box) == before, "doctor did not put the record back"

        box.cloudflare.set_ingress(
            box.tunnel, [r for r in ingress if r.get("hostname") != box.hostname]
        )
        line = lines(box.doctor()[1])[f"cloudflare {box.hostname}"]
        assert line["status"] == "fail"
        assert line["detail"] == (f"no DNS CNAME → {box.tunnel}.cfargotunnel.com; no ingress rule")
        assert line["hint"] == "`hostctl cloudflare sync` puts hostctl's record and rule back"
    finally:
        box.hostctl.run("cloudflare", "sync")
    assert lines(box.doctor()[1])[f"cloudflare {box.hostname}"]["status"] == "ok"
    assert box.cloudflare.ingress(box.tunnel) == ingress


def test_a_refused_github_token_fails(box: Box) -> None:
    permissions = box.github.tokens.pop(GH_TOKEN)
    try:
        code, report = box.doctor()
        line = lines(report)["github"]
        assert code == 1
        assert line["status"] == "fail"
        assert "GitHub refuses the saved token (github_pat_********)" in line["detail"]
        assert "hostctl github connect --token TOKEN" in line["hint"]
        assert GH_TOKEN not in json.dumps(report)
    finally:
        box.github.tokens[GH_TOKEN] = permissions
    assert lines(box.doctor()[1])["github"]["status"] == "ok"


def test_an_unknown_app_is_an_error(box: Box) -> None:
    done = box.hostctl.run("doctor", "nosuchapp", check=False)
    assert done.returncode == 1
    assert "no app named 'nosuchapp'" in done.stderr and "Traceback" not in done.stderr
