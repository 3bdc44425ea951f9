"""The agent and a git push's forced command and hook stay small: the heavy SDKs load
only on the code paths that need them (docs/benchmarks.md: what each import costs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostctl.core.locks import file_lock
from hostctl.settings import Settings


def python_output(code: str) -> str:
    """What ``code`` prints in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def loaded(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    code = "".join(f"import {m}\n" for m in modules)
    code += "import json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    return set(json.loads(python_output(code)))


def packages(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_the_agent_loads_no_cloud_sdk_and_no_http_library():
    # What the agent imports at start, and at its first backup and Cloudflare rounds.
    found = loaded("hostctl.agent.agent", "hostctl.backup.schedule", "hostctl.cloudflare.sync")
    assert packages(found) & {"boto3", "botocore", "cloudflare", "httpx"} == set()
    # Its HTTP server is threads on h11: no event loop (asyncio, anyio: ~3 MiB).
    assert packages(found) & {"asyncio", "anyio"} == set()


def test_a_push_an_agent_serves_loads_no_docker_sdk_and_no_deploy_code():
    # The forced command (git-shell) and the pre-receive hook, through the CLI's check
    # for --host that every command makes.
    found = loaded(
        "hostctl.cli.remote", "hostctl.cli.push", "hostctl.cli.context", "hostctl.push.hook"
    )
    assert packages(found) & {"docker", "requests", "paramiko", "httpx", "boto3"} == set()
    assert "hostctl.deploy.pipeline" not in found


def test_the_agent_holds_the_docker_sdk_without_paramiko():
    # `hostctl serve` through the CLI, and what its reconcile round imports: the Docker
    # SDK, which would import paramiko for ssh:// engines hostctl never uses.
    found = loaded("hostctl.cli", "hostctl.cli.agent", "hostctl.agent.agent", "hostctl.reconcile")
    found |= loaded("hostctl.agent.agent", "hostctl.adapters.docker")
    assert "docker" in packages(found)
    assert packages(found) & {"paramiko", "charset_normalizer", "croniter"} == set()


def test_a_deploy_without_github_app_or_deploy_key_loads_no_github_code():
    # A webhook's deploy of a public repository: neither httpx nor cryptography (~8 MiB).
    found = loaded("hostctl.deploy.pipeline", "hostctl.deploy.github_status", "hostctl.github.keys")
    assert packages(found) & {"httpx", "cryptography", "rich"} == set()
    assert "hostctl.github.app" not in found


def test_httpx_loads_without_its_command_line_client():
    # httpx imports its CLI (rich, pygments: ~3.5 MiB) whenever they are installed.
    found = loaded("hostctl.adapters.github")
    assert "httpx" in packages(found)
    assert packages(found) & {"rich", "pygments"} == set()
    code = (
        "from hostctl.adapters.cloudflare import CloudflareAPI\n"
        "CloudflareAPI('token').client\n"
        "import sys\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    shown = python_output(code)
    assert "cloudflare" in shown
    assert "'rich'" not in shown and "'pygments'" not in shown


def test_paramiko_still_imports_after_the_docker_sdk_and_ssh_engines_get_an_error():
    code = (
        "import os, sys\n"
        "from hostctl.adapters.docker import Docker\n"
        "import paramiko\n"
        "assert paramiko.SSHClient\n"
        "os.environ['DOCKER_HOST'] = 'ssh://root@203.0.113.10'\n"
        "from hostctl.core.errors import HostctlError\n"
        "try:\n"
        "    Docker().client\n"
        "except HostctlError as exc:\n"
        "    print(exc.message)\n"
    )
    assert "does not reach Docker engines over SSH" in python_output(code)


def imported_by(args: list[str], stdin: str = "") -> set[str]:
    """The modules a `hostctl` command imports, as it runs (`-X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", "-m", "hostctl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_the_forced_command_and_the_hook_as_they_run_load_no_sdk(
    hostctl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run, not just imported: a command's own imports count too. With an agent (its
    lock held here) the hook queues and follows; the agent loads the deploy code."""
    heavy = {"docker", "requests", "paramiko", "httpx", "boto3", "cryptography", "rich"}
    monkeypatch.delenv("SSH_ORIGINAL_COMMAND", raising=False)
    shell = imported_by(["git-shell", "--key", "laptop"])  # refused: no command
    assert "hostctl.push.shell" in shell
    assert packages(shell) & heavy == set()
    assert "hostctl.host" not in shell

    repo = tmp_path / "blog.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    monkeypatch.setenv("GIT_DIR", str(repo))
    with file_lock(Settings.from_env().paths.agent_lock):  # the agent's, as it runs
        hook = imported_by(["git-hook", "pre-receive"], f"{'0' * 40} {'1' * 40} refs/heads/main\n")
    assert "hostctl.push.hook" in hook
    assert packages(hook) & (heavy - {"rich"}) == set()  # rich prints its lines
    assert "hostctl.deploy.pipeline" not in hook and "hostctl.reconcile" not in hook
