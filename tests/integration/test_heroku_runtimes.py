"""Repositories written for Heroku deploy unchanged: the runtime version they declare, Go
binaries named as Go names them, and a web health check that explains itself."""

import json

import pytest

from tests.harness.hostctl import commit, make_repo

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("fixture", "expected", "bad_file", "bad_text", "named"),
    [
        ("python-version", "python 3.11.", ".python-version", "3.99\n", ".python-version"),
        (
            "node-version",
            "node 18.",
            "package.json",
            json.dumps({"name": "a", "engines": {"node": ">=99"}}),
            "package.json (engines.node) asks for Node >=99",
        ),
    ],
)
def test_the_declared_runtime_version_is_built_and_a_bad_one_is_refused(
    hostctl, tmp_path, app_name, fixture, expected, bad_file, bad_text, named
):
    repo = make_repo(tmp_path / fixture, fixture)
    hostname = f"{app_name}.runtimes.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    hostctl.run("deploy", app_name, str(repo))
    status, body = hostctl.get(hostname)
    assert status == 200 and body.startswith(expected), body

    commit(repo, {bad_file: bad_text})
    done = hostctl.run("deploy", app_name, str(repo), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert named in done.stderr, done.stderr
    assert hostctl.get(hostname) == (status, body), "the running release keeps serving"
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_go_app_runs_its_binary_by_the_name_go_gives_it(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "go-cmd", "go-cmd")  # cmd/web, cmd/hello; Procfile `web: web`
    hostname = f"{app_name}.runtimes.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    hostctl.run("deploy", app_name, str(repo))
    assert hostctl.get(hostname) == (200, "go binary web\n")
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_web_process_on_another_port_is_named_with_the_fix(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "wrong-port", "wrong-port")  # listens on 8080, no EXPOSE
    hostname = f"{app_name}.runtimes.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    done = hostctl.run("deploy", app_name, str(repo), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "listens on port 8080, not on $PORT (5000)" in done.stderr, done.stderr
    assert "`port: 8080` in hostctl.yml" in done.stderr

    commit(repo, {"hostctl.yml": "port: 8080\nhealthcheck:\n  timeout: 30\n"})
    hostctl.run("deploy", app_name, str(repo))
    assert hostctl.get(hostname, "/index.txt") == (200, "wrong port\n")
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_web_process_that_is_not_http_is_checked_by_uptime(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "not-http", "not-http")  # healthcheck: {type: uptime, seconds: 2}
    hostname = f"{app_name}.runtimes.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    deployed = hostctl.run("deploy", app_name, str(repo))
    assert f"Deployed {app_name} release 1" in deployed.stdout

    # Without the uptime check, the HTTP check fails on it.
    commit(repo, {"hostctl.yml": "healthcheck:\n  timeout: 3\n"})
    done = hostctl.run("deploy", app_name, str(repo), check=False)
    assert done.returncode == 1 and "the health check failed" in done.stderr, done.stderr

    # A web process that exits in its first seconds fails the uptime check.
    commit(
        repo,
        {
            "hostctl.yml": "healthcheck:\n  type: uptime\n  seconds: 5\n",
            "server.py": "import time\ntime.sleep(1)\nraise SystemExit(3)\n",
        },
    )
    done = hostctl.run("deploy", app_name, str(repo), check=False)
    assert done.returncode == 1, done.stdout
    assert "exited with code 3 within its first 5s" in done.stderr, done.stderr
    hostctl.run("apps", "destroy", app_name, "--yes")
