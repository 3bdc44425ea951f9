"""Secrets typed at a hidden prompt or piped in, never on the command line; settings that
Docker or Caddy would refuse, or that hostctl would silently override, refused up front."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.doubles.cloudflare import CloudflareDouble
from tests.doubles.github import TOKEN as GITHUB_TOKEN
from tests.doubles.github import GitHubDouble
from tests.harness.env import NAMESPACE, isolated_env
from tests.harness.hostctl import Hostctl, make_repo

pytestmark = pytest.mark.integration


def run_at_a_terminal(hostctl: Hostctl, args: list[str], typed: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal, type ``typed``
    once it prompts, and return its exit status and everything the terminal showed."""
    main, child = os.openpty()
    process = subprocess.Popen(
        ["setsid", "--ctty", "--wait", sys.executable, "-m", "hostctl", *args],
        env=hostctl.env,
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    shown = b""
    typed_yet = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the terminal's other side is gone
                break
            if not chunk:
                break
            shown += chunk
            if not typed_yet and b": " in shown:
                os.write(main, typed.encode() + b"\r")
                typed_yet = True
        return process.wait(timeout=60), shown.decode(errors="replace")
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()


def test_env_set_takes_a_secret_from_stdin_or_a_hidden_prompt(hostctl, app_name):
    hostctl.run("apps", "create", app_name)
    try:
        hostctl.run("env", "set", app_name, "FROM_STDIN", input="piped secret\n")
        status, shown = run_at_a_terminal(hostctl, ["env", "set", app_name, "TYPED"], "typed-s3")
        assert status == 0, shown
        assert "value of TYPED" in shown and "typed-s3" not in shown, "the prompt hides it"
        values = json.loads(hostctl.run("env", app_name, "--reveal", "--json").stdout)
        assert values == {"FROM_STDIN": "piped secret", "TYPED": "typed-s3"}
        empty = hostctl.run("env", "set", app_name, "EMPTY", input="", check=False)
        assert empty.returncode == 1 and "no value of EMPTY was given" in empty.stderr
        two = hostctl.run("env", "set", app_name, "A", "B", input="x\n", check=False)
        assert two.returncode == 1 and "only one KEY" in two.stderr
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


def test_connect_tokens_and_the_offsite_secret_come_from_stdin(
    tmp_path: Path, gh: GitHubDouble, double: CloudflareDouble
):
    runner = Hostctl(isolated_env(tmp_path, NAMESPACE) | {"CLOUDFLARE_BASE_URL": double.url})
    github = runner.run("github", "connect", "--api-url", gh.url, input=f"{GITHUB_TOKEN}\n")
    assert "Connected to GitHub as" in github.stdout
    saved = json.loads((tmp_path / "etc" / "github.json").read_text())
    assert GITHUB_TOKEN in saved.values()
    double.add_zone("example.com")
    # A token the double rejects: it got as far as Cloudflare's API from stdin.
    cloudflare = runner.run(
        "cloudflare", "connect", "--domain", "example.com", input="nope\n", check=False
    )
    assert cloudflare.returncode == 1 and "rejected the API token" in cloudflare.stderr
    runner.run(
        "offsite",
        "set",
        "--endpoint",
        "https://s3.example.com",
        "--bucket",
        "backups",
        "--access-key-id",
        "AKID",
        "--no-check",
        input="offsite-secret\n",
    )
    assert "offsite-secret" in json.loads((tmp_path / "etc" / "offsite.json").read_text()).values()


def test_port_cannot_be_set_in_env(hostctl, app_name):
    hostctl.run("apps", "create", app_name)
    try:
        done = hostctl.run("env", "set", app_name, "PORT=8000", check=False)
        assert done.returncode == 1 and "PORT is set by hostctl" in done.stderr
        assert "port:" in done.stderr, "the hint names the setting that works"
        assert json.loads(hostctl.run("env", app_name, "--json").stdout) == {}
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ("http_port: 70000\n", {}, "http_port: should be a TCP port between 1 and 65535"),
        ("", {"HOSTCTL_HTTP_PORT": "70000"}, "HOSTCTL_HTTP_PORT='70000' is not a port number"),
        ("resources: {cpus: 0}\n", {}, "resources/cpus: should be a number of CPUs at least 0.01"),
        ("resources: {memory: 1k}\n", {}, "resources/memory: should be a size from 6m"),
    ],
)
def test_bad_box_settings_are_refused_when_read(tmp_path, config, env, message):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostctl.yml").write_text(config)
    runner = Hostctl({**isolated_env(tmp_path, NAMESPACE), **env})
    if "HOSTCTL_HTTP_PORT" not in env:
        del runner.env["HOSTCTL_HTTP_PORT"]  # the port comes from hostctl.yml
    done = runner.run("apps", check=False)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{memory: 1k}", "hostctl.yml: resources/memory: should be a size from 6m"),
        ("{cpus: 4096}", "hostctl.yml: resources/cpus: should be a number of CPUs at least 0.01"),
        ("{cpus: 0}", "hostctl.yml: resources/cpus: should be a number of CPUs at least 0.01"),
    ],
)
def test_an_apps_bad_resources_fail_before_the_build(
    hostctl, tmp_path, app_name, resources, message
):
    repo = make_repo(tmp_path / "repo", "python", {"hostctl.yml": f"resources: {resources}\n"})
    hostctl.run("apps", "create", app_name)
    try:
        done = hostctl.run("deploy", app_name, str(repo), check=False)
        assert done.returncode == 1 and message in done.stderr, done.stdout + done.stderr
        assert "Building" not in done.stdout, "refused before any build"
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")
