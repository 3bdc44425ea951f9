"""The GitHub setup step against the GitHub double: connects once, then sees it done; a
token GitHub refuses stops setup at this step, saving nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostctl.core.errors import HostctlError
from hostctl.settings import Settings
from hostctl.setup import github
from hostctl.setup.answers import Answers
from hostctl.setup.steps import StepResult, run_steps
from tests.doubles.github import TOKEN, GitHubDouble


def run(answers: Answers, url: str) -> list[StepResult]:
    settings = Settings.from_env()
    return run_steps(github.steps(settings, answers, api_url=url), lambda _: None)


def test_connects_once_then_sees_it_done(hostctl_env: Path, gh: GitHubDouble) -> None:
    answers = Answers(github_token=TOKEN)
    assert [r.status for r in run(answers, gh.url)] == ["applied"]
    saved = Settings.from_env().paths.github_connection
    assert saved.stat().st_mode & 0o777 == 0o600 and TOKEN in saved.read_text()
    assert [r.status for r in run(answers, gh.url)] == ["ok"]


def test_a_refused_token_fails_naming_the_step(hostctl_env: Path, gh: GitHubDouble) -> None:
    with pytest.raises(HostctlError) as raised:
        run(Answers(github_token="ghp_refused"), gh.url)
    assert "setup step 'github' failed: GitHub refused the token" in raised.value.message
    assert "--github-token" in (raised.value.hint or "")
    assert not Settings.from_env().paths.github_connection.exists()


def test_skipped_without_a_token(hostctl_env: Path) -> None:
    assert github.steps(Settings.from_env(), Answers()) == []
