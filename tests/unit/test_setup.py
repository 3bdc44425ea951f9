"""Provisioning without touching the system: the step runner, the push user's sudoers
rule and authorized_keys lines, and the git-shell wrapper run for real (as root it runs
for sudo: tests/integration/test_push_user.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostctl.cli import cli
from hostctl.core.errors import HostctlError
from hostctl.push.keys import key_line, push_user_keys_text
from hostctl.push.launcher import hostctl_argv
from hostctl.push.user import forced_command
from hostctl.settings import Settings
from hostctl.setup.git_shell import wrapper_text
from hostctl.setup.steps import Step, StepResult, run_steps
from hostctl.setup.sudoers import sudoers_text
from hostctl.state.keys import PushKey


class Box:
    """Steps over a dict: what is done is whatever the dict says, like a real box."""

    def __init__(self) -> None:
        self.done: dict[str, bool] = {}
        self.applied: list[str] = []
        self.broken: set[str] = set()

    def step(self, name: str, verify_works: bool = True) -> Step:
        def apply() -> None:
            if name in self.broken:
                raise HostctlError(f"cannot {name}", f"fix {name}")
            self.applied.append(name)
            self.done[name] = verify_works

        return Step(name, f"{name} is done", lambda: self.done.get(name, False), apply)


def test_done_steps_are_skipped_and_the_others_applied_in_order():
    box, seen = Box(), []
    box.done["a"] = True
    results = run_steps([box.step("a"), box.step("b"), box.step("c")], seen.append)
    assert [(r.name, r.status) for r in results] == [
        ("a", "ok"),
        ("b", "applied"),
        ("c", "applied"),
    ]
    assert seen == results and box.applied == ["b", "c"]
    again = run_steps([box.step("a"), box.step("b"), box.step("c")], seen.append)
    assert {r.status for r in again} == {"ok"} and box.applied == ["b", "c"]


def test_a_failure_stops_the_run_names_the_step_and_a_rerun_resumes_there():
    box, seen = Box(), []
    box.broken.add("b")
    steps = [box.step("a"), box.step("b"), box.step("c")]
    with pytest.raises(HostctlError) as failed:
        run_steps(steps, seen.append)
    assert failed.value.message == "setup step 'b' failed: cannot b"
    assert failed.value.hint == "fix b"
    assert seen == [StepResult("a", "applied"), StepResult("b", "failed", "cannot b")]
    assert box.applied == ["a"], "c never ran"
    box.broken.clear()
    resumed = run_steps(steps, [].append)
    assert [r.status for r in resumed] == ["ok", "applied", "applied"]


def test_a_step_whose_check_still_fails_after_apply_is_a_failure():
    box = Box()
    with pytest.raises(HostctlError) as failed:
        run_steps([box.step("a", verify_works=False)], [].append)
    assert failed.value.message == (
        "setup step 'a' failed: applied, but the check still fails (wanted: a is done)"
    )
    assert "run `hostctl setup` again" in (failed.value.hint or "")


def test_check_only_applies_nothing():
    box = Box()
    box.done["b"] = True
    results = run_steps([box.step("a"), box.step("b")], [].append, check_only=True)
    assert results == [StepResult("a", "missing", "a is done"), StepResult("b", "ok")]
    assert box.applied == []


def test_the_rule_allows_the_wrapper_alone_whatever_the_settings(monkeypatch):
    monkeypatch.setenv("HOSTCTL_ROOT", "/srv/a=b, c*")
    rule = sudoers_text().splitlines()[-1]
    assert rule == "hostctl ALL=(root) NOPASSWD: /usr/local/libexec/hostctl-git-shell *"
    assert "/srv" not in sudoers_text(), "the settings are the wrapper's, not the rule's"
    assert 'Defaults:hostctl env_keep += "SSH_ORIGINAL_COMMAND"' in sudoers_text()
    assert "Defaults:hostctl !requiretty, !use_pty" in sudoers_text()
    assert forced_command("alice") == [
        "sudo",
        "-n",
        "/usr/local/libexec/hostctl-git-shell",
        "alice",
    ]


def test_the_launcher_never_imports_from_the_current_directory(hostctl_env, tmp_path):
    """A click.py where root's `python -m hostctl` starts (the push user's home) would run
    as root: -P leaves the current directory out of sys.path."""
    assert hostctl_argv("x")[-5:] == [sys.executable, "-P", "-m", "hostctl", "x"]
    planted = tmp_path / "home"
    planted.mkdir()
    marker = tmp_path / "ran"
    (planted / "click.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    done = subprocess.run(hostctl_argv("--version"), cwd=planted, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the planted click.py was imported"
    without = [a for a in hostctl_argv("--version") if a != "-P"]
    subprocess.run(without, cwd=planted, capture_output=True, check=False)
    assert marker.exists(), "without -P it would have been: the test means something"


ODD_ROOT = "/tmp/odd dir,a=b!c#d\\e*f?[g]%h'i\"j$(touch k)`touch l`;m"


def run_wrapper(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(path), *args], capture_output=True, text=True, check=False)


def test_the_wrapper_takes_one_key_name_and_passes_the_settings_literally(
    hostctl_env, tmp_path, monkeypatch
):
    odd = tmp_path / ODD_ROOT.removeprefix("/")
    monkeypatch.setenv("HOSTCTL_ROOT", str(odd))
    wrapper = tmp_path / "hostctl-git-shell"
    wrapper.write_text(wrapper_text())
    assert wrapper.read_text().startswith("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    for args in [(), ("a", "b"), ("a", "--key=b")]:
        refused = run_wrapper(wrapper, *args)
        assert refused.returncode == 2, args
        assert refused.stderr == "usage: /usr/local/libexec/hostctl-git-shell KEY_NAME\n"
    for name in ["x; touch pwned", "--help", "-x", "", "a b", "a" * 65, "k --key=x"]:
        refused = run_wrapper(wrapper, name)
        assert refused.returncode == 1, name
        assert f"Error: {name!r} is not a push key name" in refused.stderr
    assert not odd.exists() and not (tmp_path / "pwned").exists()

    ran = run_wrapper(wrapper, "alice")
    assert "Error: this account only takes git pushes" in ran.stderr, ran.stderr
    assert (odd / "state.db").is_file(), "git-shell opened the state root named literally"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostctl-git-shell", "tmp"]
    assert not Path("/k").exists() and not Path("/l").exists()


@pytest.mark.parametrize("name", ["x; id", "--help", "", "a b", "../x", "a" * 65])
def test_the_git_shell_refuses_a_key_name_that_is_not_one(hostctl_env, name):
    done = CliRunner().invoke(cli, ["git-shell", "--key", name])
    assert done.exit_code == 1
    assert f"Error: {name!r} is not a push key name" in done.output
    assert "Hint: use letters, digits, . _ @ -" in done.output
    assert not (hostctl_env / "state").exists(), "refused before anything was opened"


def test_the_push_users_lines_run_the_wrapper_through_sudo(monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTCTL_ROOT", str(tmp_path))
    key = PushKey("alice", "SHA256:x", "ssh-ed25519 AAAAC3Nz", "2026-01-01")
    text = push_user_keys_text(Settings.from_env(), [key])
    header, line = text.splitlines()
    assert header == f"# Written by hostctl for {tmp_path} (`hostctl keys`); edits here are lost."
    assert line == (
        'command="sudo -n /usr/local/libexec/hostctl-git-shell alice",restrict '
        "ssh-ed25519 AAAAC3Nz alice"
    )


def test_only_double_quotes_are_escaped_in_a_forced_command():
    """sshd unescapes \\" and nothing else: a backslash stays as it is."""
    key = PushKey("bob", "SHA256:y", "ssh-ed25519 AAAA", "2026-01-01")
    line = key_line(key, ["/opt/it's\\here/python", "-m", "hostctl"])
    assert line == (
        "command=\"'/opt/it'\\\"'\\\"'s\\here/python' -m hostctl\",restrict ssh-ed25519 AAAA bob"
    )


def test_keys_say_which_file_sshd_reads_and_how_to_push(hostctl_env, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["keys", "add", str(tmp_path / "k.pub"), "--name", "a"]).exit_code == 0
    )
    listed = runner.invoke(cli, ["keys"]).output
    root_file = hostctl_env / "state" / "ssh" / "authorized_keys"
    assert (
        f"sshd reads them from {root_file} (as root); `hostctl setup` adds the push user" in listed
    )
    assert (
        "Push with: git remote add hostctl ssh://hostctl@HOST/APP && git push hostctl main"
        in listed
    )
