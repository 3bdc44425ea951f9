"""The edge cannot be hurt from outside an app: one Caddy only, a config file that a full
disk leaves whole, no secrets in Caddy's environment, no way around the tunnel, and a
webhook hostname no app can take. Real Caddy, real Docker, the CLI in a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostctl.state import Store
from tests.doubles.cloudflare import TOKEN, CloudflareDouble
from tests.harness.env import NAMESPACE, isolated_env, stop_caddy
from tests.harness.hostctl import Hostctl

pytestmark = pytest.mark.integration
SECRET = "cf-secret-0123456789abcdef"


@pytest.fixture
def cli(engine: None, tmp_path: Path) -> Iterator[Hostctl]:
    """The CLI with an edge of its own; its environment holds a Cloudflare token."""
    runner = Hostctl(isolated_env(tmp_path, NAMESPACE) | {"CLOUDFLARE_API_TOKEN": SECRET})
    yield runner
    stop_caddy(tmp_path)
    for pid in caddys(runner):  # a second Caddy (the bug these tests catch) goes too
        os.kill(pid, signal.SIGKILL)


def caddys(cli: Hostctl) -> list[int]:
    """Every Caddy process running a config from this root's Caddy directory."""
    config = str(cli.root / "caddy" / "caddy.json").encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and config in argv and Path(argv[0].decode()).name == "caddy":
            found.append(int(entry.name))
    return found


def the_caddy(cli: Hostctl) -> int:
    (pid,) = caddys(cli)
    return pid


def admin(cli: Hostctl, path: str) -> object:
    transport = httpx.HTTPTransport(uds=str(cli.root / "caddy" / "admin.sock"))
    with httpx.Client(transport=transport, base_url="http://localhost") as client:
        return client.get(path).json()


def test_a_stopped_caddy_is_reported_never_joined_by_a_second(cli: Hostctl) -> None:
    cli.run("apps")
    pid = the_caddy(cli)
    os.kill(pid, signal.SIGSTOP)  # its admin API stops answering; the port stays bound
    try:
        refused = cli.run("apps", check=False)
        assert caddys(cli) == [pid], "no second Caddy beside the stopped one"
        assert refused.returncode == 1
        assert f"Error: Caddy (pid {pid}) is running and is stopped (SIGSTOP)" in refused.stderr
        assert f"kill -CONT {pid}" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        os.kill(pid, signal.SIGCONT)
    cli.run("apps")
    assert the_caddy(cli) == pid
    assert (cli.root / "caddy" / "caddy.pid").read_text() == f"{pid}\n", "hostctl knows it"


def test_a_lost_pid_file_still_finds_the_running_caddy(cli: Hostctl) -> None:
    cli.run("apps")
    pid = the_caddy(cli)
    (cli.root / "caddy" / "caddy.pid").unlink(missing_ok=True)
    (cli.root / "caddy" / "admin.sock").unlink()  # and the admin API is unreachable
    refused = cli.run("apps", check=False)
    assert caddys(cli) == [pid], "no second Caddy beside the unreachable one"
    assert refused.returncode == 1
    assert f"Caddy (pid {pid}) is running, but its admin API" in refused.stderr
    os.kill(pid, signal.SIGTERM)  # gone: the next command starts a new one
    deadline = time.monotonic() + 15
    while pid in caddys(cli):
        assert time.monotonic() < deadline, "Caddy did not exit on SIGTERM"
        time.sleep(0.1)
    cli.run("apps")
    assert the_caddy(cli) != pid


def test_caddy_does_not_inherit_hostctls_environment(cli: Hostctl) -> None:
    cli.run("apps")
    environ = Path(f"/proc/{the_caddy(cli)}/environ").read_bytes()
    assert SECRET.encode() not in environ
    names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
    assert names == {"PATH", "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}


def test_a_full_disk_leaves_caddy_json_whole(cli: Hostctl, app_name: str) -> None:
    caddy_dir = cli.root / "caddy"
    caddy_dir.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(caddy_dir)],
        check=True,
    )
    try:
        cli.run("apps", "create", f"{app_name}a", "--domain", f"{app_name}a.test")
        config = caddy_dir / "caddy.json"
        before = config.read_bytes()
        filler = (caddy_dir / "filler").open("wb", buffering=0)
        with filler, pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"\0" * 4096)
        # A route table that needs more room than the old one had.
        domains = [f"d{i}-{app_name}b.test" for i in range(150)]
        Store(cli.root / "state.db").insert_app(f"{app_name}b", domains)
        full = cli.run("apps", check=False)
        assert config.read_bytes() == before, "the last config is untouched"
        json.loads(before)
        assert full.returncode == 1
        assert f"Error: cannot write Caddy's config {config}: No space left" in full.stderr
        assert "Traceback" not in full.stderr
        assert list(caddy_dir.glob(".caddy.json.*")) == [], "no half-written file left"

        (caddy_dir / "filler").unlink()
        cli.run("apps")  # the next command writes the whole route table
        routes = json.loads(config.read_text())["apps"]["http"]["servers"]["edge"]["routes"]
        hosts = {h for route in routes for match in route.get("match", []) for h in match["host"]}
        assert f"d149-{app_name}b.test" in hosts
    finally:
        stop_caddy(cli.root)
        subprocess.run(["umount", "--lazy", str(caddy_dir)], check=False)


def non_loopback_address() -> str:
    """This machine's address towards the outside (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: only picks the route
        return str(probe.getsockname()[0])


def network_gateway() -> str:
    done = subprocess.run(
        ["docker", "network", "inspect", NAMESPACE, "--format", "{{json .IPAM.Config}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)[0]["Gateway"])


def reach_from_a_container(address: str, port: int) -> str:
    """What a container on hostctl's network (as cloudflared is) gets from the edge."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        f"request = urllib.request.Request('http://{address}:{port}/', "
        "headers={'Host': 'nothing.test'})\n"
        "try: urllib.request.urlopen(request, timeout=10)\n"
        "except urllib.error.HTTPError as e: print(e.code)\n"
    )
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            f"--label=io.hostctl.namespace={NAMESPACE}",
            f"--network={NAMESPACE}",
            "python:3.11-slim-bookworm",
            "python",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.strip() or done.stderr.strip()


@pytest.fixture
def connected(cli: Hostctl, double: CloudflareDouble) -> Iterator[Hostctl]:
    """The CLI connected to example.com on the Cloudflare double."""
    cli.env["CLOUDFLARE_BASE_URL"] = double.url
    double.add_zone("example.com")
    yield cli
    subprocess.run(
        ["docker", "rm", "-f", f"{NAMESPACE}-cloudflared"], capture_output=True, check=False
    )


def test_with_a_tunnel_the_edge_listens_where_the_tunnel_comes_from_only(
    connected: Hostctl,
) -> None:
    cli = connected
    outside = non_loopback_address()
    cli.run("apps")
    assert http_get_at(outside, cli.port)[0] == 404, "no tunnel: every interface, as before"

    cli.run("cloudflare", "connect", "--token", TOKEN, "--domain", "example.com")
    gateway = network_gateway()
    listen = admin(cli, "/config/apps/http/servers/edge/listen")
    assert listen == [f"127.0.0.1:{cli.port}", f"{gateway}:{cli.port}"]
    with pytest.raises(ConnectionRefusedError):
        http_get_at(outside, cli.port)
    assert http_get_at("127.0.0.1", cli.port)[0] == 404
    assert reach_from_a_container(gateway, cli.port) == "404", "cloudflared reaches it"

    # hostctl.yml can say otherwise.
    (cli.root.parent / "etc" / "hostctl.yml").write_text("edge: {listen: ['*']}\n")
    cli.run("apps")
    assert admin(cli, "/config/apps/http/servers/edge/listen") == [f":{cli.port}"]
    assert http_get_at(outside, cli.port)[0] == 404


def http_get_at(address: str, port: int) -> tuple[int, str]:
    """A request to the edge at one of this machine's addresses."""
    connection = http.client.HTTPConnection(address, port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": "nothing.test", "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_the_webhook_hostname_is_reserved_and_routed_first(
    connected: Hostctl, app_name: str
) -> None:
    cli = connected
    cli.run("cloudflare", "connect", "--token", TOKEN, "--domain", "example.com")
    reserved = "Error: hooks.example.com is reserved for hostctl's webhooks"
    for command in (
        ("apps", "create", "hooks"),
        ("apps", "create", app_name, "--domain", "hooks.example.com"),
    ):
        refused = cli.run(*command, check=False)
        assert refused.returncode == 1 and reserved in refused.stderr, refused.stderr
    assert "hooks" not in cli.run("apps").stdout
    cli.run("apps", "create", app_name, "--domain", f"{app_name}.example.com")
    refused = cli.run("domains", "add", app_name, "hooks.example.com", check=False)
    assert refused.returncode == 1 and reserved in refused.stderr

    # An app that got the name before it was reserved never takes the deliveries.
    Store(cli.root / "state.db").insert_app(f"{app_name}old", ["hooks.example.com"])
    cli.run("apps")
    routes = admin(cli, "/config/apps/http/servers/edge/routes")
    assert isinstance(routes, list) and routes[0]["match"] == [
        {"host": ["hooks.example.com"], "path": ["/hooks/*"]}
    ]
    status, _ = cli.get("hooks.example.com", f"/hooks/github/{app_name}")
    assert status == 502, "sent to the agent (not running here), not to the app"
    cli.run("apps", "destroy", app_name, "--yes")
    cli.run("apps", "destroy", f"{app_name}old", "--yes")


def test_without_a_tunnel_the_configured_domain_reserves_hooks(cli: Hostctl, app_name: str) -> None:
    (cli.root.parent / "etc").mkdir(exist_ok=True)
    (cli.root.parent / "etc" / "hostctl.yml").write_text("domain: example.org\n")
    refused = cli.run("apps", "create", "hooks", check=False)
    assert refused.returncode == 1
    assert "Error: hooks.example.org is reserved for hostctl's webhooks" in refused.stderr
