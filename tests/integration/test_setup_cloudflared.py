"""The Cloudflare setup step in-process, against the Cloudflare double, with the real
Docker engine and Caddy. cloudflared's image cannot be pulled here, so the connector runs
a stand-in image (a local image that sleeps, built and labelled by the test): what is
checked is how hostctl starts it, its token in the environment and never in argv, and
Docker's restart policy."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostctl.cloudflare import connect
from hostctl.core.errors import HostctlError
from hostctl.credentials.cloudflare import load_connection
from hostctl.settings import Settings
from hostctl.setup import cloudflared
from hostctl.setup.answers import Answers
from hostctl.setup.steps import StepResult, run_steps
from tests.doubles.cloudflare import ACCOUNT, TOKEN, CloudflareDouble
from tests.harness.env import NAMESPACE, remove_labelled, stop_caddy

pytestmark = pytest.mark.integration
NS = f"{NAMESPACE}u"  # hostctl_env's namespace
STAND_IN = f"{NS}/cloudflared-standin:1"


@pytest.fixture
def box(
    engine: None, hostctl_env: Path, double: CloudflareDouble, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CloudflareDouble]:
    subprocess.run(
        [
            *("docker", "build", "-q", "-t", STAND_IN, "--label"),
            *(f"io.hostctl.namespace={NS}", "-"),
        ],
        input=b'FROM caddy:2.6\nENTRYPOINT ["sh", "-c", "exec sleep infinity", "cloudflared"]\n',
        capture_output=True,
        check=True,
    )
    monkeypatch.setattr(connect, "IMAGE", STAND_IN)
    (hostctl_env / "etc").mkdir(exist_ok=True)
    (hostctl_env / "etc" / "hostctl.yml").write_text("domain: example.com\n")
    try:
        yield double
    finally:
        stop_caddy(hostctl_env)
        remove_labelled(NS)


def run(answers: Answers, choose: connect.Choose | None = None) -> list[StepResult]:
    return run_steps(cloudflared.steps(Settings.from_env(), answers, choose), lambda _: None)


def inspect(name: str) -> dict[str, object]:
    done = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout)[0])


def test_connects_and_runs_cloudflared_with_the_token_in_its_environment(
    box: CloudflareDouble,
) -> None:
    zone = box.add_zone("example.com")
    box.add_zone("example.org", OTHER_ACCOUNT, "Other")  # another account, another domain
    answers = Answers(domain="example.com", cloudflare_token=TOKEN)
    assert [r.status for r in run(answers, never_asked)] == ["applied"]  # one match: no question
    (tunnel,) = box.live_tunnels()
    target = f"{tunnel['id']}.cfargotunnel.com"
    assert ("CNAME", "hooks.example.com", target, True) in {r[:4] for r in box.dns(zone)}

    found = inspect(f"{NS}-cloudflared")
    config, host_config = found["Config"], found["HostConfig"]
    assert isinstance(config, dict) and isinstance(host_config, dict)
    tokens = [e for e in config["Env"] if e.startswith("TUNNEL_TOKEN=")]
    assert len(tokens) == 1 and len(tokens[0]) > len("TUNNEL_TOKEN=")
    secret = tokens[0].removeprefix("TUNNEL_TOKEN=")
    argv = [*(config.get("Entrypoint") or []), *config["Cmd"], *map(str, found["Args"])]  # type: ignore[call-overload]
    assert config["Cmd"] == ["tunnel", "--no-autoupdate", "run"]
    assert not any(secret in arg or TOKEN in arg for arg in argv)
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"  # type: ignore[index]

    assert [r.status for r in run(answers)] == ["ok"], "a second run sees it all in place"
    assert [t["id"] for t in box.live_tunnels()] == [tunnel["id"]]

    subprocess.run(["docker", "stop", f"{NS}-cloudflared"], capture_output=True, check=True)
    assert [r.status for r in run(answers)] == ["applied"], "a stopped connector is restarted"
    assert [t["id"] for t in box.live_tunnels()] == [tunnel["id"]]


def test_a_refused_token_fails_naming_the_step(box: CloudflareDouble) -> None:
    box.add_zone("example.com")
    with pytest.raises(HostctlError) as raised:
        run(Answers(domain="example.com", cloudflare_token="refused-token"))
    assert raised.value.message.startswith(
        "setup step 'cloudflare' failed: Cloudflare rejected the API token"
    )
    assert "refused-token" not in raised.value.message
    assert box.live_tunnels() == []
    assert not Settings.from_env().paths.cloudflare_connection.exists()


def test_skipped_without_a_token(hostctl_env: Path) -> None:
    assert cloudflared.steps(Settings.from_env(), Answers(domain="example.com")) == []


OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"


def never_asked(what: str, question: str, options: list[tuple[str, str]]) -> str:
    raise AssertionError(f"asked {question!r} with one match: {options}")


def test_a_zone_in_several_accounts_is_an_error_naming_the_option_without_a_terminal(
    box: CloudflareDouble,
) -> None:
    box.add_zone("example.com", ACCOUNT, "Main")
    box.add_zone("example.com", OTHER_ACCOUNT, "Other")
    answers = Answers(domain="apps.example.com", cloudflare_token=TOKEN)
    with pytest.raises(HostctlError) as raised:
        run(answers)
    assert raised.value.message == (
        "setup step 'cloudflare' failed: The token sees apps.example.com's zone in 2 "
        f"Cloudflare accounts: Main ({ACCOUNT}), Other ({OTHER_ACCOUNT})"
    )
    assert raised.value.hint == (
        "say which account with --cloudflare-account or HOSTCTL_CLOUDFLARE_ACCOUNT (its ID or name)"
    )
    assert box.live_tunnels() == []
    assert not Settings.from_env().paths.cloudflare_connection.exists()

    with pytest.raises(HostctlError) as unknown:
        run(Answers(domain="example.com", cloudflare_token=TOKEN, cloudflare_account="Nope"))
    assert "no zone for example.com in the account 'Nope'" in unknown.value.message
    assert f"sees it in: Main ({ACCOUNT}), Other ({OTHER_ACCOUNT})" in unknown.value.message

    given = Answers(domain="example.com", cloudflare_token=TOKEN, cloudflare_account="Main")
    assert [r.status for r in run(given, never_asked)] == ["applied"]
    (tunnel,) = box.live_tunnels()
    assert tunnel["account_tag"] == ACCOUNT


def test_a_zone_in_several_accounts_is_picked_in_a_terminal(box: CloudflareDouble) -> None:
    box.add_zone("example.com", OTHER_ACCOUNT, "Other")
    box.add_zone("example.com", ACCOUNT, "Main")
    asked: list[tuple[str, str, list[tuple[str, str]]]] = []

    def choose(what: str, question: str, options: list[tuple[str, str]]) -> str:
        asked.append((what, question, options))
        return options[1][0]

    answers = Answers(domain="example.com", cloudflare_token=TOKEN)
    assert [r.status for r in run(answers, choose)] == ["applied"]
    assert asked == [
        (
            "account",
            "The token sees example.com's zone in 2 Cloudflare accounts",
            [(OTHER_ACCOUNT, f"Other ({OTHER_ACCOUNT})"), (ACCOUNT, f"Main ({ACCOUNT})")],
        )
    ]
    (tunnel,) = box.live_tunnels()
    assert tunnel["account_tag"] == ACCOUNT
    connection = load_connection(Settings.from_env())
    assert connection is not None and connection.account_id == ACCOUNT


def test_a_rerun_with_another_account_or_zone_picked_connects_again(box: CloudflareDouble) -> None:
    """The step is "ok" only when the saved zone is the one --cloudflare-account (its ID
    or name) and --cloudflare-zone pick. The double has tunnels in ACCOUNT only (a token
    for one account's tunnels): a move to the other account is tried, and refused there."""
    first = box.add_zone("example.com", ACCOUNT, "Main")
    second = box.add_zone("example.com", ACCOUNT, "Main")
    box.add_zone("example.com", OTHER_ACCOUNT, "Other")

    def answers(account: str | None = None, zone: str | None = None) -> Answers:
        return Answers(
            domain="example.com",
            cloudflare_token=TOKEN,
            cloudflare_account=account,
            cloudflare_zone=zone,
        )

    def connected_zone() -> str:
        connection = load_connection(Settings.from_env())
        assert connection is not None and connection.account_id == ACCOUNT
        return connection.zone_id

    assert [r.status for r in run(answers("Main", first), never_asked)] == ["applied"]
    assert connected_zone() == first
    for same in (answers("Main", first), answers(ACCOUNT), answers(zone=first), answers()):
        assert [r.status for r in run(same, never_asked)] == ["ok"], same

    assert [r.status for r in run(answers("Main", second), never_asked)] == ["applied"]
    assert connected_zone() == second
    assert [r.status for r in run(answers(zone=second), never_asked)] == ["ok"]

    with pytest.raises(HostctlError, match=r"setup step 'cloudflare' failed: .*tunnels"):
        run(answers("Other"), never_asked)
