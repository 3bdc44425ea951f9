"""The agent as a real process: signed GitHub-format webhooks deploy from a local git
repository standing in for GitHub (the same fetch code, a file:// URL)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.agent.server import CONNECTIONS_PER_CLIENT, HEADER_SECONDS
from tests.harness.agent import AgentProcess, push_payload, sign, wait_for_jobs
from tests.harness.env import NAMESPACE, free_port, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, commit, git, make_repo

pytestmark = pytest.mark.integration
AGENT_NAMESPACE = f"{NAMESPACE}ag"


@pytest.fixture(scope="module")
def agent_hostctl(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostctl]:
    """A root of its own, so this module's agent never runs other tests' jobs."""
    root = tmp_path_factory.mktemp("agent")
    runner = Hostctl(isolated_env(root, AGENT_NAMESPACE))
    (root / "etc").mkdir()
    port = free_port()
    (root / "etc" / "hostctl.yml").write_text(f"agent:\n  listen: 127.0.0.1:{port}\n")
    yield runner
    stop_caddy(root)
    remove_labelled(AGENT_NAMESPACE)


@pytest.fixture
def agent_port(agent_hostctl: Hostctl) -> int:
    """The port hostctl.yml gives the agent (webhook URLs are built from it)."""
    text = (Path(agent_hostctl.env["HOSTCTL_ETC"]) / "hostctl.yml").read_text()
    return int(text.rsplit(":", 1)[1])


@pytest.fixture
def agent(agent_hostctl: Hostctl, agent_port: int, tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(agent_hostctl, agent_port, tmp_path / "agent.log").start()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture
def repo_app(agent_hostctl: Hostctl, tmp_path: Path, app_name: str) -> Iterator[tuple[str, Path]]:
    repo = make_repo(tmp_path / "repo", "python")
    agent_hostctl.run(
        "apps", "create", app_name, "--domain", f"{app_name}.agent.test", "--repo", f"file://{repo}"
    )
    yield app_name, repo
    agent_hostctl.run("apps", "destroy", app_name, "--yes")


def app_info(hostctl: Hostctl, app: str, *flags: str) -> dict[str, object]:
    return dict(json.loads(hostctl.run("apps", "info", app, "--json", *flags).stdout))


def releases(hostctl: Hostctl, app: str) -> list[dict[str, object]]:
    return list(json.loads(hostctl.run("releases", app, "--json").stdout))


def test_a_signed_push_deploys_the_pushed_commit(agent_hostctl, agent, repo_app):
    app, repo = repo_app
    masked = app_info(agent_hostctl, app)
    info = app_info(agent_hostctl, app, "--show-secrets")
    assert masked["webhook_secret"] == "********"
    secret = str(info["webhook_secret"])
    assert (
        len(secret) >= 32
        and info["webhook_url"] == f"http://127.0.0.1:{agent.port}/hooks/github/{app}"
    )
    sha = commit(repo, {"VERSION": "v2\n"})
    path = "/hooks/github/" + app
    assert str(info["webhook_url"]).endswith(path)
    assert agent.deliver(app, {"zen": "hi", "hook_id": 1}, secret, event="ping") == (
        200,
        {"status": "pong"},
    )
    started = time.monotonic()
    status, body = agent.deliver(app, push_payload(sha), secret)
    answered = time.monotonic() - started
    assert status == 202 and body["status"] == "queued", body
    assert answered < 5, "the answer does not wait for the build"
    jobs = wait_for_jobs(agent_hostctl, app)
    assert [(j["status"], j["ref"]) for j in jobs] == [("done", sha)], jobs
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python v2\n")
    made = releases(agent_hostctl, app)
    assert [(r["number"], r["commit"], r["status"]) for r in made] == [(1, sha, "live")]
    assert str(made[0]["trigger"]).startswith("webhook:")
    listed = json.loads(agent_hostctl.run("jobs", app, "--json").stdout)
    assert listed[0]["id"] == body["job"] and listed[0]["ran_seconds"] > 0
    log = agent.log()
    assert f"event=job-finished app={app} job={body['job']} release=1 status=done" in log
    assert secret not in log


def test_bad_deliveries_deploy_nothing(agent_hostctl, agent, repo_app):
    app, repo = repo_app
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    sha = commit(repo, {"VERSION": "v2\n"})
    good = push_payload(sha)
    body = json.dumps(good).encode()
    delivery = "11111111-2222-3333-4444-555555555555"
    cases = [
        ("forged signature", agent.deliver(app, good, None, signature=sign("wrong", body)), 401),
        ("missing signature", agent.deliver(app, good, None), 401),
        (
            "signature of another body",
            agent.deliver(app, b'{"ref": 1}', None, signature=sign(secret, body)),
            401,
        ),
        ("other branch", agent.deliver(app, push_payload(sha, branch="dev"), secret), 200),
        ("tag", agent.deliver(app, {**good, "ref": "refs/tags/v1"}, secret), 200),
        (
            "deleted ref",
            agent.deliver(app, {**good, "deleted": True, "after": "0" * 40}, secret),
            200,
        ),
        ("malformed JSON", agent.deliver(app, b'{"ref": ', secret), 400),
        ("not an object", agent.deliver(app, b"[1, 2]", secret), 400),
        ("bad commit id", agent.deliver(app, push_payload("not-a-sha"), secret), 400),
        ("oversized body", agent.oversized(app, 6 * 1024 * 1024), 413),
        ("unknown app", agent.deliver("no-such-app", good, secret), 401),
        ("other event", agent.deliver(app, {"action": "opened"}, secret, event="issues"), 200),
    ]
    wrong = [(name, got) for name, got, expected in cases if got[0] != expected]
    assert wrong == [], wrong
    assert wait_for_jobs(agent_hostctl, app, count=0) == []
    first = agent.deliver(app, good, secret, delivery=delivery)
    replay = agent.deliver(app, good, secret, delivery=delivery)
    assert first[0] == 202 and replay == (200, {"status": "duplicate"})
    jobs = wait_for_jobs(agent_hostctl, app)
    assert [j["ref"] for j in jobs] == [sha], "the replay queued nothing"
    assert "outcome='refused: bad signature'" in agent.log()


def test_get_on_a_hook_and_the_rest_of_the_api(agent):
    assert agent.request("GET", "/hooks/github/x")[0] == 405
    assert agent.request("GET", "/nope")[0] == 404
    status, health = agent.request("GET", "/")
    assert status == 200 and health["healthy"] is True and health["workers"] == 2


def test_serving_elsewhere_than_the_routed_address_is_warned_about(
    agent_hostctl, agent, agent_port, tmp_path
):
    assert "event=webhooks-elsewhere" not in agent.log()
    other = AgentProcess(agent_hostctl, free_port(), tmp_path / "other.log")
    agent.stop()  # one agent per box
    other.start()
    assert other.stop() == 0
    assert f"WARNING event=webhooks-elsewhere routed=127.0.0.1:{agent_port}" in other.log()
    agent.start()


def test_five_quick_pushes_build_at_most_twice_and_the_last_is_live(agent_hostctl, agent, repo_app):
    app, repo = repo_app
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    shas = [commit(repo, {"VERSION": f"v{n}\n"}) for n in range(2, 7)]
    for sha in shas:
        assert agent.deliver(app, push_payload(sha), secret)[0] == 202
    jobs = wait_for_jobs(agent_hostctl, app, count=5)
    # A job whose commit is no longer the branch's head by the time it runs is skipped.
    built = [j for j in jobs if j["status"] not in ("superseded", "skipped")]
    assert len(built) <= 2 and built[-1]["ref"] == shas[-1], jobs
    assert all(j["status"] == "done" for j in built), jobs
    assert all(j["superseded_by"] for j in jobs if j["status"] == "superseded")
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python v6\n")
    assert len(releases(agent_hostctl, app)) == len(built)


def test_the_cli_deploys_through_the_running_agent(agent_hostctl, agent, repo_app):
    app, repo = repo_app
    commit(repo, {"VERSION": "cli\n"})
    done = agent_hostctl.run("deploy", app)
    assert "Release 1 of" in done.stdout and f"Deployed {app} release 1" in done.stdout
    assert f"event=job-started app={app}" in agent.log(), "the agent ran it, not the CLI"
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python cli\n")


def test_a_killed_agent_recovers_its_job_and_leaves_no_orphans(
    agent_hostctl, agent_port, repo_app, tmp_path
):
    app, repo = repo_app
    first = AgentProcess(agent_hostctl, agent_port, tmp_path / "a1.log").start()
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    slow = "web: sleep 3 && exec gunicorn app:app --bind 0.0.0.0:$PORT\n"
    sha = commit(repo, {"VERSION": "after crash\n", "Procfile": slow})
    assert first.deliver(app, push_payload(sha), secret)[0] == 202
    deadline = time.monotonic() + 300
    while "Starting" not in job_log_text(agent_hostctl, app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    second = AgentProcess(agent_hostctl, agent_port, tmp_path / "a2.log").start()
    try:
        jobs = wait_for_jobs(agent_hostctl, app)
    finally:
        assert second.stop() == 0
    assert [(j["status"], j["attempts"]) for j in jobs] == [("done", 2)], jobs
    assert "cut short" in second.log()
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python after crash\n")
    made = {r["number"]: r["status"] for r in releases(agent_hostctl, app)}
    assert made == {1: "failed", 2: "live"}, made
    labelled = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.hostctl.app={app}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(labelled) == 1, f"orphans: {labelled}"


def job_log_text(hostctl: Hostctl, app: str) -> str:
    logs = hostctl.root / "logs" / app
    return "".join(p.read_text() for p in logs.glob("job-*.log")) if logs.is_dir() else ""


def test_sigterm_mid_build_requeues_the_job_and_it_runs_after_restart(
    agent_hostctl, agent_port, repo_app, tmp_path
):
    app, repo = repo_app
    first = AgentProcess(agent_hostctl, agent_port, tmp_path / "a1.log").start()
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    marker = secrets.token_hex(4)  # also in requirements.txt: no cached layer, a real build
    sha = commit(
        repo,
        {
            "VERSION": f"{marker}\n",
            "requirements.txt": f"flask==3.0.3\ngunicorn==22.0.0\n# {marker}\n",
        },
    )
    assert first.deliver(app, push_payload(sha), secret)[0] == 202
    deadline = time.monotonic() + 300
    while "Building" not in job_log_text(agent_hostctl, app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.stop(signal.SIGTERM) == 0, first.log()
    assert "event=stopping signal=SIGTERM" in first.log()
    second = AgentProcess(agent_hostctl, agent_port, tmp_path / "a2.log").start()
    try:
        jobs = wait_for_jobs(agent_hostctl, app)
    finally:
        assert second.stop() == 0
    assert [j["status"] for j in jobs] == ["done"], jobs
    made = {r["number"]: (r["status"], r["error"]) for r in releases(agent_hostctl, app)}
    assert made[1][0] == "failed" and "stopping" in str(made[1][1]), made
    assert made[2] == ("live", None), made
    assert "Stopped before the swap" in job_log_text(agent_hostctl, app)
    assert agent_hostctl.get(f"{app}.agent.test") == (200, f"python {marker}\n")


IGNORES_SIGTERM = """\
import http.server, os, signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL, after stop_timeout, ends it
VERSION = open("VERSION").read().strip()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(f"python {VERSION}\\n".encode())


http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


def release_containers(app: str, release: int) -> list[str]:
    labels = [f"label=io.hostctl.app={app}", f"label=io.hostctl.release={release}"]
    listing = ["docker", "ps", "-aq", *(part for label in labels for part in ("--filter", label))]
    return subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()


def test_a_slow_stopping_old_release_delays_neither_the_job_nor_the_next_push(
    agent_hostctl, agent, repo_app
):
    app, repo = repo_app
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    grace = 25
    config = f"processes:\n  web: python slow_stop.py\nstop_timeout: {grace}\n"
    files = {"slow_stop.py": IGNORES_SIGTERM, "hostctl.yml": config, "VERSION": "v1\n"}
    assert agent.deliver(app, push_payload(commit(repo, files)), secret)[0] == 202
    assert [j["status"] for j in wait_for_jobs(agent_hostctl, app)] == ["done"]

    assert agent.deliver(app, push_payload(commit(repo, {"VERSION": "v2\n"})), secret)[0] == 202
    wait_for_jobs(agent_hostctl, app, count=2)
    retired = time.monotonic()  # release 1 got SIGTERM about now, and ignores it
    assert release_containers(app, 1), "job 2 was done while release 1 was still stopping"
    assert agent.deliver(app, push_payload(commit(repo, {"VERSION": "v3\n"})), secret)[0] == 202
    jobs = wait_for_jobs(agent_hostctl, app, count=3)
    assert [j["status"] for j in jobs] == ["done"] * 3, jobs
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python v3\n")
    assert release_containers(app, 1), "release 3 went live while release 1 was still stopping"
    agent_hostctl.run("ps", app)  # reconcile runs: it must leave retiring containers alone

    deadline = time.monotonic() + 3 * grace
    while release_containers(app, 1) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not release_containers(app, 1)
    assert time.monotonic() - retired >= grace - 5, "release 1 was killed before its grace"
    while release_containers(app, 2) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not release_containers(app, 2) and len(release_containers(app, 3)) == 1


def test_a_replayed_old_push_never_rolls_back_but_a_force_push_back_does(
    agent_hostctl, agent, repo_app
):
    app, repo = repo_app
    secret = str(app_info(agent_hostctl, app, "--show-secrets")["webhook_secret"])
    old = commit(repo, {"VERSION": "old\n"})
    old_body = json.dumps(push_payload(old)).encode()
    assert agent.deliver(app, old_body, secret)[0] == 202
    wait_for_jobs(agent_hostctl, app, count=1)
    new = commit(repo, {"VERSION": "new\n"})
    assert agent.deliver(app, push_payload(new, before=old), secret)[0] == 202
    wait_for_jobs(agent_hostctl, app, count=2)
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python new\n")

    # The delivery id is not signed: the same body under a new id is the same delivery.
    assert agent.deliver(app, old_body, secret) == (200, {"status": "duplicate"})
    # A signed payload of the old commit never seen before (say, captured on its way):
    # it is queued, but the job finds that the commit is not main's head any more.
    captured = push_payload(old, compare="https://example.com/captured")
    status, answer = agent.deliver(app, captured, secret)
    assert status == 202, answer
    jobs = wait_for_jobs(agent_hostctl, app, count=3)
    assert jobs[-1]["status"] == "skipped", jobs[-1]
    assert f"{old[:10]} is no longer the head of main" in jobs[-1]["error"]
    assert f"it is {new[:10]} now" in jobs[-1]["error"]
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python new\n")

    git(repo, "reset", "--quiet", "--hard", old)  # a force-push back: old is the head again
    assert agent.deliver(app, push_payload(old, before=new, forced=True), secret)[0] == 202
    jobs = wait_for_jobs(agent_hostctl, app, count=4)
    assert jobs[-1]["status"] == "done", jobs[-1]
    assert agent_hostctl.get(f"{app}.agent.test") == (200, "python old\n")
    assert [r["commit"] for r in releases(agent_hostctl, app)] == [old, new, old]


def test_an_unknown_app_is_answered_like_a_bad_signature(agent_hostctl, agent, repo_app):
    app, _ = repo_app
    payload = push_payload("a" * 40)
    bad_signature = agent.deliver(app, payload, "not-the-secret")
    unknown_app = agent.deliver("no-such-app", payload, "not-the-secret")
    not_a_name = agent.deliver("Not_A_Name", payload, "not-the-secret")
    assert bad_signature[0] == 401
    assert unknown_app == bad_signature and not_a_name == bad_signature


def slow_client(port: int) -> socket.socket:
    """A client on another loopback address that sends half a request's headers."""
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind(("127.0.0.2", 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"POST /hooks/github/app HTTP/1.1\r\nHost: agent\r\n")
    return sock


def hung_up(sock: socket.socket) -> bool:
    """Has the agent closed this connection (after a refusal, or without a word)?"""
    if not select.select([sock], [], [], 0)[0]:
        return False
    with contextlib.suppress(OSError):
        while sock.recv(4096):
            pass
    return True


def test_slow_clients_cannot_starve_the_agent(agent):
    slow: list[socket.socket] = []
    try:
        for _ in range(100):
            slow.append(slow_client(agent.port))
        started = time.monotonic()
        assert agent.request("GET", "/health")[0] == 200
        assert time.monotonic() - started < 2, "/health kept answering at once"

        time.sleep(0.5)
        still_open = [s for s in slow if not hung_up(s)]
        assert len(still_open) == CONNECTIONS_PER_CLIENT, "one client holds at most the cap"
        deadline = started + HEADER_SECONDS + 3
        while still_open and time.monotonic() < deadline:
            for sock in still_open:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")  # trickling headers does not extend the deadline
            time.sleep(0.5)
            still_open = [s for s in still_open if not hung_up(s)]
        assert still_open == [], "headers that never end are cut off"
    finally:
        for sock in slow:
            sock.close()
    with socket.create_connection(("127.0.0.1", agent.port), 5, ("127.0.0.2", 0)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200"), "the client may connect again"
    assert "event=http-refused client=127.0.0.2 reason='slow headers'" in agent.log()


def test_the_edge_is_not_capped_like_one_client(agent):
    """Deliveries through the tunnel all come from the edge (127.0.0.1): a cap on it would
    let a few slow senders on the internet lock out GitHub's deliveries."""
    from_edge = [socket.create_connection(("127.0.0.1", agent.port), 5) for _ in range(30)]
    try:
        for sock in from_edge:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # headers not finished yet
        time.sleep(0.5)
        assert not any(hung_up(s) for s in from_edge), "the edge was capped as one client"
        assert agent.request("GET", "/health")[0] == 200
    finally:
        for sock in from_edge:
            sock.close()


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def test_the_tailnet_address_is_bound_only_when_hostctl_yml_asks(
    agent_hostctl, agent_port, tmp_path
):
    # Tailscale cannot be installed here: a stand-in `tailscale` reports 127.0.0.2 as
    # the box's tailnet address (loopback, so the agent can bind it).
    stand_in = tmp_path / "bin" / "tailscale"
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\n[ "$1 $2" = "ip -4" ] && echo 127.0.0.2\n')
    stand_in.chmod(0o755)
    runner = Hostctl(agent_hostctl.env | {"PATH": f"{stand_in.parent}:{os.environ['PATH']}"})
    config = Path(agent_hostctl.env["HOSTCTL_ETC"]) / "hostctl.yml"
    original = config.read_text()
    try:
        for asked, bound in ((False, False), (True, True)):
            config.write_text(original + ("  tailnet: true\n" if asked else ""))
            agent = AgentProcess(runner, agent_port, tmp_path / f"{asked}.log", listen_flag=False)
            agent.start()
            try:
                assert answers("127.0.0.1", agent_port)
                assert answers("127.0.0.2", agent_port) == bound, (asked, agent.log())
            finally:
                assert agent.stop() == 0
    finally:
        config.write_text(original)


def test_a_container_back_with_another_address_is_routed_at_once(agent_hostctl, agent, repo_app):
    app, _ = repo_app
    agent_hostctl.run("deploy", app)
    hostname = f"{app}.agent.test"
    filters = [f"label=io.hostctl.app={app}", "label=io.hostctl.process=web"]
    web = docker("ps", "-q", *(part for label in filters for part in ("--filter", label)))
    (network,) = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", web))
    old = address(web, network)
    docker("stop", web)
    fillers: list[str] = []
    try:
        while not fillers or address(fillers[-1], network) != old:  # take the old address
            assert len(fillers) < 5, "no stand-in container got the old address"
            fillers.append(
                docker(
                    "run",
                    "-d",
                    "--label",
                    f"io.hostctl.namespace={AGENT_NAMESPACE}",
                    "--network",
                    network,
                    "python:3.11-slim-bookworm",
                    "python3",
                    "-m",
                    "http.server",
                    "5000",
                )
            )
        docker("start", web)
        assert address(web, network) != old
        deadline = time.monotonic() + 5  # no reconcile runs that soon
        while agent_hostctl.get(hostname, timeout=2) != (200, "python v1\n"):
            assert time.monotonic() < deadline, "the edge still sends traffic to the old address"
            time.sleep(0.1)
    finally:
        for filler in fillers:
            docker("rm", "-f", filler)


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def address(container: str, network: str) -> str:
    settings = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)
    return str(json.loads(settings)[network]["IPAddress"])
