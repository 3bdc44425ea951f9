"""kill -9 in the middle of a deploy, and bad input: the old release keeps serving."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.harness.hostctl import Load, commit

pytestmark = pytest.mark.integration


def kill_when(process: subprocess.Popen[str], marker: str) -> list[str]:
    seen = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    return seen


@pytest.mark.parametrize("moment", ["Building", "Starting"])
def test_kill_9_mid_deploy_keeps_serving_and_the_next_run_cleans_up(hostctl, live_app, moment):
    app, hostname, repo = live_app
    slow_boot = "web: sleep 3 && exec gunicorn app:app --bind 0.0.0.0:$PORT\n"
    commit(repo, {"VERSION": "v2\n", "Procfile": slow_boot})
    with Load(hostctl.port, hostname, paths=("/",)) as load:
        seen = kill_when(hostctl.popen("deploy", app, str(repo)), moment)
        assert any(moment in line for line in seen), seen
        time.sleep(1)
        assert hostctl.get(hostname) == (200, "python v1\n")
        repaired = hostctl.run("apps")
        assert f"{app}: release 2 was interrupted" in repaired.stderr
        assert hostctl.get(hostname) == (200, "python v1\n")
    assert load.failures == []
    release = json.loads(hostctl.run("releases", app, "--json").stdout)[0]
    assert release["number"] == 2 and release["status"] == "failed"
    assert "interrupted" in release["error"]
    rows = hostctl.run("ps", app).stdout.splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["v1"], "no orphan container is left"
    leftovers = hostctl.root / "work" / app
    assert not leftovers.exists() or list(leftovers.iterdir()) == [], "no source tree is left"
    hostctl.run("deploy", app, str(repo))  # the lock was not left behind
    assert hostctl.get(hostname) == (200, "python v2\n")


BAD_SOURCES = {
    "malformed hostctl.yml": (
        {"hostctl.yml": "healthcheck:\n  timeout: soon\n"},
        "hostctl.yml: healthcheck/timeout: should be a number of seconds",
    ),
    "unknown hostctl.yml key": ({"hostctl.yml": "prot: 80\n"}, "hostctl.yml: prot: unknown key"),
    # a worker-only Procfile deploys (tests/integration/test_processes.py); none at all not
    "no web process": ({"Procfile": "release: python m.py\n"}, "must have a `web:` line"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_bad_source_is_refused_and_the_app_keeps_serving(hostctl, live_app, case):
    app, hostname, repo = live_app
    files, message = BAD_SOURCES[case]
    commit(repo, files)
    done = hostctl.run("deploy", app, str(repo), check=False)
    assert done.returncode == 1 and message in done.stderr and "Hint:" in done.stderr
    assert "Traceback" not in done.stderr
    assert hostctl.get(hostname) == (200, "python v1\n")


def test_no_stack_missing_source_and_invalid_names(hostctl, tmp_path, app_name):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("nothing to run")
    hostctl.run("apps", "create", app_name)
    cases = [
        (["deploy", app_name, str(tmp_path / "empty")], "no stack detected"),
        (["deploy", app_name, str(tmp_path / "missing")], "does not exist"),
        (["deploy", app_name], "never been deployed"),
        (["apps", "create", "Not_Valid"], "invalid app name"),
        (["apps", "create", "ok-name", "--domain", "bad host"], "invalid hostname"),
        (["deploy", "nope", str(tmp_path)], "no app named 'nope'"),
    ]
    for args, message in cases:
        done = hostctl.run(*args, check=False)
        assert done.returncode == 1, args
        assert message in done.stderr and "Hint:" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    names = [a["name"] for a in json.loads(hostctl.run("apps", "--json").stdout)]
    assert "ok-name" not in names and "Not_Valid" not in names
    hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_full_disk_during_the_build_keeps_the_old_release(hostctl, live_app, tmp_path):
    app, hostname, repo = live_app
    commit(repo, {"VERSION": "v2\n", "big.bin": "x" * 2_000_000})
    work = hostctl.root / "work"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(work)], check=True)
    try:
        done = hostctl.run("deploy", app, str(repo), check=False)
        left = [str(p) for p in work.rglob("*") if p.is_file()]
    finally:
        subprocess.run(["umount", str(work)], check=True)
    assert done.returncode == 1
    assert "the disk is full" in done.stderr and "Traceback" not in done.stderr
    assert hostctl.get(hostname) == (200, "python v1\n")
    assert left == [], "no partial source tree is left"
