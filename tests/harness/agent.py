"""Running the agent (`hostctl serve`) as a real process, and talking to it over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostctl.agent.listen import bind
from hostctl.agent.server import Handler, Server
from tests.harness.hostctl import Hostctl


@dataclass
class AgentProcess:
    hostctl: Hostctl
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None)
    listen_flag: bool = True  # False: the addresses come from hostctl.yml

    def start(self) -> AgentProcess:
        log = self.log_path.open("ab")
        listen = ["--listen", f"127.0.0.1:{self.port}"] if self.listen_flag else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hostctl", "serve", *listen, "--workers", "2"],
            env=self.hostctl.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the agent exited:\n{self.log()}"
            try:
                if self.request("GET", "/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the agent did not answer:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw.decode(errors="replace")
        finally:
            connection.close()

    def oversized(self, app: str, length: int) -> tuple[int, str]:
        """Declare a huge body and send only its start: the agent must answer at once."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(
                f"POST /hooks/github/{app} HTTP/1.1\r\nHost: agent\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
                "X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\n\r\n".encode()
                + b" " * 65536
            )
            status_line = sock.makefile("rb").readline().decode()
        return int(status_line.split()[1]), status_line

    def deliver(
        self,
        app: str,
        payload: dict[str, Any] | bytes,
        secret: str | None,
        event: str = "push",
        delivery: str | None = None,
        signature: str | None = None,
    ) -> tuple[int, Any]:
        """POST a webhook the way GitHub does: raw JSON body, HMAC-SHA256 signature."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/test",
        }
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = sign(secret, body)
        return self.request("POST", f"/hooks/github/{app}", body, headers)


@contextmanager
def served(handler: Handler, max_body: int = 1024 * 1024) -> Iterator[str]:
    """The agent's HTTP server in this process, on a free loopback port: its base URL."""
    listener = bind(("127.0.0.1", 0))
    server = Server([listener], handler, max_body)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.stop()
        thread.join()
        server.drain(5)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_payload(
    commit: str,
    branch: str = "main",
    full_name: str = "me/app",
    repository_id: int | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A push event as GitHub sends it (the fields hostctl reads); GitHub's id for the
    repository only when given, as other forges' payloads may lack one."""
    repository = {"full_name": full_name, "name": full_name.split("/")[1]}
    return {
        "ref": f"refs/heads/{branch}",
        "before": "1" * 40,
        "after": commit,
        "deleted": False,
        "repository": repository | ({"id": repository_id} if repository_id else {}),
        "pusher": {"name": "test"},
        **more,
    }


def installation_created(installation: int, login: str, repos: list[str]) -> dict[str, Any]:
    """The `installation` event GitHub sends the App when someone installs it on some of
    their repositories."""
    return {
        "action": "created",
        "installation": {
            "id": installation,
            "account": {"login": login},
            "repository_selection": "selected",
        },
        "repositories": [{"full_name": repo} for repo in repos],
    }


def job_rows(hostctl: Hostctl, app: str) -> list[dict[str, Any]]:
    """The app's jobs, oldest first, read straight from the state database."""
    with sqlite3.connect(hostctl.root / "state.db", timeout=30) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM jobs WHERE app = ? ORDER BY id", (app,)).fetchall()
        return [dict(r) for r in rows]


def wait_for_jobs(
    hostctl: Hostctl, app: str, count: int = 1, timeout: float = 600
) -> list[dict[str, Any]]:
    """The app's jobs once there are ``count`` and none is queued or running."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = job_rows(hostctl, app)
        if len(found) >= count and all(j["status"] not in ("queued", "running") for j in found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"jobs of {app} did not finish: {found}")
