"""Untrusted repository content, deployed through the real CLI: bad numbers and malformed
files fail the release with the file named, links are never followed as root, static sites
hide dotfiles, markup is printed literally, and one broken app never stops reconcile."""

from __future__ import annotations

import json
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doubles.github import TOKEN
from tests.harness.agent import job_rows
from tests.harness.env import NAMESPACE, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, commit, git, make_repo

pytestmark = pytest.mark.integration

BAD_CONTENT = {
    "stop_timeout .inf": ({"hostctl.yml": "stop_timeout: .inf\n"}, "hostctl.yml: stop_timeout"),
    "memory 0": ({"hostctl.yml": "resources: {memory: 0}\n"}, "hostctl.yml: resources/memory"),
    "timeout .nan": (
        {"hostctl.yml": "healthcheck: {timeout: .nan}\n"},
        "hostctl.yml: healthcheck/timeout",
    ),
    "app.json list": ({"app.json": "[1]"}, "app.json: (top level)"),
    "app.json string": ({"app.json": '"web"'}, "app.json: (top level)"),
    "healthchecks list": ({"app.json": '{"healthchecks": []}'}, "app.json: healthchecks"),
    "attempts Infinity": (
        {"app.json": '{"healthchecks": {"web": [{"attempts": Infinity}]}}'},
        "app.json: healthchecks/web/0/attempts",
    ),
    "deep nesting": ({"app.json": "[" * 100_000 + "]" * 100_000}, "app.json: nested too deeply"),
    "Dockerfile directory": ({"Dockerfile/README": "x"}, "Dockerfile is a directory"),
    "escaping symlink": ({"Procfile": Path("/etc/shadow")}, "'Procfile'"),
}


def write(tree: Path, files: dict[str, str | Path]) -> None:
    for name, content in files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink()
        if isinstance(content, Path):
            path.symlink_to(content)
        else:
            path.write_text(content)


def latest_release(hostctl, app: str) -> dict:
    return json.loads(hostctl.run("releases", app, "--json").stdout)[0]


def test_bad_numbers_and_malformed_files_fail_the_release_naming_the_file(
    hostctl, live_app, tmp_path
):
    app, hostname, repo = live_app
    base = git(repo, "rev-parse", "HEAD")
    for case, (files, message) in BAD_CONTENT.items():
        write(repo, files)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", case)
        done = hostctl.run("deploy", app, str(repo), check=False)
        assert done.returncode == 1, (case, done.stdout, done.stderr)
        assert message in done.stderr and "Hint:" in done.stderr, (case, done.stderr)
        assert "Traceback" not in done.stderr and "SECRET" not in done.stderr, case
        release = latest_release(hostctl, app)
        assert release["status"] == "failed" and message in release["error"], (case, release)
        assert hostctl.get(hostname) == (200, "python v1\n"), case
        git(repo, "reset", "--quiet", "--hard", base)
    # package.json, read for a Node app, as a list and as Latin-1
    node = tmp_path / "node"
    for content, message in [("[]", "package.json: (top level)"), (b"\xe9", "not UTF-8")]:
        node.mkdir(exist_ok=True)
        path = node / "package.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        done = hostctl.run("deploy", app, str(node), check=False)
        assert done.returncode == 1 and message in done.stderr and "package.json" in done.stderr
        assert "Traceback" not in done.stderr
        assert latest_release(hostctl, app)["status"] == "failed"
    assert hostctl.get(hostname) == (200, "python v1\n")


def test_links_are_never_followed_as_root_and_static_sites_hide_dotfiles(
    hostctl, tmp_path, app_name
):
    secret = tmp_path / "host-secret"
    secret.write_text("SECRET on the host\n")
    written = tmp_path / "outside" / "written-as-root"
    written.parent.mkdir()
    site = make_repo(tmp_path / "site", "static")
    shutil.rmtree(site / ".git")  # a plain-directory deploy
    write(
        site,
        {
            "Dockerfile": written,  # dangling: the generated one was written through it
            "leak.txt": secret,  # a plain-directory deploy copied the host file
            ".env": "SECRET=1\n",
            "sub/.git/config": "[core]\n",
            "hostctl.yml": "healthcheck: {path: /}\n",
        },
    )
    hostname = f"{app_name}.static.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        hostctl.run("deploy", app_name, str(site))
        assert not written.exists(), "the generated Dockerfile was written outside the tree"
        status, body = hostctl.get(hostname)
        assert status == 200 and "static site" in body
        for path in ("/leak.txt", "/.env", "/sub/.git/config", "/Dockerfile", "/hostctl.yml"):
            status, body = hostctl.get(hostname, path)
            assert status == 404 and "SECRET" not in body, (path, status, body)
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


def test_markup_in_a_commit_subject_is_printed_literally_on_a_terminal(hostctl, live_app):
    app, hostname, repo = live_app
    commit(repo, {"VERSION": "v2\n"}, message="fix [/bold] and [red]this")
    primary, replica = pty.openpty()
    done = subprocess.Popen(
        [sys.executable, "-m", "hostctl", "deploy", app, str(repo)],
        env=hostctl.env | {"COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        stdout=replica,
        stderr=replica,
    )
    os.close(replica)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the deploy exited and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    done.wait(timeout=600)
    assert done.returncode == 0, output
    assert "fix [/bold] and [red]this" in output.decode(errors="replace")
    assert hostctl.get(hostname) == (200, "python v2\n")


def test_one_broken_app_never_stops_reconcile_for_the_others(hostctl, live_app, tmp_path):
    broken, _, repo = live_app
    other = f"{broken}b"
    hostname = f"{other}.live.test"
    hostctl.run("apps", "create", other, "--domain", hostname)
    database = hostctl.root / "state.db"
    with sqlite3.connect(database) as db:
        (spec,) = db.execute("SELECT spec FROM releases WHERE app = ?", (broken,)).fetchone()
    db.close()
    try:
        hostctl.run("deploy", other, str(repo))
        web = next(row.split() for row in hostctl.run("ps", other).stdout.splitlines()[1:])[3]
        odd = json.loads(spec) | {"processes": ["web"]}  # a stored spec reconcile trips on
        with sqlite3.connect(database) as db:
            db.execute("UPDATE releases SET spec = ? WHERE app = ?", (json.dumps(odd), broken))
        db.close()
        subprocess.run(["docker", "rm", "-f", web], check=True, capture_output=True)
        repaired = hostctl.run("apps", check=False)
        assert repaired.returncode == 0 and "Traceback" not in repaired.stderr, repaired.stderr
        assert f"{broken}: could not be reconciled: AttributeError" in repaired.stderr
        assert f"{other}: started release 1 again" in repaired.stderr
        assert hostctl.get(hostname) == (200, "python v1\n")
    finally:
        with sqlite3.connect(database) as db:
            db.execute("UPDATE releases SET spec = ? WHERE app = ?", (spec, broken))
        db.close()
        hostctl.run("apps", "destroy", other, "--yes")


def test_a_malformed_file_sets_the_commit_status_to_failure(engine, gh, tmp_path, app_name):
    repo_name = "octo-dev/site"
    gh.add_repo(repo_name)
    namespace = f"{NAMESPACE}uc"
    hostctl = Hostctl(isolated_env(tmp_path / "root", namespace))
    try:
        hostctl.run("github", "connect", "--token", TOKEN, "--api-url", gh.url)
        hostctl.run("apps", "create", app_name, "--repo", repo_name, "--branch", "main")
        site = make_repo(tmp_path / "site", "static", {"app.json": "[1]"})
        sha = git(site, "rev-parse", "HEAD")
        done = hostctl.run("deploy", app_name, str(site), "--ref", sha, check=False)
        assert done.returncode == 1 and "app.json: (top level)" in done.stderr, done.stderr
        job = job_rows(hostctl, app_name)[-1]
        assert job["status"] == "failed" and "app.json" in job["error"], job
        assert [s["state"] for s in gh.repos[repo_name].statuses[sha]] == ["pending", "failure"]
    finally:
        stop_caddy(tmp_path / "root")
        remove_labelled(namespace)
