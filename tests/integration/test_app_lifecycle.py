"""The contract other tools rely on: create, deploy a git repo, info/apps --json, destroy."""

import json
import subprocess

import pytest

from tests.harness.hostctl import commit, make_repo

pytestmark = pytest.mark.integration


def docker_names(kind: str, label: str) -> list[str]:
    listing = {
        "container": ["docker", "ps", "-a", "--format", "{{.Names}}"],
        "volume": ["docker", "volume", "ls", "--format", "{{.Name}}"],
        "image": ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
    }[kind]
    out = subprocess.run([*listing, "--filter", f"label={label}"], capture_output=True, text=True)
    return out.stdout.split()


def test_create_deploy_inspect_and_destroy(hostctl, tmp_path, app_name):
    repo = make_repo(tmp_path / "repo", "python")
    hostctl.run(
        "apps", "create", app_name, "--domain", "www.lifecycle.test", "--domain", "lifecycle.test"
    )
    hostctl.run("deploy", app_name, str(repo))
    for hostname in ("www.lifecycle.test", "lifecycle.test"):
        assert hostctl.get(hostname) == (200, "python v1\n")
    assert hostctl.get("unknown.lifecycle.test")[0] == 404

    listed = json.loads(hostctl.run("apps", "--json").stdout)
    mine = next(a for a in listed if a["name"] == app_name)
    assert mine["status"] == "running" and mine["release"] == 1
    assert mine["processes"] == {"web": 1}
    assert mine["urls"][0] == f"http://www.lifecycle.test:{hostctl.port}/"
    info = json.loads(hostctl.run("apps", "info", app_name, "--json").stdout)
    assert info["hostnames"] == ["www.lifecycle.test", "lifecycle.test"]
    assert (
        info["commit"]
        == subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
    )
    assert info["port"] == 5000

    # --ref builds exactly the commit it names
    first = info["commit"]
    commit(repo, {"VERSION": "v2\n"})
    hostctl.run("deploy", app_name, str(repo), "--ref", first)
    assert hostctl.get("lifecycle.test") == (200, "python v1\n")
    hostctl.run("deploy", app_name)  # again from the recorded source, default branch
    assert hostctl.get("lifecycle.test") == (200, "python v2\n")

    label = f"io.hostctl.app={app_name}"
    assert docker_names("volume", label)
    hostctl.run("apps", "destroy", app_name, "--yes", "--keep-data")
    assert hostctl.get("lifecycle.test")[0] == 404
    assert docker_names("container", label) == []
    assert docker_names("image", label) == []
    assert docker_names("volume", label), "--keep-data keeps the volume"
    subprocess.run(
        ["docker", "volume", "rm", *docker_names("volume", label)], check=True, capture_output=True
    )
    assert json.loads(hostctl.run("apps", "--json").stdout) == [] or all(
        a["name"] != app_name for a in json.loads(hostctl.run("apps", "--json").stdout)
    )


def test_destroy_asks_unless_yes_and_removes_the_volume(hostctl, app_name):
    hostctl.run("apps", "create", app_name)
    refused = hostctl.run("apps", "destroy", app_name, input="n\n", check=False)
    assert refused.returncode == 1 and "Aborted" in refused.stderr
    assert docker_names("volume", f"io.hostctl.app={app_name}")
    hostctl.run("apps", "destroy", app_name, input="y\n")
    assert docker_names("volume", f"io.hostctl.app={app_name}") == []


def test_hostname_of_another_app_is_refused(hostctl, app_name):
    hostctl.run("apps", "create", app_name, "--domain", "taken.lifecycle.test")
    other = hostctl.run(
        "apps", "create", f"{app_name}b", "--domain", "taken.lifecycle.test", check=False
    )
    assert other.returncode == 1 and f"already belongs to app {app_name}" in other.stderr
    again = hostctl.run("apps", "create", app_name, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    hostctl.run("apps", "destroy", app_name, "--yes")
