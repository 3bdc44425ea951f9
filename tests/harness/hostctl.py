"""Helpers shared by the tests: running the CLI, fixture repos, HTTP through the edge, load."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apps"


@dataclass
class Hostctl:
    """Runs the real CLI in a subprocess with an isolated root, namespace and edge port."""

    env: dict[str, str]

    @property
    def port(self) -> int:
        return int(self.env["HOSTCTL_HTTP_PORT"])

    @property
    def root(self) -> Path:
        return Path(self.env["HOSTCTL_ROOT"])

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "hostctl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"hostctl {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "hostctl", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def get(self, hostname: str, path: str = "/", timeout: float = 30) -> tuple[int, str]:
        return http_get(self.port, hostname, path, timeout)


def http_get(
    port: int, hostname: str, path: str = "/", timeout: float = 30, method: str = "GET"
) -> tuple[int, str]:
    """One request on a fresh connection, as a browser behind Cloudflare would make it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers={"Host": hostname, "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def git(repo: Path, *args: str) -> str:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(destination: Path, fixture: str, files: dict[str, str] | None = None) -> Path:
    """A git repository holding a fixture app (plus any files given), one commit on main."""
    shutil.copytree(FIXTURES / fixture, destination)
    for name, text in (files or {}).items():
        (destination / name).write_text(text)
    git(destination, "init", "--quiet", "--initial-branch=main")
    git(destination, "add", "-A")
    git(destination, "commit", "--quiet", "-m", f"{fixture} fixture")
    return destination


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Load:
    """Continuous requests through the edge from several threads, counting every outcome."""

    port: int
    hostname: str
    paths: tuple[str, ...] = ("/", "/slow")
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker(self, path: str) -> None:
        while not self.stop.is_set():
            try:
                status, body = http_get(self.port, self.hostname, path, timeout=60)
                outcome = f"{path} {status}"
                ok = 200 <= status < 300
                detail = body[:80]
            except OSError as exc:
                outcome, ok, detail = f"{path} {type(exc).__name__}", False, str(exc)
            with self.lock:
                self.outcomes[outcome] += 1
                if not ok:
                    self.failures.append(f"{outcome}: {detail}")
            if path == "/":
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for path in self.paths:
            for _ in range(2 if path == "/" else 3):
                thread = threading.Thread(target=self.worker, args=(path,), daemon=True)
                thread.start()
                self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())
