"""One crash-looping app does not disturb another: the agent follows Docker's events
without reloading the edge (real Caddy) on each of them, and a long-lived connection to
another app stays open (Caddy 2.6 closes every upgraded connection on each config load)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.agent import AgentProcess
from tests.harness.env import NAMESPACE, free_port, isolated_env, remove_labelled, stop_caddy
from tests.harness.hostctl import Hostctl, make_repo

pytestmark = pytest.mark.integration
CRASH_NAMESPACE = f"{NAMESPACE}cl"
CRASH_SECONDS = 10.0

# Serves normally until /data/crash exists; from then on each start exits after 0.5 s.
CRASHING_PROCFILE = (
    "web: sh -c 'test -e /data/crash && sleep 0.5 && exit 3; "
    "exec gunicorn app:app --bind 0.0.0.0:$PORT'\n"
)
# A WebSocket-like app: an `Upgrade: tick` request gets 101, then a line every 0.2 s.
TICKER = """\
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Upgrade") != "tick":
            body = b"ticker\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(101)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tick")
        self.end_headers()
        count = 0
        while True:
            self.wfile.write(b"%d\\n" % count)
            self.wfile.flush()
            count += 1
            time.sleep(0.2)


ThreadingHTTPServer(("", int(os.environ.get("PORT", "5000"))), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def crash_hostctl(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostctl]:
    root = tmp_path_factory.mktemp("crash")
    runner = Hostctl(isolated_env(root, CRASH_NAMESPACE))
    (root / "etc").mkdir()
    port = free_port()
    (root / "etc" / "hostctl.yml").write_text(f"agent:\n  listen: 127.0.0.1:{port}\n")
    runner.env["CRASH_AGENT_PORT"] = str(port)
    yield runner
    stop_caddy(root)
    remove_labelled(CRASH_NAMESPACE)


@pytest.fixture
def agent(crash_hostctl: Hostctl, tmp_path: Path) -> Iterator[AgentProcess]:
    port = int(crash_hostctl.env["CRASH_AGENT_PORT"])
    process = AgentProcess(crash_hostctl, port, tmp_path / "agent.log").start()
    yield process
    assert process.stop() == 0, process.log()


def deployed(hostctl: Hostctl, tmp_path: Path, name: str, files: dict[str, str]) -> str:
    repo = make_repo(tmp_path / name, "python", files)
    hostname = f"{name}.crash.test"
    hostctl.run("apps", "create", name, "--domain", hostname, "--repo", f"file://{repo}")
    hostctl.run("deploy", name)
    return hostname


@dataclass
class Ticks:
    """An upgraded connection through the edge, read in a thread: each line's arrival."""

    port: int
    hostname: str
    arrivals: list[float] = field(default_factory=list)
    ended: str | None = None

    def __enter__(self) -> Ticks:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.sendall(
            f"GET / HTTP/1.1\r\nHost: {self.hostname}\r\n"
            "Connection: Upgrade\r\nUpgrade: tick\r\n\r\n".encode()
        )
        self.lines = self.sock.makefile("rb")
        status = self.lines.readline()
        assert b" 101 " in status, status
        while self.lines.readline() not in (b"\r\n", b""):
            pass  # the response's headers
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        return self

    def read(self) -> None:
        try:
            while self.lines.readline():
                self.arrivals.append(time.monotonic())
            self.ended = "closed by the edge"
        except OSError as exc:
            self.ended = f"{type(exc).__name__}: {exc}"

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.reader.join(timeout=10)


def loads_since(caddy_log: Path, offset: int) -> int:
    """The configs Caddy loaded after ``offset``: each load stops the previous server."""
    with caddy_log.open("rb") as log:
        log.seek(offset)
        return log.read().count(b'"msg":"stopped previous server"')


def test_a_crash_looping_app_disturbs_no_other(crash_hostctl, agent, tmp_path, app_name):
    crashing, ticker = f"{app_name}a", f"{app_name}b"
    deployed(crash_hostctl, tmp_path, crashing, {"Procfile": CRASHING_PROCFILE})
    ticker_host = deployed(
        crash_hostctl, tmp_path, ticker, {"Procfile": "web: python tick.py\n", "tick.py": TICKER}
    )
    caddy_log = crash_hostctl.root / "caddy" / "caddy.log"
    web = docker(
        "ps",
        "-q",
        "--filter",
        f"label=io.hostctl.app={crashing}",
        "--filter",
        "label=io.hostctl.process=web",
    )
    time.sleep(2)  # the deploys' last events are handled
    with Ticks(crash_hostctl.port, ticker_host) as ticks:
        before = caddy_log.stat().st_size
        crash_hostctl.run("apps")  # reconciles: refreshes the edge with the same routes
        assert loads_since(caddy_log, before) == 0, "Caddy loaded an identical config again"
        docker("exec", web, "sh", "-c", "touch /data/crash && kill 1")
        started = time.monotonic()
        while time.monotonic() - started < CRASH_SECONDS:
            assert ticks.ended is None, f"{ticker}'s connection was cut: {ticks.ended}"
            time.sleep(0.2)
        restarts = int(docker("inspect", "-f", "{{.RestartCount}}", web))
        loads = loads_since(caddy_log, before)
        assert ticks.ended is None, f"{ticker}'s connection was cut: {ticks.ended}"
        assert ticks.arrivals and time.monotonic() - ticks.arrivals[-1] < 2
    assert restarts >= 4, f"{crashing} restarted only {restarts} times"
    assert loads <= 2, f"Caddy loaded {loads} configs while {crashing} restarted {restarts} times"
    assert f"event=route-held app={crashing}" in agent.log()
    for name in (crashing, ticker):
        crash_hostctl.run("apps", "destroy", name, "--yes")


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.strip()
