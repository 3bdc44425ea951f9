"""The CLI as a user meets it: version, help, and errors without tracebacks."""

import subprocess
import sys
from pathlib import Path

import pytest

from hostctl import __version__


def hostctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostctl", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    return (
        {k: v for k, v in os.environ.items() if not k.startswith(("HOSTCTL_", "DOCKER_"))}
        | {
            "HOSTCTL_ROOT": str(tmp_path / "root"),
            "HOSTCTL_ETC": str(tmp_path / "etc"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
        | extra
    )


def test_version_and_help(tmp_path):
    env = env_for(tmp_path)
    assert hostctl("--version", env=env).stdout.strip() == f"hostctl, version {__version__}"
    help_text = hostctl("--help", env=env).stdout
    for command in ("apps", "deploy", "env", "logs", "ps", "releases", "restart", "rollback"):
        assert f"  {command}" in help_text


def test_unreachable_engine_is_a_clear_error_with_a_hint(tmp_path):
    env = env_for(tmp_path, DOCKER_HOST="unix:///nonexistent.sock")
    for args in (["apps"], ["apps", "create", "blog"], ["deploy", "blog", "."], ["ps", "blog"]):
        done = hostctl(*args, env=env)
        assert done.returncode == 1, args
        assert done.stderr.splitlines() == [
            "Error: cannot reach the Docker engine at unix:///nonexistent.sock",
            "Hint: start it (systemctl start docker), or run scripts/test which starts one",
        ]
        assert "Traceback" not in done.stdout + done.stderr


def test_an_engine_that_does_not_answer_in_time_is_a_clear_error(tmp_path):
    """A stalled engine (a socket that takes the request and never answers) is an error
    that names what was being done, not a requests traceback."""
    import socket

    import docker

    from hostctl.adapters.docker import Docker
    from hostctl.core.errors import HostctlError

    path = tmp_path / "stalled.sock"
    with socket.socket(socket.AF_UNIX) as stalled:
        stalled.bind(str(path))
        stalled.listen()
        client = docker.APIClient(base_url=f"unix://{path}", version="1.41", timeout=0.5)
        with pytest.raises(HostctlError) as raised:
            Docker().call(client.df, "list the build cache")
    assert raised.value.message == "Docker did not answer in time to list the build cache"
    assert "try again" in raised.value.hint


def test_debug_shows_the_traceback(tmp_path):
    env = env_for(tmp_path, DOCKER_HOST="unix:///nonexistent.sock")
    done = hostctl("--debug", "apps", env=env)
    assert done.returncode == 1 and "Traceback" in done.stderr
    done = hostctl("apps", env=env | {"HOSTCTL_DEBUG": "1"})
    assert "Traceback" in done.stderr


def test_invalid_app_name_changes_nothing(tmp_path):
    env = env_for(tmp_path, DOCKER_HOST="unix:///nonexistent.sock")
    done = hostctl("env", "set", "Bad_Name", "A=1", env=env)
    assert done.returncode == 1
    assert "Error:" in done.stderr and "Traceback" not in done.stderr


def test_env_is_masked_unless_revealed(tmp_path):
    from hostctl.state import Store

    env = env_for(tmp_path)
    store = Store(tmp_path / "root" / "state.db")
    store.insert_app("blog", ["blog.localhost"])
    store.replace_env("blog", {"SECRET_TOKEN": "hunter2-very-secret"})
    shown = hostctl("env", "blog", env=env)
    assert shown.returncode == 0 and "SECRET_TOKEN" in shown.stdout
    assert "hunter2" not in shown.stdout
    assert "hunter2-very-secret" in hostctl("env", "blog", "--reveal", env=env).stdout
    unknown = hostctl("env", "nope", env=env)
    assert unknown.returncode == 1 and "no app named 'nope'" in unknown.stderr


def test_purge_cache_moves_a_known_app_to_new_caches_and_refuses_an_unknown_one(tmp_path):
    from hostctl.deploy.rules import build_cache_id
    from hostctl.state import Store

    env = env_for(tmp_path)
    store = Store(tmp_path / "root" / "state.db")
    store.insert_app("blog", ["blog.localhost"])
    before = build_cache_id(store.app("blog"))
    unknown = hostctl("apps", "purge-cache", "nope", env=env)
    assert unknown.returncode == 1 and "no app named 'nope'" in unknown.stderr
    assert "hostctl apps create nope" in unknown.stderr and "Traceback" not in unknown.stderr
    done = hostctl("apps", "purge-cache", "blog", env=env)
    assert done.returncode == 0 and "starts from empty caches" in done.stdout, done.stderr
    assert build_cache_id(store.app("blog")) != before
    assert not (tmp_path / "root" / "caddy").exists()  # state only: no edge started
