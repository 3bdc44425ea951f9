"""Containers are hardened: a private network per app (no way to another app, the host or
the cloud's metadata service), fewer capabilities, a non-root user that can still write
/data, and builds bounded in time and processes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.env import NAMESPACE
from tests.harness.hostctl import Hostctl, commit, make_repo

pytestmark = pytest.mark.integration

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as exc:
    print(type(exc).__name__)
"""


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def web_container(app: str) -> str:
    found = docker(
        "ps",
        "-q",
        "--filter",
        f"label=io.hostctl.namespace={NAMESPACE}",
        "--filter",
        f"label=io.hostctl.app={app}",
        "--filter",
        "label=io.hostctl.process=web",
    ).split()
    assert len(found) == 1, found
    return found[0]


def inspect(container: str) -> dict[str, object]:
    return dict(json.loads(docker("inspect", container))[0])


def connect_from(container: str, address: str, port: int) -> str:
    return docker("exec", container, "python", "-c", CONNECT, address, str(port)).strip()


@pytest.fixture
def two_apps(hostctl: Hostctl, tmp_path: Path, app_name: str) -> Iterator[tuple[str, str]]:
    names = (app_name, f"{app_name}b")
    for name in names:
        hostctl.run("apps", "create", name, "--domain", f"{name}.iso.test")
        hostctl.run("deploy", name, str(make_repo(tmp_path / name, "python")))
    yield names
    for name in names:
        hostctl.run("apps", "destroy", name, "--yes", check=False)


def test_an_app_reaches_neither_another_app_nor_the_host_nor_metadata(hostctl, two_apps):
    first, second = two_apps
    a, b = inspect(web_container(first)), inspect(web_container(second))
    networks_a = a["NetworkSettings"]["Networks"]  # type: ignore[index]
    networks_b = b["NetworkSettings"]["Networks"]  # type: ignore[index]
    b_address = next(iter(networks_b.values()))["IPAddress"]
    gateway = next(iter(networks_a.values()))["Gateway"]
    container = str(a["Id"])
    assert connect_from(container, b_address, 5000) in ("TimeoutError", "timeout")
    # The edge's port on the host, through the app's gateway: refused by hostctl's rule.
    assert connect_from(container, gateway, hostctl.port) == "ConnectionRefusedError"
    assert connect_from(container, "169.254.169.254", 80) == "ConnectionRefusedError"
    for name in two_apps:  # the edge still reaches both
        assert hostctl.get(f"{name}.iso.test") == (200, "python v1\n")
    assert list(networks_a) == [f"{NAMESPACE}-{first}"]
    assert list(networks_b) == [f"{NAMESPACE}-{second}"]

    hostctl.run("apps", "destroy", second, "--yes")
    listed = docker("network", "ls", "-q", "--filter", f"name=^{NAMESPACE}-{second}$")
    assert listed.strip() == ""


def write_as_root(app: str) -> None:
    """What a release that ran as root left on the app's volume."""
    docker(
        "run",
        "--rm",
        "--label",
        f"io.hostctl.namespace={NAMESPACE}",
        "-v",
        f"{NAMESPACE}-{app}-data:/data",
        "python:3.11-slim-bookworm",
        "sh",
        "-c",
        "echo old > /data/old.txt && mkdir /data/dir && echo x > /data/dir/f && chmod 700 /data",
    )


def test_containers_run_as_a_user_with_fewer_capabilities_and_keep_root_written_data(
    hostctl, tmp_path, app_name
):
    hostctl.run("apps", "create", app_name, "--domain", f"{app_name}.user.test")
    write_as_root(app_name)
    try:
        hostctl.run("deploy", app_name, str(make_repo(tmp_path / "repo", "python")))
        web = inspect(web_container(app_name))
        assert web["Config"]["User"] == "10001:10001"  # type: ignore[index]
        dropped = set(web["HostConfig"]["CapDrop"])  # type: ignore[index]
        assert {"NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"} <= dropped
        assert not {"SETUID", "SETGID", "CHOWN"} & dropped
        written = docker(
            "exec",
            str(web["Id"]),
            "sh",
            "-c",
            "id -u && echo new >> /data/old.txt && echo y > /data/dir/g && cat /data/old.txt",
        )
        assert written.split() == ["10001", "old", "new"]
        assert hostctl.get(f"{app_name}.user.test") == (200, "python v1\n")
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


SWITCHING_USER = """\
FROM python:3.11-slim-bookworm
COPY serve.py /serve.py
CMD ["sh", "-c", "chown -R 1000:1000 /data && exec setpriv --reuid=1000 --regid=1000 \
--clear-groups python3 /serve.py"]
"""
NAMED_USER = """\
FROM python:3.11-slim-bookworm
RUN useradd --uid 1234 web
COPY serve.py /serve.py
USER web
CMD ["python3", "/serve.py"]
"""
SERVE = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open("/data/dir/touched", "w").close()
        open("/data/old.txt", "a").close()
        body = f"uid {os.getuid()}".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.mark.parametrize(
    ("dockerfile", "uid"), [(SWITCHING_USER, 1000), (NAMED_USER, 1234)], ids=["gosu", "named"]
)
def test_images_of_their_own_user_write_root_written_data(
    hostctl, tmp_path, app_name, dockerfile, uid
):
    repo = make_repo(tmp_path / "repo", "dockerfile", {"Dockerfile": dockerfile, "serve.py": SERVE})
    hostctl.run("apps", "create", app_name, "--domain", f"{app_name}.own.test")
    write_as_root(app_name)
    try:
        hostctl.run("deploy", app_name, str(repo))
        assert hostctl.get(f"{app_name}.own.test") == (200, f"uid {uid}")
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


HUNG = """\
FROM python:3.11-slim-bookworm
RUN sleep 1000 && echo {marker}
"""


def test_a_hung_build_times_out_and_the_old_release_keeps_serving(hostctl, live_app):
    app, hostname, repo = live_app
    commit(repo, {"Dockerfile": HUNG.format(marker=app), "hostctl.yml": "deploy_timeout: 4\n"})
    started = time.monotonic()
    done = hostctl.run("deploy", app, str(repo), check=False)
    assert done.returncode == 1
    assert "deploy_timeout (4s)" in done.stderr + done.stdout
    assert time.monotonic() - started < 30
    assert hostctl.get(hostname) == (200, "python v1\n")
    assert "BuildKit" in done.stdout or "classic builder" in done.stdout
    deadline = time.monotonic() + 10  # the engine kills the build's container or step
    while app in docker("ps", "--no-trunc", "--format", "{{.Command}}") or step_runs(app):
        assert time.monotonic() < deadline, "the hung build step still runs"
        time.sleep(0.2)


def step_runs(marker: str) -> bool:
    """Whether a process with ``marker`` in its command line runs (a BuildKit step is no
    container `docker ps` lists)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            pass  # the process ended
    return False


# More processes than any bound set on this engine: its BuildKit group is shared by every
# test's builds, each setting its own config's bound (200 here, 2048 by default) as it
# starts, so another test's build may raise this one's bound meanwhile.
FORK_BOMB = """\
FROM python:3.11-slim-bookworm
RUN for i in $(seq 5000); do sleep 30 & done; wait
"""


def test_a_fork_bomb_in_a_build_step_fails_the_build(hostctl, tmp_path, app_name):
    etc = Path(hostctl.env["HOSTCTL_ETC"])
    etc.mkdir(exist_ok=True)
    config = etc / "hostctl.yml"
    before = config.read_text() if config.exists() else None
    config.write_text((before or "") + "build:\n  pids: 200\n")
    repo = make_repo(tmp_path / "repo", "dockerfile", {"Dockerfile": FORK_BOMB})
    hostctl.run("apps", "create", app_name, "--domain", f"{app_name}.bomb.test")
    try:
        started = time.monotonic()
        done = hostctl.run("deploy", app_name, str(repo), check=False)
        assert done.returncode == 1
        assert "the build failed" in done.stderr
        assert "fork" in done.stdout.lower(), done.stdout  # EAGAIN from pids.max
        assert time.monotonic() - started < 25  # not after the sleeps ended
    finally:
        if before is None:
            config.unlink()
        else:
            config.write_text(before)
        hostctl.run("apps", "destroy", app_name, "--yes")
