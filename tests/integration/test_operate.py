"""Operating apps: workers, logs, serialized deploys, and repair after Caddy or a container dies."""

import json
import subprocess
import threading

import pytest

from tests.harness.hostctl import commit, make_repo

pytestmark = pytest.mark.integration

WORKER = "worker: python -c \"import time; print('worker up', flush=True); time.sleep(3600)\"\n"


def ps(hostctl, app):
    return [row.split() for row in hostctl.run("ps", app).stdout.splitlines()[1:]]


def test_workers_run_in_their_own_containers_and_logs_are_kept(hostctl, live_app):
    app, _hostname, repo = live_app
    procfile = (repo / "Procfile").read_text()
    commit(repo, {"Procfile": procfile + WORKER, "VERSION": "v2\n"})
    hostctl.run("deploy", app, str(repo))
    assert sorted((row[0], row[1]) for row in ps(hostctl, app)) == [("web", "v2"), ("worker", "v2")]
    status = json.loads(hostctl.run("apps", "info", app, "--json").stdout)
    assert status["processes"] == {"web": 1, "worker": 1}
    assert "worker up" in hostctl.run("logs", app, "--process", "worker").stdout
    assert "Booting worker" in hostctl.run("logs", app).stdout  # gunicorn's own output
    build_log = hostctl.run("logs", app, "--release", "2").stdout
    assert "Building" in build_log and "Release 2 is live" in build_log
    commit(repo, {"VERSION": "v3\n"})
    hostctl.run("deploy", app, str(repo))
    assert sorted((row[0], row[1]) for row in ps(hostctl, app)) == [("web", "v3"), ("worker", "v3")]


def test_two_deploys_of_one_app_never_overlap(hostctl, live_app):
    app, _hostname, repo = live_app
    commit(
        repo,
        {
            "VERSION": "v2\n",
            "Procfile": "web: sleep 2 && exec gunicorn app:app --bind 0.0.0.0:$PORT\n",
        },
    )
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    first = threading.Thread(target=lambda: results.update(a=hostctl.run("deploy", app, str(repo))))
    first.start()
    while not (hostctl.root / "logs" / app / "release-2.log").exists():
        pass
    results["b"] = hostctl.run("deploy", app, str(repo))
    first.join()
    assert "queued behind a running deploy" in results["b"].stdout
    releases = {r["number"]: r for r in json.loads(hostctl.run("releases", app, "--json").stdout)}
    assert releases[2]["status"] == "retired" and releases[3]["status"] == "live"
    assert releases[3]["created_at"] >= releases[2]["finished_at"], "the second waited"


def test_a_stopped_caddy_or_a_lost_container_is_repaired_on_the_next_command(hostctl, live_app):
    app, hostname, _ = live_app
    socket = hostctl.root / "caddy" / "admin.sock"
    subprocess.run(
        ["curl", "-s", "-X", "POST", "--unix-socket", str(socket), "http://localhost/stop"],
        check=True,
        capture_output=True,
    )
    with pytest.raises(OSError):
        hostctl.get(hostname, timeout=2)
    hostctl.run("apps")
    assert hostctl.get(hostname) == (200, "python v1\n")

    web = ps(hostctl, app)[0][3]
    subprocess.run(["docker", "rm", "-f", web], check=True, capture_output=True)
    repaired = hostctl.run("apps")
    assert f"{app}: started release 1 again" in repaired.stderr
    assert hostctl.get(hostname) == (200, "python v1\n")
    assert [row[1] for row in ps(hostctl, app)] == ["v1"]


def test_a_deploy_repairs_its_own_app_only_and_the_next_command_the_others(
    hostctl, live_app, tmp_path
):
    # So a deploy takes no longer with more apps on the box (docs/benchmarks.md).
    app, hostname, _ = live_app
    other = f"{app}s"
    hostctl.run("apps", "create", other, "--domain", f"{other}.live.test")
    try:
        web = ps(hostctl, app)[0][3]
        subprocess.run(["docker", "rm", "-f", web], check=True, capture_output=True)
        deployed = hostctl.run("deploy", other, str(make_repo(tmp_path / "site", "static")))
        assert f"{app}: started release 1 again" not in deployed.stderr
        repaired = hostctl.run("apps")
        assert f"{app}: started release 1 again" in repaired.stderr
        assert hostctl.get(hostname) == (200, "python v1\n")
    finally:
        hostctl.run("apps", "destroy", other, "--yes")
