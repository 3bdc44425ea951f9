"""/data survives deploys, rollbacks and restarts; two releases share a WAL database safely
during a swap; env changes reach the app, masked in output and absent from logs."""

import json
import subprocess
import threading

import pytest

from tests.harness.hostctl import Load, commit, http_get

pytestmark = pytest.mark.integration


def test_sqlite_data_survives_and_stays_consistent_across_swaps(hostctl, live_app):
    app, hostname, repo = live_app
    errors: list[str] = []
    written = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal written
        while not stop.is_set():
            try:
                status, body = http_get(hostctl.port, hostname, "/write", method="POST")
                if status == 200:
                    written += 1
                else:
                    errors.append(f"{status} {body[:200]}")
            except OSError as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        commit(repo, {"VERSION": "v2\n"})
        hostctl.run("deploy", app, str(repo))
        hostctl.run("restart", app)
        hostctl.run("rollback", app)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert written > 20
    assert hostctl.get(hostname, "/count") == (200, str(written))
    web = json.loads(hostctl.run("apps", "info", app, "--json").stdout)
    volume = web["volume"]
    check = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{volume}:/data",
            "python:3.11-slim-bookworm",
            "python",
            "-c",
            "import sqlite3; print(sqlite3.connect('/data/app.db').execute("
            "'PRAGMA integrity_check').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "ok"


def test_env_set_and_unset_reach_the_app_masked_and_unlogged(hostctl, live_app):
    app, hostname, _ = live_app
    secret = "s3cr3t-value-never-logged"
    with Load(hostctl.port, hostname, paths=("/",)) as load:
        done = hostctl.run("env", "set", app, f"API_TOKEN={secret}", "GREETING=hello world")
        assert hostctl.get(hostname, "/env/API_TOKEN") == (200, secret)
        assert hostctl.get(hostname, "/env/GREETING") == (200, "hello world")
        unset = hostctl.run("env", "unset", app, "GREETING")
        assert hostctl.get(hostname, "/env/GREETING") == (200, "<unset>")
    assert load.failures == []
    shown = hostctl.run("env", app)
    assert "API_TOKEN" in shown.stdout and secret not in shown.stdout
    assert secret in hostctl.run("env", app, "--reveal").stdout
    releases = hostctl.run("releases", app, "--json").stdout
    assert secret not in done.stdout + done.stderr + unset.stdout + releases
    for log in (hostctl.root / "logs" / app).iterdir():
        assert secret not in log.read_text()
    assert "API_TOKEN" in json.loads(releases)[0]["env_keys"]
    missing = hostctl.run("env", "unset", app, "NOPE", check=False)
    assert missing.returncode == 1 and "has no variable NOPE" in missing.stderr
