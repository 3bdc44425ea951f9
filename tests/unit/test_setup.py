"""Provisioning without touching the system: the step runner, and the text of the push
user's sudoers rule and authorized_keys lines (the real thing: tests/integration/
test_push_user.py)."""

from __future__ import annotations

import fnmatch
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hostctl.cli import cli
from hostctl.errors import HostctlError
from hostctl.push.keys import PushKey, key_line, push_user_keys_text
from hostctl.push.user import forced_command, git_shell_prefix, sudoers_text, sudoers_word
from hostctl.settings import Settings
from hostctl.setup.steps import Step, StepResult, run_steps


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


@pytest.mark.parametrize(
    ("arg", "escaped"),
    [
        ("/opt/hostctl/venv/bin/python", "/opt/hostctl/venv/bin/python"),
        ("HOSTCTL_ROOT=/var/lib/a,b:c", "HOSTCTL_ROOT\\=/var/lib/a\\,b\\:c"),
        ("#1", "\\#1"),
        ("a*b?c[d]", "a\\\\*b\\\\?c\\\\[d\\\\]"),  # for fnmatch, then for the parser
        ("a\\b", "a\\\\\\\\b"),
        ("(x)!y\"z'%", "(x)!y\"z'%"),  # sudo 1.9 refuses \( in arguments; these are literal
    ],
)
def test_sudoers_words_are_escaped_for_the_parser_and_the_wildcard_match(arg, escaped):
    assert sudoers_word(arg) == escaped


@pytest.mark.parametrize("arg", ["/srv/my apps", "a\tb", "a\nb", "", "a\x00b"])
def test_a_sudoers_word_with_whitespace_is_refused(arg):
    with pytest.raises(HostctlError, match="empty or has whitespace") as refused:
        sudoers_word(arg)
    assert "without spaces" in (refused.value.hint or "")


def test_the_rule_allows_exactly_the_forced_command(monkeypatch):
    for key in ("HOSTCTL_ETC", "HOSTCTL_NAMESPACE", "HOSTCTL_HTTP_PORT", "PYTHONPATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOSTCTL_ROOT", "/srv/a=b")
    prefix = ["/usr/bin/env", "HOSTCTL_ROOT=/srv/a=b", sys.executable, "-m", "hostctl"]
    assert git_shell_prefix() == [*prefix, "git-shell", "--key"]
    assert forced_command("alice") == ["sudo", "-n", *prefix, "git-shell", "--key", "alice"]
    rule = sudoers_text().splitlines()[-1]
    assert rule == (
        f"hostctl ALL=(root) NOPASSWD: /usr/bin/env HOSTCTL_ROOT\\=/srv/a\\=b {sys.executable} "
        "-m hostctl git-shell --key *"
    )
    # sudo matches the arguments, joined by spaces, against the rule's (unescaped) pattern
    pattern = rule.split(" /usr/bin/env ", 1)[1].replace("\\=", "=")
    assert fnmatch.fnmatchcase(" ".join(forced_command("alice")[3:]), pattern)
    assert "SSH_ORIGINAL_COMMAND" in sudoers_text()


def test_the_push_users_lines_run_the_git_shell_through_sudo(monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTCTL_ROOT", str(tmp_path))
    key = PushKey("alice", "SHA256:x", "ssh-ed25519 AAAAC3Nz", "2026-01-01")
    text = push_user_keys_text(Settings.from_env(), [key])
    header, line = text.splitlines()
    assert header == f"# Written by hostctl for {tmp_path} (`hostctl keys`); edits here are lost."
    command = shlex.join(forced_command("alice"))
    assert line == f'command="{command}",restrict ssh-ed25519 AAAAC3Nz alice'
    assert line.startswith('command="sudo -n /usr/bin/env HOSTCTL_ROOT=')


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
