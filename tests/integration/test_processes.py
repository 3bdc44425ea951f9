"""The process model as Heroku and Dokku users know it: formation and `hostctl scale`,
apps with no web process, non-web processes checked at deploy, images with an
ENTRYPOINT, and failures that say what happened."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.env import NAMESPACE, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, commit, make_repo

pytestmark = pytest.mark.integration


def running(hostctl, app):
    """(process, release) of each running container of the app."""
    rows = [row.split() for row in hostctl.run("ps", app).stdout.splitlines()[1:]]
    return sorted((row[0], row[1]) for row in rows if row[2] == "running")


def served_by(hostctl, hostname, requests=30):
    answers = {hostctl.get(hostname) for _ in range(requests)}
    assert all(status == 200 for status, _ in answers), answers
    return {body for _, body in answers}


@pytest.fixture
def processes_app(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "repo", "processes")
    hostname = f"{app_name}.procs.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    yield app_name, hostname, repo
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_formation_and_scale_set_how_many_of_each_process_run(hostctl, processes_app):
    app, hostname, repo = processes_app
    hostctl.run("deploy", app, str(repo))
    # app.json: web quantity 2, worker quantity 0
    assert running(hostctl, app) == [("web", "v1"), ("web", "v1")]
    assert len(served_by(hostctl, hostname)) == 2, "both web containers are behind the edge"

    scaled = hostctl.run("scale", app, "web=1", "worker=2")
    assert scaled.stdout.strip().splitlines()[-1] == "web=1 worker=2"
    assert running(hostctl, app) == [("web", "v1"), ("worker", "v1"), ("worker", "v1")]
    assert len(served_by(hostctl, hostname)) == 1
    assert "worker started" in hostctl.run("logs", app, "--process", "worker").stdout

    # the scale outlives a deploy, and a type scaled to 0 does not run
    hostctl.run("scale", app, "worker=0")
    commit(repo, {"CHANGED": "1\n"})
    hostctl.run("deploy", app, str(repo))
    assert running(hostctl, app) == [("web", "v2")]
    assert hostctl.run("scale", app).stdout.strip() == "web=1 worker=0"

    unknown = hostctl.run("scale", app, "clock=1", check=False)
    assert unknown.returncode == 1 and "has no 'clock' process" in unknown.stderr
    bad = hostctl.run("scale", app, "web=two", check=False)
    assert bad.returncode == 1 and "is not TYPE=COUNT" in bad.stderr


def test_an_app_with_no_web_process_deploys_and_gets_no_route(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "repo", "worker-only")
    hostname = f"{app_name}.worker.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        assert hostctl.get(hostname) == (503, f"{app_name} has no release yet\n")
        hostctl.run("deploy", app_name, str(repo))
        assert running(hostctl, app_name) == [("worker", "v1")]
        assert hostctl.get(hostname) == (503, f"{app_name} has no web process running\n")
        listed = json.loads(hostctl.run("apps", "--json").stdout)
        assert [a["status"] for a in listed if a["name"] == app_name] == ["running"]
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


CRASHING = {
    "exits at once": "worker: python -c 'raise SystemExit(3)'\n",
    "crash-loops": "worker: python -c 'import time; time.sleep(1); raise SystemExit(4)'\n",
}


@pytest.mark.parametrize("case", list(CRASHING))
def test_a_crashing_worker_fails_the_deploy_and_the_old_release_keeps_running(
    hostctl, processes_app, case
):
    app, hostname, repo = processes_app
    hostctl.run("deploy", app, str(repo))
    hostctl.run("scale", app, "web=1", "worker=1")
    before = served_by(hostctl, hostname)
    commit(repo, {"Procfile": "web: python server.py\n" + CRASHING[case]})
    failed = hostctl.run("deploy", app, str(repo), check=False)
    assert failed.returncode == 1
    assert re.search(r"the worker process \S+ (exited with code 3|kept crashing)", failed.stderr)
    assert "release 1 is still serving" in failed.stderr.lower()
    assert served_by(hostctl, hostname) == before
    assert running(hostctl, app) == [("web", "v1"), ("worker", "v1")]


def test_a_procfile_command_is_passed_to_the_image_entrypoint(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "repo", "entrypoint")
    hostname = f"{app_name}.entry.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        hostctl.run("deploy", app_name, str(repo))
        assert hostctl.get(hostname) == (200, "set by the entrypoint: 5000|two words\n")
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


@pytest.fixture
def own_box(engine, tmp_path):
    """hostctl with a namespace of its own, so that its apps are all the apps there are."""
    namespace = f"{NAMESPACE}n"
    yield Hostctl(isolated_env(tmp_path, namespace)), namespace
    stop_caddy(tmp_path)
    remove_labelled(namespace)


def docker_objects(kind, namespace):
    label = f"label=io.hostctl.namespace={namespace}"
    listing = ["docker", kind, "ls", "-q", "--filter", label]
    return subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()


def test_a_failed_first_deploy_says_so_and_leaves_nothing_behind(own_box, tmp_path):
    hostctl, namespace = own_box
    repo = make_repo(tmp_path / "repo", "processes", {"Procfile": "web: python nowhere.py\n"})
    hostctl.run("apps", "create", "first", "--domain", "first.test")
    failed = hostctl.run("deploy", "first", str(repo), check=False)
    assert failed.returncode == 1
    assert "nothing was serving before" in failed.stderr.lower()
    assert "previous release" not in failed.stderr
    log = Path(re.search(r"Full log: (\S+?)\.? ", failed.stderr).group(1))
    assert "the web process exited" in log.read_text(), "the log says why"
    assert docker_objects("image", namespace) == [], "the failed release's image is removed"

    hostctl.run("apps", "destroy", "first", "--yes")
    assert docker_objects("network", namespace) == [], "no network is left behind"
    assert docker_objects("container", namespace) == []
