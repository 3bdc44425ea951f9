"""git push over SSH to the box: a real sshd, the authorized_keys file hostctl writes
(forced command + restrict), the push repository and its pre-receive hook."""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.agent import AgentProcess
from tests.harness.env import free_port
from tests.harness.hostctl import Hostctl, commit, git, make_repo
from tests.harness.ssh import (
    Sshd,
    client_key,
    forwarded_banner,
    let_through,
    ssh_command,
    start_sshd,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sshd(hostctl: Hostctl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    directory = tmp_path_factory.mktemp("sshd")
    server = start_sshd(directory, hostctl.root / "ssh" / "authorized_keys", free_port())
    yield server
    server.stop()


@pytest.fixture
def pusher(hostctl: Hostctl, tmp_path: Path) -> Iterator[Path]:
    key = client_key(tmp_path)
    hostctl.run("keys", "add", f"{key}.pub")
    yield key
    hostctl.run("keys", "remove", "pusher@laptop", check=False)


def push(repo: Path, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GIT_SSH_COMMAND": ssh_command(key)}
    return subprocess.run(
        ["git", "push", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )


def test_push_deploys_and_a_failed_deploy_refuses_the_push(
    hostctl, sshd, pusher, tmp_path, app_name
):
    listed = json.loads(hostctl.run("keys", "--json").stdout)
    assert [k["name"] for k in listed] == ["pusher@laptop"]
    authorized = hostctl.root / "ssh" / "authorized_keys"
    assert stat.S_IMODE(authorized.stat().st_mode) == 0o600
    line = authorized.read_text().splitlines()[-1]
    assert (
        line.startswith('command="env ') and " -P -m hostctl git-shell --key pusher@laptop" in line
    )
    assert '",restrict ssh-ed25519 ' in line
    hostname = f"{app_name}.push.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    repo = make_repo(tmp_path / "repo", "python")
    git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{app_name}")

    done = push(repo, pusher, "box", "main")
    assert done.returncode == 0, done.stderr + sshd.log()
    assert "remote: -----> Release 1 of" in done.stderr and "is live" in done.stderr
    assert hostctl.get(hostname) == (200, "python v1\n")
    head = git(repo, "rev-parse", "HEAD")
    release = json.loads(hostctl.run("releases", app_name, "--json").stdout)[0]
    assert release["commit"] == head and release["trigger"] == "push:pusher@laptop"

    good = head
    commit(repo, {"VERSION": "broken\n", "Procfile": "web: exit 3\n"})
    refused = push(repo, pusher, "box", "main")
    assert refused.returncode != 0
    assert "the deploy failed, so the push is refused" in refused.stderr
    assert hostctl.get(hostname) == (200, "python v1\n")
    bare = hostctl.root / "git" / f"{app_name}.git"
    assert git(bare, "rev-parse", "refs/heads/main") == good, "the branch did not move"

    git(repo, "checkout", "-q", "-b", "feature")
    other = push(repo, pusher, "box", "feature")
    assert other.returncode == 0 and "not the deploy branch" in other.stderr
    assert len(json.loads(hostctl.run("releases", app_name, "--json").stdout)) == 2
    hostctl.run("apps", "destroy", app_name, "--yes")


def ssh(sshd: Sshd, key: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ssh_command(key).split(), "-p", str(sshd.port), "root@127.0.0.1", *command],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_push_keys_get_git_and_nothing_else(hostctl, sshd, pusher, tmp_path, app_name):
    hostctl.run("apps", "create", app_name)
    refused = {
        "a shell": ssh(sshd, pusher),
        "a command": ssh(sshd, pusher, "cat /etc/shadow"),
        "git on an unknown app": ssh(sshd, pusher, "git-upload-pack 'no-such-app'"),
        "a path outside the repos": ssh(sshd, pusher, "git-receive-pack '../../etc'"),
    }
    assert let_through(refused) == {}
    assert "only takes git pushes" in refused["a shell"].stderr
    assert "is not allowed here" in refused["a command"].stderr
    assert "no app named 'no-such-app'" in refused["git on an unknown app"].stderr
    assert forwarded_banner(pusher, sshd.port, "root@127.0.0.1") == b"", "no forwarding"
    allowed = ssh(sshd, pusher, f"git-upload-pack '{app_name}'")
    assert allowed.stdout == "0000", "git-upload-pack ran: an empty repository's ref list"
    hostctl.run("keys", "remove", "pusher@laptop")
    denied = ssh(sshd, pusher, f"git-upload-pack '{app_name}'")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_with_the_agent_running_the_push_follows_its_job(hostctl, sshd, pusher, tmp_path, app_name):
    agent = AgentProcess(hostctl, free_port(), tmp_path / "agent.log").start()
    try:
        hostname = f"{app_name}.push.test"
        hostctl.run("apps", "create", app_name, "--domain", hostname)
        repo = make_repo(tmp_path / "repo", "python", {"VERSION": "via agent\n"})
        git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{app_name}")
        done = push(repo, pusher, "box", "main")
        assert done.returncode == 0, done.stderr
        assert "remote: -----> Building" in done.stderr, "the job's log is streamed"
        assert hostctl.get(hostname) == (200, "python via agent\n")
    finally:
        assert agent.stop() == 0
    assert f"event=job-finished app={app_name}" in agent.log(), "the agent ran the deploy"
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_push_survives_an_agent_restart_mid_build(hostctl, sshd, pusher, tmp_path, app_name):
    agent = AgentProcess(hostctl, free_port(), tmp_path / "agent.log").start()
    hostname = f"{app_name}.push.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    marker = secrets.token_hex(4)  # an uncached dependency layer: the build takes a while
    repo = make_repo(
        tmp_path / "repo",
        "python",
        {
            "VERSION": f"{marker}\n",
            "requirements.txt": f"flask==3.0.3\ngunicorn==22.0.0\n# {marker}\n",
        },
    )
    git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{app_name}")
    env = os.environ | {"GIT_SSH_COMMAND": ssh_command(pusher)}
    pushing = subprocess.Popen(
        ["git", "push", "box", "main"], cwd=repo, env=env, stderr=subprocess.PIPE, text=True
    )
    logs = hostctl.root / "logs" / app_name
    deadline = time.monotonic() + 300
    while not any("Building" in p.read_text() for p in logs.glob("job-*.log")):
        assert time.monotonic() < deadline and pushing.poll() is None
        time.sleep(0.05)
    assert agent.stop() == 0, agent.log()
    restarted = AgentProcess(hostctl, agent.port, tmp_path / "agent2.log").start()
    try:
        _, stderr = pushing.communicate(timeout=600)
    finally:
        assert restarted.stop() == 0
    assert pushing.returncode == 0, stderr
    assert "Stopped before the swap; the job will run again" in stderr
    assert hostctl.get(hostname) == (200, f"python {marker}\n")
    assert not list((hostctl.root / "spool" / app_name).glob("*.tar")), "the spool is emptied"
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_pusher_who_hangs_up_mid_deploy_does_not_stop_it(
    hostctl, sshd, pusher, tmp_path, app_name
):
    """No agent: the hook runs the deploy itself, and its terminal goes away mid-way."""
    hostname = f"{app_name}.push.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    slow = "web: sleep 3 && exec gunicorn app:app --bind 0.0.0.0:$PORT\n"
    repo = make_repo(tmp_path / "repo", "python", {"VERSION": "hung up\n", "Procfile": slow})
    git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{app_name}")
    client = subprocess.Popen(
        ["git", "push", "box", "main"],
        cwd=repo,
        env=os.environ | {"GIT_SSH_COMMAND": ssh_command(pusher)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # git and its ssh, to hang up both
    )
    assert client.stderr is not None
    for line in client.stderr:
        if "-----> Starting" in line:
            break
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()

    deadline = time.monotonic() + 120
    jobs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        jobs = json.loads(hostctl.run("jobs", app_name, "--json").stdout)
        if jobs and all(j["status"] not in ("queued", "running") for j in jobs):
            break
        time.sleep(0.5)
    assert [j["status"] for j in jobs] == ["done"], jobs
    found = json.loads(hostctl.run("releases", app_name, "--json").stdout)
    assert [(r["number"], r["status"]) for r in found] == [(1, "live")], found
    assert hostctl.get(hostname) == (200, "python hung up\n")
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_key_limited_to_an_app_reaches_no_other(hostctl, sshd, tmp_path, app_name):
    mine, other = app_name, f"{app_name}-b"
    for app in (mine, other):
        hostctl.run("apps", "create", app)
    key = client_key(tmp_path, "limited")
    try:
        added = hostctl.run("keys", "add", f"{key}.pub", "--app", mine)
        assert f"it may push to {mine}" in added.stdout
        listed = {k["name"]: k["apps"] for k in json.loads(hostctl.run("keys", "--json").stdout)}
        assert listed["limited@laptop"] == [mine]
        table = hostctl.run("keys").stdout
        assert "MAY PUSH TO AND FETCH" in table and "limited@laptop" in table
        refused = {
            "fetch another app": ssh(sshd, key, f"git-upload-pack '{other}'"),
            "push to another app": ssh(sshd, key, f"git-receive-pack '{other}'"),
            "an app that does not exist": ssh(sshd, key, "git-upload-pack 'no-such-app'"),
        }
        assert let_through(refused) == {}
        for done in refused.values():  # one answer, whether the app exists or not
            assert "the push key limited@laptop may not push to or fetch" in done.stderr
        repo = make_repo(tmp_path / "repo", "python")
        git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{other}")
        pushed = push(repo, key, "box", "main")
        assert pushed.returncode != 0 and "may not push to or fetch" in pushed.stderr
        assert json.loads(hostctl.run("jobs", other, "--json").stdout) == [], "no deploy ran"
        allowed = ssh(sshd, key, f"git-upload-pack '{mine}'")
        assert allowed.stdout == "0000", "its own app is reachable"
    finally:
        hostctl.run("keys", "remove", "limited@laptop", check=False)
        for app in (mine, other):
            hostctl.run("apps", "destroy", app, "--yes")


@pytest.mark.parametrize("with_agent", [False, True], ids=["no-agent", "agent"])
def test_a_push_returns_once_served_while_the_old_container_drains(
    hostctl, sshd, pusher, tmp_path, app_name, with_agent
):
    agent = AgentProcess(hostctl, free_port(), tmp_path / "agent.log") if with_agent else None
    if agent is not None:
        agent.start()
    try:
        hostname = f"{app_name}.push.test"
        hostctl.run("apps", "create", app_name, "--domain", hostname)
        repo = make_repo(tmp_path / "repo", "python")
        git(repo, "remote", "add", "box", f"ssh://root@127.0.0.1:{sshd.port}/{app_name}")
        assert push(repo, pusher, "box", "main").returncode == 0
        old = app_containers(hostctl, app_name)
        commit(repo, {"VERSION": "v2\n"})
        slow: list[tuple[int, str]] = []
        request = threading.Thread(target=lambda: slow.append(hostctl.get(hostname, "/slow")))
        env = os.environ | {"GIT_SSH_COMMAND": ssh_command(pusher)}
        pushing = subprocess.Popen(
            ["git", "push", "box", "main"], cwd=repo, env=env, stderr=subprocess.PIPE, text=True
        )
        assert pushing.stderr is not None
        for line in pushing.stderr:
            if "Starting web process" in line and not request.is_alive():
                request.start()  # in flight on the old container through the switch
                time.sleep(0.2)
        assert pushing.wait(timeout=60) == 0
        # The push is back: the old container still serves the 2 s request it had.
        assert request.is_alive(), "the push waited for the old container to drain"
        assert [running(name) for name in old] == [True]
        assert hostctl.get(hostname) == (200, "python v2\n")
        request.join(timeout=30)
        assert slow == [(200, "slow v1\n")]
        deadline = time.monotonic() + 30
        while set(old) & set(app_containers(hostctl, app_name)):
            assert time.monotonic() < deadline, "the old container was never stopped"
            time.sleep(0.1)
    finally:
        if agent is not None:
            assert agent.stop() == 0
    hostctl.run("apps", "destroy", app_name, "--yes")


def app_containers(hostctl: Hostctl, app: str) -> list[str]:
    listing = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=io.hostctl.namespace={hostctl.env['HOSTCTL_NAMESPACE']}",
            "--filter",
            f"label=io.hostctl.app={app}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return listing.stdout.split()


def running(name: str) -> bool:
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True
    )
    return state.stdout.strip() == "true"
