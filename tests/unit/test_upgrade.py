"""`hostctl upgrade` on the box, with real pip and a throwaway virtualenv: wheels made
here, one of this hostctl's shape and one of another project's called hostctl too (as on
the package index). The box side with systemd is in tests/integration/test_setup_systemd.py."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from hostctl.cli import cli
from hostctl.core.errors import HostctlError
from hostctl.setup import upgrade

OURS = {  # this hostctl's shape: its command, and the module `upgrade --installed` runs
    "hostctl/__init__.py": "",
    "hostctl/cli.py": "def main():\n    print('hostctl, version VERSION')\n",
    "hostctl/setup/__init__.py": "",
    "hostctl/setup/upgrade.py": "",
}


def make_wheel(
    folder: Path, version: str, files: dict[str, str], command: str, requires: str = ""
) -> Path:
    info = f"hostctl-{version}.dist-info"
    files = {path: text.replace("VERSION", version) for path, text in files.items()} | {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: hostctl\nVersion: {version}\n"
        + (f"Requires-Dist: {requires}\n" if requires else ""),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\nhostctl = {command}\n",
    }
    records = []
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"hostctl-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
            records.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
        archive.writestr(f"{info}/RECORD", "\n".join([*records, f"{info}/RECORD,,"]) + "\n")
    return wheel


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A virtualenv with pip; pip looks in tmp_path/index only (never an index), and its
    python sees its own packages only."""
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    (tmp_path / "index").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return path


def installed(venv: Path) -> list[str]:
    return sorted(p.name for p in venv.glob("lib/python*/site-packages/hostctl*"))


def test_without_wheel_or_from_upgrade_refuses_and_says_how(
    hostctl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOSTCTL_CONFIG_DIR", str(tmp_path / "config"))  # no saved host
    monkeypatch.delenv("HOSTCTL_HOST", raising=False)
    monkeypatch.setattr(upgrade, "this_venv", lambda: tmp_path / "no-venv")
    done = CliRunner().invoke(cli, ["upgrade"])
    assert done.exit_code == 1, done.output
    assert "Error: hostctl upgrade needs to be told what to install: --wheel PATH or --from" in (
        done.output
    )
    assert "the package index's `hostctl` is another project" in done.output
    hint = done.output.split("Hint: ")[1]
    for said in ("hostctl upgrade root@HOST", "--wheel PATH", "--from SPEC", "a git URL"):
        assert said in hint, done.output


def test_the_index_hostctl_is_refused_before_anything_is_installed(venv: Path, tmp_path: Path):
    """`--from hostctl` finds the package index's hostctl (another project): refused,
    loudly, and nothing of it installed or run; so is its wheel given with --wheel."""
    theirs = make_wheel(
        tmp_path / "index", "0.4.1", {"hostctl/__init__.py": "", "hostctl/main.py": ""},
        "hostctl.main:run",
    )  # fmt: skip
    told: list[str] = []
    for source in ("hostctl", str(theirs)):
        with pytest.raises(HostctlError) as refused:
            upgrade.install(venv, source, "1.0", told.append)
        assert refused.value.message.startswith(f"REFUSED: {source} is not this hostctl")
        assert "its hostctl command is hostctl.main:run, not hostctl.cli:main" in (
            refused.value.message
        )
        assert "Nothing was installed; hostctl 1.0 is still in" in refused.value.message
        assert refused.value.hint is not None and "hostctl upgrade root@HOST" in refused.value.hint
        assert installed(venv) == []
    assert not any(line.startswith("installing") for line in told), told

    # the command right, but not this hostctl's modules
    other = make_wheel(tmp_path / "other", "0.5", {"hostctl/cli.py": ""}, "hostctl.cli:main")
    with pytest.raises(HostctlError, match=r"it has no hostctl/setup/upgrade\.py"):
        upgrade.install(venv, str(other), "1.0", told.append)
    assert installed(venv) == []


def test_a_failed_install_says_the_venv_may_be_half_upgraded(venv: Path, tmp_path: Path):
    ours = make_wheel(
        tmp_path / "dist", "2.0", OURS, "hostctl.cli:main", requires="hostctl-no-such-dependency"
    )
    with pytest.raises(HostctlError) as failed:
        upgrade.install(venv, str(ours), "1.0", lambda _: None)
    assert failed.value.message.startswith("installing hostctl-2.0-py3-none-any.whl failed: `")
    assert "hostctl-no-such-dependency" in failed.value.message
    hint = failed.value.hint or ""
    assert "the virtualenv may be half-upgraded (it had hostctl 1.0;" in hint
    for said in ("hostctl upgrade root@HOST", "install.sh", "journalctl -u hostctl-agent"):
        assert said in hint


def test_a_new_hostctl_that_does_not_run_is_an_error_with_a_hint(venv: Path, tmp_path: Path):
    broken = OURS | {"hostctl/cli.py": "raise ImportError('a file is missing')\n"}
    wheel = make_wheel(tmp_path / "dist", "2.0", broken, "hostctl.cli:main")
    with pytest.raises(HostctlError) as failed:
        upgrade.install(venv, str(wheel), "1.0", lambda _: None)
    assert failed.value.message.startswith("the new hostctl does not run: `")
    assert "a file is missing" in failed.value.message
    assert "half-upgraded (it had hostctl 1.0;" in (failed.value.hint or "")


def test_upgrade_with_a_wheel_hands_over_to_the_new_code(
    hostctl_env: Path, venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """pip replaced the files under this process: the new hostctl restarts the agent and
    runs doctor (`upgrade --installed`), not the old code loaded here."""
    first = make_wheel(tmp_path / "v1", "1.0", OURS, "hostctl.cli:main")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", first], check=True)
    second = make_wheel(tmp_path / "v2", "2.0", OURS, "hostctl.cli:main")
    monkeypatch.setenv("HOSTCTL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("HOSTCTL_HOST", raising=False)
    monkeypatch.setattr(upgrade, "this_venv", lambda: venv)
    monkeypatch.setattr(os, "geteuid", lambda: 0)

    execs: list[tuple[Path, list[str]]] = []

    def execv(path: Path, argv: list[str]) -> None:
        execs.append((path, argv))
        raise SystemExit(0)  # as the process would be gone

    monkeypatch.setattr(os, "execv", execv)
    done = CliRunner().invoke(cli, ["upgrade", "--wheel", str(second)])
    assert "upgraded hostctl 1.0 → 2.0" in done.output
    assert "restarting" not in done.output and "no hostctl-agent" not in done.output
    command = venv / "bin" / "hostctl"
    assert execs == [(command, [str(command), "upgrade", "--installed"])], done.output


def test_a_missing_hostctl_in_the_venv_is_an_error(tmp_path: Path):
    with pytest.raises(HostctlError) as failed:
        upgrade.hand_over(tmp_path / "venv", ["doctor"])
    assert failed.value.message.startswith(f"cannot run {tmp_path}/venv/bin/hostctl: ")
    assert "hostctl upgrade root@HOST" in (failed.value.hint or "")


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="would restart a real unit")
def test_a_failed_restart_says_how_to_recover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """systemctl here fails for real: systemd is not this machine's init."""
    (tmp_path / "hostctl-agent.service").write_text("[Service]\n")
    monkeypatch.setattr(upgrade, "SYSTEMD_UNITS", tmp_path)
    monkeypatch.setattr(upgrade, "systemd_running", lambda: True)
    with pytest.raises(HostctlError) as failed:
        upgrade.restart_agent(SimpleNamespace(), lambda _: None)  # type: ignore[arg-type]
    assert failed.value.message.startswith("restarting hostctl-agent.service failed: ")
    hint = failed.value.hint or ""
    assert hint.startswith("the new hostctl is installed in full (not half-upgraded)")
    assert "journalctl -u hostctl-agent" in hint and "hostctl upgrade root@HOST" in hint


def test_an_agent_listening_nowhere_is_an_error():
    settings = SimpleNamespace(
        server=SimpleNamespace(agent=SimpleNamespace(listen=())), etc=Path("/etc/hostctl")
    )
    with pytest.raises(HostctlError) as failed:
        upgrade.wait_healthy(settings, lambda _: None)  # type: ignore[arg-type]
    assert failed.value.message.startswith("the agent listens nowhere")
    assert "agent.listen in /etc/hostctl/hostctl.yml" in (failed.value.hint or "")
