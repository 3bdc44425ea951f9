"""app.json as Dokku reads it, on the real engine: predeploy and postdeploy scripts, env
defaults (value, required, generator: secret), unsupported keys as warnings, cron jobs
run by the agent, and `hostctl run`."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hostctl.agent.agent import Agent
from hostctl.settings import Settings
from hostctl.state import Store
from hostctl.state.cron import runs
from tests.harness.hostctl import Hostctl, commit, make_repo

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).parents[1] / "fixtures" / "apps" / "appjson"


def app_json(**changes: object) -> str:
    data = json.loads((FIXTURE / "app.json").read_text())
    data.update(changes)
    return json.dumps(data)


@pytest.fixture
def appjson_app(hostctl: Hostctl, tmp_path: Path, app_name: str) -> Iterator[tuple[str, str, Path]]:
    repo = make_repo(tmp_path / "repo", "appjson")
    hostname = f"{app_name}.appjson.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    yield app_name, hostname, repo
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_scripts_run_around_the_swap_and_a_failing_predeploy_keeps_the_old_release(
    hostctl, appjson_app
):
    app, hostname, repo = appjson_app
    done = hostctl.run("deploy", app, str(repo))
    assert "Warning: app.json: addons: not supported by hostctl" in done.stdout + done.stderr
    assert "formation/web/size: not supported" in done.stdout + done.stderr
    assert hostctl.get(hostname) == (200, "appjson v1\n")
    assert hostctl.get(hostname, "/data/hooks.log") == (200, "pre v1\npost v1\n")

    scripts = {"dokku": {"predeploy": "sh -c 'echo failing $(cat /srv/VERSION); exit 3'"}}
    commit(repo, {"VERSION": "v2\n", "app.json": app_json(scripts=scripts)})
    failed = hostctl.run("deploy", app, str(repo), check=False)
    assert failed.returncode == 1
    assert "the predeploy script failed with exit code 3" in failed.stderr
    assert "failing v2" in failed.stderr  # ran in the new image
    assert hostctl.get(hostname) == (200, "appjson v1\n")
    assert hostctl.get(hostname, "/data/hooks.log") == (200, "pre v1\npost v1\n")

    commit(repo, {"app.json": app_json()})
    hostctl.run("deploy", app, str(repo))
    assert hostctl.get(hostname) == (200, "appjson v2\n")
    assert hostctl.get(hostname, "/data/hooks.log") == (200, "pre v1\npost v1\npre v2\npost v2\n")


def test_env_defaults_required_value_and_a_secret_generated_once(hostctl, appjson_app):
    app, hostname, repo = appjson_app
    env = json.loads((FIXTURE / "app.json").read_text())["env"]
    env["DATABASE_URL"] = {"description": "where the data is", "required": True}
    commit(repo, {"app.json": app_json(env=env)})
    refused = hostctl.run("deploy", app, str(repo), check=False)
    assert refused.returncode == 1
    assert f"app.json requires DATABASE_URL, and {app} has no value for it" in refused.stderr
    assert f"hostctl env set {app} DATABASE_URL" in refused.stderr

    hostctl.run("env", "set", app, "DATABASE_URL=sqlite:////data/db", "GREETING=hi there")
    first = hostctl.run("deploy", app, str(repo))
    assert hostctl.get(hostname, "/env/DATABASE_URL") == (200, "sqlite:////data/db")
    assert hostctl.get(hostname, "/env/GREETING") == (200, "hi there")  # set wins
    status, secret = hostctl.get(hostname, "/env/SECRET_KEY")
    assert status == 200 and re.fullmatch(r"[0-9a-f]{64}", secret)
    assert "Set SECRET_KEY from app.json (a generated secret)" in first.stdout + first.stderr
    assert secret not in first.stdout + first.stderr

    commit(repo, {"VERSION": "v2\n"})
    hostctl.run("deploy", app, str(repo))
    assert hostctl.get(hostname) == (200, "appjson v2\n")
    assert hostctl.get(hostname, "/env/SECRET_KEY") == (200, secret)
    assert secret not in hostctl.run("env", app).stdout
    logs = "".join(p.read_text() for p in (hostctl.root / "logs" / app).glob("*.log"))
    assert secret not in logs

    hostctl.run("env", "unset", app, "GREETING")
    commit(repo, {"VERSION": "v3\n"})
    hostctl.run("deploy", app, str(repo))
    assert hostctl.get(hostname, "/env/GREETING") == (200, "hello")  # the default again


def test_run_has_the_env_and_data_streams_output_and_returns_the_exit_status(hostctl, appjson_app):
    app, _, repo = appjson_app
    never = hostctl.run("run", app, "--", "true", check=False, input="")
    assert never.returncode == 1
    assert "has no live release" in never.stderr
    hostctl.run("deploy", app, str(repo))

    wrote = hostctl.run("run", app, "--", "sh", "-c", "echo kept > /data/note", input="")
    assert wrote.returncode == 0
    done = hostctl.run(
        "run",
        app,
        "--",
        "sh",
        "-c",
        'echo "$GREETING from $(cat /srv/VERSION)"; cat /data/note; echo oops >&2; exit 7',
        check=False,
        input="",
    )
    assert done.returncode == 7
    assert done.stdout == "hello from v1\nkept\n"
    assert "oops" in done.stderr
    piped = hostctl.run("run", app, "--", "wc", "-l", input="one\ntwo\n")
    assert piped.stdout.strip() == "2"
    line = hostctl.run("run", app, "--", "echo $GREETING && echo two words", input="")
    assert line.stdout == "hello\ntwo words\n"

    started = hostctl.run("run", app, "--detach", "--", "sh", "-c", "cat /data/note; sleep 1")
    name = started.stdout.strip()
    for _ in range(100):
        state = docker_inspect(name, "{{.State.Status}}")
        if state == "exited":
            break
        time.sleep(0.1)
    assert state == "exited"
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=True)
    assert logs.stdout == "kept\n"
    assert docker_inspect(name, "{{.HostConfig.RestartPolicy.Name}}") in ("", "no")
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=True)

    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name={hostctl.env['HOSTCTL_NAMESPACE']}-{app}-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout == ""  # attached runs remove their container


def docker_inspect(name: str, template: str) -> str:
    found = subprocess.run(
        ["docker", "inspect", "-f", template, name], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


class MinuteClock:
    """Each reading is a minute after the last: every tick finds `* * * * *` due."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def test_the_agent_runs_cron_jobs_on_schedule_never_twice_at_once(
    hostctl, appjson_app, monkeypatch
):
    app, _, repo = appjson_app
    job = "sh -c 'echo start >> /data/cron.log; sleep 2; echo end >> /data/cron.log; echo done'"
    cron = [{"schedule": "* * * * *", "command": job}, {"schedule": "0 0 1 1 *", "command": "x"}]
    commit(repo, {"app.json": app_json(cron=cron)})
    hostctl.run("deploy", app, str(repo))
    for key, value in hostctl.env.items():
        monkeypatch.setenv(key, value)
    agent = Agent(Settings.from_env(), workers=0)
    agent.clock = MinuteClock()
    agent.cron_seconds = 0.2  # 5 due runs a second: each run takes over 2 seconds
    loop = threading.Thread(target=agent.run_cron)
    loop.start()
    try:
        time.sleep(7)
    finally:
        agent.stopping.set()
        loop.join()
    store = Store(hostctl.root / "state.db")
    deadline = time.monotonic() + 30
    while any(r.exit_code is None for r in runs(store, app)) and time.monotonic() < deadline:
        time.sleep(0.2)
    done = runs(store, app)
    assert 2 <= len(done) <= 4, done
    assert {(r.command, r.exit_code) for r in done} == {(job, 0)}
    spans = sorted((r.started_at, r.finished_at or "") for r in done)
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert finished <= started  # one run at a time
    log = hostctl.run("run", app, "--", "cat", "/data/cron.log", input="").stdout.split()
    assert log == ["start", "end"] * len(done)

    shown = hostctl.run("cron", app).stdout
    assert "* * * * *" in shown and "0 0 1 1 *" in shown
    assert "exit 0" in shown and "never run" in shown
    assert "done" in shown  # the last run's output
