"""No request is lost: not across deploys and rollbacks, and not when a release is broken."""

import json

import pytest

from tests.harness.hostctl import Load, commit

pytestmark = pytest.mark.integration


def containers(hostctl, app):
    rows = hostctl.run("ps", app).stdout.splitlines()[1:]
    return [row.split() for row in rows]


def test_ten_deploys_and_two_rollbacks_under_load_lose_nothing(hostctl, live_app):
    app, hostname, repo = live_app
    with Load(hostctl.port, hostname) as load:
        for version in range(2, 12):
            commit(repo, {"VERSION": f"v{version}\n"})
            hostctl.run("deploy", app, str(repo))
            assert hostctl.get(hostname) == (200, f"python v{version}\n")
        hostctl.run("rollback", app)
        assert hostctl.get(hostname) == (200, "python v10\n")
        hostctl.run("rollback", app, "9")
        assert hostctl.get(hostname) == (200, "python v9\n")
    assert load.failures == [], load.outcomes
    assert load.outcomes["/slow 200"] >= 10, "slow requests were in flight during the swaps"
    assert load.total > 200
    releases = json.loads(hostctl.run("releases", app, "--json").stdout)
    assert [r["number"] for r in releases] == list(range(13, 0, -1))
    assert [r["kind"] for r in releases[:2]] == ["rollback", "rollback"]
    assert releases[0]["current"] and releases[0]["status"] == "live"
    assert len(containers(hostctl, app)) == 1, "old containers were stopped"
    pruned = hostctl.run("rollback", app, "3", check=False)
    assert pruned.returncode == 1 and "was pruned" in pruned.stderr, "only 5 images are kept"


def test_deploys_with_two_web_containers_lose_nothing(hostctl, live_app):
    app, hostname, repo = live_app
    hostctl.run("scale", app, "web=2")
    with Load(hostctl.port, hostname) as load:
        for version in range(2, 5):
            commit(repo, {"VERSION": f"v{version}\n"})
            hostctl.run("deploy", app, str(repo))
            assert hostctl.get(hostname) == (200, f"python v{version}\n")
            serving = {hostctl.get(hostname, "/env/HOSTNAME") for _ in range(30)}
            assert len(serving) == 2, f"both web containers serve: {serving}"
    assert load.failures == [], load.outcomes
    assert load.outcomes["/slow 200"] >= 3, "slow requests were in flight during the swaps"
    assert [c[:2] for c in containers(hostctl, app)] == [["web", "v4"], ["web", "v4"]]


BROKEN = {
    "crashes on boot": {"Procfile": "web: python -c 'import sys; sys.exit(3)'\n"},
    "release command fails": {
        "Procfile": "web: gunicorn app:app --bind 0.0.0.0:$PORT\n"
        "release: python -c 'raise SystemExit(7)'\n"
    },
    "build fails": {"requirements.txt": "flask==3.0.3\nno-such-package-hostctl-test==9.9.9\n"},
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_release_leaves_the_old_one_serving(hostctl, live_app, case):
    app, hostname, repo = live_app
    commit(repo, {"VERSION": "broken\n", **BROKEN[case]})
    with Load(hostctl.port, hostname) as load:
        failed = hostctl.run("deploy", app, str(repo), check=False)
        assert hostctl.get(hostname) == (200, "python v1\n")
    assert failed.returncode == 1
    assert "Error: release 2 of" in failed.stderr and "Full log:" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert load.failures == [], load.outcomes
    assert load.total > 20
    release = json.loads(hostctl.run("releases", app, "--json").stdout)[0]
    assert release["number"] == 2 and release["status"] == "failed" and release["error"]
    assert [c[1] for c in containers(hostctl, app)] == ["v1"], "the broken release left nothing"
