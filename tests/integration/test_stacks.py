"""Each stack deploys from a fixture repository with no configuration, and answers."""

import pytest

from tests.harness.hostctl import make_repo

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("dockerfile", "dockerfile app"),
        ("python", "python v1"),
        ("node", "node express"),
        ("go", "go net/http"),
        ("static", "static site"),
    ],
)
def test_stack_deploys_and_answers(hostctl, tmp_path, app_name, fixture, expected):
    repo = make_repo(tmp_path / fixture, fixture)
    hostname = f"{app_name}.stacks.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    path = "/index.txt" if fixture == "dockerfile" else "/"
    deployed = hostctl.run("deploy", app_name, str(repo))
    assert f"Deployed {app_name} release 1" in deployed.stdout
    status, body = hostctl.get(hostname, path)
    assert status == 200 and expected in body
    hostctl.run("apps", "destroy", app_name, "--yes")
    assert hostctl.get(hostname, path)[0] == 404
