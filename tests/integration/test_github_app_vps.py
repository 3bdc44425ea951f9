"""The GitHub App on a fresh VPS (tests/harness/systemd_vps.py), for real: `hostctl setup`
answered `app` in a terminal, the browser played through the box's edge and the GitHub
double, `apps create --repo`, a signed push to the App's one webhook through the edge,
the app deployed and served in the box, its commit status pending then success, and
nothing made per repository on GitHub.

The double stands for a GitHub Enterprise Server: https (a CA made here, which the box
trusts as an admin would: the system store, and SSL_CERT_FILE for hostctl's Python) on
the box network's gateway, the one address both the box and this machine reach."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import html
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.doubles.github import GitHubDouble
from tests.harness.agent import installation_created, push_payload
from tests.harness.env import NAMESPACE, REPO
from tests.harness.systemd_vps import SystemdVps, systemd_vps_image
from tests.harness.terminal import converse
from tests.harness.vps import dependency_wheels

pytestmark = pytest.mark.integration

APP_IMAGE = "python:3.11-slim-bookworm"  # examples/hello's base image
HOOKS = "hooks.vps.test"  # the box's public webhook hostname (agent.public_url)
CA_IN_BOX = "/usr/local/share/ca-certificates/github-double.crt"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's store, once the CA is added
BLOG = "me/blog"


def make_tls(folder: Path, address: str) -> tuple[Path, ssl.SSLContext]:
    """A CA (its certificate written to ``folder``) and a server context for ``address``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        built = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            ip = x509.IPAddress(ipaddress.ip_address(address))
            built = built.add_extension(x509.SubjectAlternativeName([ip]), critical=False)
        return built.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("hostctl test CA", ca_key, "hostctl test CA", ca_key, True)
    server = certificate(address, key, "hostctl test CA", ca_key, False)
    pem = serialization.Encoding.PEM
    ca_file, chain, key_file = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(pem))
    chain.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return ca_file, context


def gateway(box: SystemdVps) -> str:
    shown = subprocess.run(
        ["docker", "inspect", "-f", "{{ .NetworkSettings.Gateway }}", box.name],
        check=True,
        capture_output=True,
        text=True,
    )
    return shown.stdout.strip()


@pytest.fixture(scope="module")
def box(engine: None) -> Iterator[SystemdVps]:
    vps = SystemdVps.start(systemd_vps_image(), NAMESPACE, suffix="-ghapp")
    try:
        vps.use_wheels(dependency_wheels())
        yield vps
    finally:
        vps.remove()


@pytest.fixture(scope="module")
def tls(box: SystemdVps, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    return make_tls(tmp_path_factory.mktemp("tls"), gateway(box))


@pytest.fixture(scope="module")
def github(box: SystemdVps, tls: tuple[Path, ssl.SSLContext]) -> Iterator[GitHubDouble]:
    double = GitHubDouble(address=gateway(box), tls=tls[1]).start()
    yield double
    double.stop()


def install_from_a_laptop(box: SystemdVps, home: Path) -> None:
    """`hostctl setup root@BOX --non-interactive`: hostctl, the engine, the edge and the
    agent on the box, as a person starts."""
    done = box.set_up_from_a_laptop(home)
    assert done.returncode == 0, done.stdout + done.stderr


def trust_the_double(box: SystemdVps, ca: Path) -> None:
    """The box trusts the Enterprise server's CA (git: the system store; hostctl's Python:
    SSL_CERT_FILE, for the agent in a drop-in), and has a public webhook URL."""
    subprocess.run(["docker", "cp", str(ca), f"{box.name}:{CA_IN_BOX}"], check=True)
    box.exec("update-ca-certificates")
    dropin = f"[Service]\nEnvironment=SSL_CERT_FILE={CA_BUNDLE}\n"
    box.exec("mkdir", "-p", "/etc/systemd/system/hostctl-agent.service.d")
    box.exec("sh", "-c", "cat > /etc/systemd/system/hostctl-agent.service.d/ca.conf", input=dropin)
    box.exec("mkdir", "-p", "/etc/hostctl")
    config = box.read("/etc/hostctl/hostctl.yml")
    assert "agent:" not in config, config
    box.exec(
        "sh",
        "-c",
        "cat >> /etc/hostctl/hostctl.yml",
        input=f"agent:\n  public_url: http://{HOOKS}\n",
    )
    box.exec("systemctl", "daemon-reload")
    box.exec("systemctl", "restart", "hostctl-agent")
    wait_for(lambda: hooks_answer(box), "the agent's webhooks through the edge")


def hooks_answer(box: SystemdVps) -> bool:
    try:
        return box.get(HOOKS, "/hooks/github-app/new/unknown").status_code == 404
    except OSError:
        return False


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.5)


class Browser:
    """A person's browser: opens the setup URL once setup prints it, posts the manifest to
    GitHub and follows GitHub's redirect back; every page of the box through its edge."""

    def __init__(self, box: SystemdVps, ca: Path) -> None:
        self.box, self.ca = box, ca
        self.manifest: dict[str, Any] = {}
        self.back: httpx.Response | None = None
        self.failure: BaseException | None = None

    def watch(self, shown: str) -> None:
        found = re.search(r"(\S+/hooks/github-app/new/[\w-]+)\r?\n", shown)
        if found is None or self.back is not None or self.failure is not None:
            return
        try:
            self.back = self.browse(found[1])
        except BaseException as exc:  # reported by the test, not inside converse
            self.failure = exc

    def open(self, url: str) -> httpx.Response:
        split = urlsplit(url)
        assert split.hostname == HOOKS, url
        path = f"{split.path}?{split.query}" if split.query else split.path
        return self.box.get(HOOKS, path)

    def browse(self, url: str) -> httpx.Response:
        page = self.open(url)
        assert page.status_code == 200, page.text
        action = html.unescape(re.search(r'action="([^"]+)"', page.text)[1])  # type: ignore[index]
        field = re.search(r'name=manifest value="([^"]+)"', page.text)[1]  # type: ignore[index]
        self.manifest = json.loads(html.unescape(field))
        to_github = httpx.post(
            action,
            data={"manifest": html.unescape(field)},
            verify=ssl.create_default_context(cafile=self.ca),
            timeout=30,
        )
        assert to_github.status_code == 302, to_github.text
        return self.open(to_github.headers["location"])


def deliver(box: SystemdVps, secret: str, event: str, payload: dict[str, Any]) -> httpx.Response:
    """A signed delivery to the App's webhook, through the box's edge, as GitHub sends it."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Host": HOOKS,
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    return httpx.post(f"http://{box.address}/hooks/github", content=body, headers=headers)


@pytest.mark.timeout(1200)  # a box set up from scratch, then an image built in it
def test_setup_with_the_app_then_a_push_deploys_with_nothing_per_repository(
    box: SystemdVps,
    github: GitHubDouble,
    tls: tuple[Path, ssl.SSLContext],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ca = tls[0]
    install_from_a_laptop(box, tmp_path_factory.mktemp("laptop"))
    trust_the_double(box, ca)
    box.load_image(APP_IMAGE)

    # `hostctl setup` in a terminal on the box, the GitHub question answered `app`.
    in_box = ["env", f"HOSTCTL_GITHUB_API_URL={github.url}", f"SSL_CERT_FILE={CA_BUNDLE}"]
    browser = Browser(box, ca)
    answers = [
        (b"Domain for your apps", b"\r"),
        (b"Tailscale auth key", b"\r"),
        (b"GitHub token", b"app\r"),
        (b"Offsite backup target", b"\r"),
        (b"Turn on the firewall", b"n\r"),
    ]
    argv = ["docker", "exec", "--interactive", "--tty", box.name, *in_box, "hostctl", "setup"]
    status, shown, unanswered = converse(argv, dict(os.environ), answers, 300, browser.watch)
    output = shown.replace("\r\n", "\n")
    assert browser.failure is None, f"{browser.failure!r}\n{output}"
    assert status == 0 and unanswered == [], output
    assert browser.back is not None and browser.back.status_code == 200, output
    assert "is ready" in browser.back.text, browser.back.text
    (app,) = github.apps.values()
    assert re.search(r"applied +github", output), output
    assert f"{github.origin}/apps/{app.slug}/installations/new" in output
    assert browser.manifest["hook_attributes"]["url"] == f"http://{HOOKS}/hooks/github"
    assert browser.manifest["default_events"] == ["push"]
    assert box.exec("stat", "-c", "%a", "/etc/hostctl/github-app.pem").stdout.strip() == "600"
    assert app.pem not in output

    # The person installs the App on me/blog; GitHub tells the App's webhook.
    bare = github.git_repo(BLOG)
    installation = github.install(app.id, "me", [BLOG])
    recorded = deliver(
        box,
        app.webhook_secret,
        "installation",
        installation_created(installation, "me", [BLOG]),
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"status": "recorded: installation created (me)"}

    created = box.exec(*in_box, "hostctl", "apps", "create", "blog", "--repo", BLOG)
    assert f"(installation {installation}) can read {BLOG}" in created.stdout, created.stdout

    # The code is on GitHub; a push to the App's webhook deploys it.
    work = Path(tmp_path_factory.mktemp("work")) / "blog"
    shutil.copytree(REPO / "examples" / "hello", work)
    for argv_git in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "blog"],
        ["push", "-q", str(bare), "main"],
    ):
        subprocess.run(["git", "-C", str(work), *argv_git], check=True)
    sha = subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    queued = deliver(box, app.webhook_secret, "push", push_payload(sha, full_name=BLOG))
    assert queued.status_code == 202, queued.text
    assert queued.json()["jobs"][0]["app"] == "blog"

    statuses = github.repos[BLOG].statuses
    deadline = time.monotonic() + 300
    while len(statuses.get(sha, [])) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    journal = box.exec("journalctl", "-u", "hostctl-agent", "--no-pager", check=False).stdout
    jobs = box.exec("hostctl", "jobs", "blog", check=False)
    why = f"{journal[-6000:]}\n{jobs.stdout}{jobs.stderr}\n{github.requests[-20:]}"
    assert [s["state"] for s in statuses.get(sha, [])] == ["pending", "success"], why
    assert "Release 1 is live" in statuses[sha][1]["description"]
    assert "Hello from hostctl" in box.get("blog.localhost").text
    fetched = [r for r in github.requests if r.path == f"/{BLOG}.git/git-upload-pack"]
    assert fetched and all(r.status == 200 for r in fetched)

    # Nothing per repository on GitHub: no webhook, no deploy key, not even an attempt.
    assert github.repos[BLOG].hooks == [] and github.repos[BLOG].keys == []
    assert not github.calls("POST", r"/hooks$|/keys$")
    for token in github.minted:  # installation tokens stay in memory
        assert token not in journal
        leaked = box.exec("grep", "-rl", token, "/etc", "/var/lib/hostctl", "/root", check=False)
        assert leaked.stdout == "", leaked.stdout

    # `github status` names the repositories the installation sees, as GitHub told the App.
    shown_status = box.exec(*in_box, "hostctl", "github", "status", "--json")
    found = json.loads(shown_status.stdout)
    assert found["mode"] == "app" and found["app"] == app.slug, found
    assert found["installations"] == [
        {
            "id": installation,
            "account": "me",
            "repository_selection": "selected",
            "repositories": [BLOG],
        }
    ], found
    text = box.exec(*in_box, "hostctl", "github", "status").stdout
    assert f"me (selected repositories): {BLOG}" in text, text
