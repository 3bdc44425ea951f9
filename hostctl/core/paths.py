"""Every path hostctl reads or writes, in one place.

State lives under HOSTCTL_ROOT and the server's config under HOSTCTL_ETC, so a test or a
second instance isolates itself by setting those. Directories are created 0700 on first
use. `app_paths` answers "everything of app X on disk".
"""

from __future__ import annotations

import os
from pathlib import Path

# Where `hostctl setup USER@HOST` installs hostctl on a box (as install.sh does).
BOX_VENV = "/opt/hostctl/venv"
BOX_COMMAND = "/usr/local/bin/hostctl"

# What `hostctl setup` installs on a box beside hostctl's own state.
OS_RELEASE = Path("/etc/os-release")
SYSTEMD_UNITS = Path("/etc/systemd/system")
CADDY_UNIT = "hostctl-caddy.service"
AGENT_UNIT = "hostctl-agent.service"
DOCKER_DAEMON_JSON = Path("/etc/docker/daemon.json")


class Paths:
    def __init__(self, root: Path, etc: Path) -> None:
        self.root = root
        self.etc = etc
        self.database = root / "state.db"
        self.server_config = etc / "hostctl.yml"
        self.cloudflare_connection = etc / "cloudflare.json"
        self.github_connection = etc / "github.json"
        self.github_app_key = etc / "github-app.pem"  # the GitHub App's private key
        self.offsite = etc / "offsite.json"
        self.tailnet = etc / "tailnet.json"

    def dir(self, *parts: str) -> Path:
        """A private directory under the root, created on first use."""
        path = self.root.joinpath(*parts)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    # The server's own files (directories made on use).
    @property
    def cloudflare_state(self) -> Path:
        return self.dir("cloudflare") / "state.json"

    @property
    def caddy(self) -> Path:
        return self.dir("caddy")

    @property
    def caddy_pid(self) -> Path:
        """The pid of the Caddy hostctl started, so it never starts a second one."""
        return self.caddy / "caddy.pid"

    @property
    def litestream(self) -> Path:
        return self.dir("litestream")

    @property
    def known_hosts(self) -> Path:
        return self.dir("ssh") / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.dir("ssh") / "authorized_keys"

    # Locks (flock files; see hostctl.core.locks).
    def lock(self, name: str) -> Path:
        return self.dir("locks") / f"{name}.lock"

    @property
    def caddy_start_lock(self) -> Path:
        return self.lock("caddy-start")

    @property
    def agent_lock(self) -> Path:
        return self.lock("agent")

    def app_lock(self, app: str) -> Path:
        return self.lock(f"app-{app}")

    def retiring_lock(self, app: str) -> Path:
        """Shared while an app's old containers are being stopped (reconcile keeps off)."""
        return self.lock(f"retiring-{app}")

    def backup_lock(self, app: str) -> Path:
        return self.lock(f"backup-{app}")

    # An app's files.
    def logs(self, app: str) -> Path:
        return self.dir("logs", app)

    def release_log(self, app: str, number: int) -> Path:
        return self.root / "logs" / app / f"release-{number}.log"

    def job_log(self, app: str, job_id: int) -> Path:
        return self.logs(app) / f"job-{job_id}.log"

    def work(self, app: str) -> Path:
        """Where deploys unpack source trees (emptied by reconcile after a crash)."""
        return self.root / "work" / app

    def spooled_tree(self, app: str, commit: str) -> Path:
        """A pushed commit, exported while git's quarantine still holds it."""
        return self.dir("spool", app) / f"{commit}.tar"

    def build_repo(self, app: str) -> Path:
        """The bare repository deploys fetch into (layer cache for git sources)."""
        return self.dir("repos") / f"{app}.git"

    def push_repo(self, app: str) -> Path:
        """The bare repository `git push hostctl` writes to."""
        return self.root / "git" / f"{app}.git"

    def deploy_keys(self, app: str) -> Path:
        return self.root / "keys" / app

    def backups(self, app: str) -> Path:
        return self.dir("backups", app)

    def app_paths(self, app: str) -> list[Path]:
        """The app's files that `apps destroy` removes (backups and deploy keys have
        their own owners: `hostctl backups`, `apps disconnect`)."""
        return [self.root / "repos" / f"{app}.git", self.push_repo(app), self.root / "logs" / app]


class LaptopPaths:
    """hostctl's own files on the machine it is driven from: saved hosts and known host
    keys under HOSTCTL_CONFIG_DIR (default ~/.config/hostctl), built wheels under
    HOSTCTL_CACHE_DIR (default ~/.cache/hostctl)."""

    def __init__(self, config: Path, cache: Path) -> None:
        self.config = config
        self.cache = cache
        self.hosts = config / "hosts.json"
        self.known_hosts = config / "known_hosts"
        self.wheels = cache / "wheels"

    @classmethod
    def from_env(cls) -> LaptopPaths:
        home = Path.home()
        config = os.environ.get("HOSTCTL_CONFIG_DIR") or Path(
            os.environ.get("XDG_CONFIG_HOME") or home / ".config", "hostctl"
        )
        cache = os.environ.get("HOSTCTL_CACHE_DIR") or Path(
            os.environ.get("XDG_CACHE_HOME") or home / ".cache", "hostctl"
        )
        return cls(Path(config), Path(cache))
