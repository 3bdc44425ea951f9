"""The GitHub adapter, with real HTTP (httpx) against the GitHub API double on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from hostctl.adapters.github import (
    GitHub,
    GitHubUnavailable,
    RepoNotFound,
    accepted_permissions,
    check_api_url,
)
from hostctl.core.errors import HostctlError
from tests.doubles.github import LOGIN, TOKEN, GitHubDouble

REPO = "me/blog"
HOOK_URL = "https://hooks.example.com/hooks/github"
PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


@pytest.fixture
def gh(gh: GitHubDouble) -> GitHubDouble:
    gh.add_repo(REPO)
    return gh


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(gh: GitHubDouble, sleeps: list[float]) -> Iterator[GitHub]:
    with GitHub(TOKEN, gh.url, sleep=sleeps.append) as github:
        yield github


def test_whoami_sends_githubs_headers_under_an_enterprise_base_path(
    gh: GitHubDouble, api: GitHub
) -> None:
    assert api.whoami() == LOGIN
    (request,) = gh.requests
    assert request.path == "/user"  # the double serves under /api/v3, as GHES does
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("hostctl/")
    assert TOKEN not in repr(api)


def test_ensure_webhook_twice_is_one_hook_with_the_new_secret(
    gh: GitHubDouble, api: GitHub
) -> None:
    first = api.ensure_webhook(REPO, HOOK_URL, "secret-one")
    second = api.ensure_webhook(REPO, HOOK_URL, "secret-two")
    assert first == second
    repo = gh.repos[REPO]
    (hook,) = repo.hooks
    assert repo.secrets[first] == "secret-two"
    assert (hook["name"], hook["active"], hook["events"]) == ("web", True, ["push"])
    assert hook["config"] == {"url": HOOK_URL, "content_type": "json", "insecure_ssl": "0"}
    assert len(gh.calls("POST", "/hooks$")) == 1
    assert len(gh.calls("PATCH", r"/hooks/\d+$")) == 1


def test_known_hook_is_moved_to_a_new_url_and_a_vanished_one_recreated(
    gh: GitHubDouble, api: GitHub
) -> None:
    hook_id = api.ensure_webhook(REPO, HOOK_URL, "s")
    moved = "https://new.example.com/hooks/github"
    assert api.ensure_webhook(REPO, moved, "s", known_id=hook_id) == hook_id
    assert [h["config"]["url"] for h in gh.repos[REPO].hooks] == [moved]
    gh.repos[REPO].hooks.clear()  # someone deleted it on GitHub
    recreated = api.ensure_webhook(REPO, moved, "s", known_id=hook_id)
    assert recreated != hook_id and len(gh.repos[REPO].hooks) == 1


def test_a_hook_on_page_two_is_found_not_duplicated(gh: GitHubDouble, sleeps: list[float]) -> None:
    for n in range(3):
        gh.add_hook(REPO, f"https://ci{n}.example.com/hook")
    ours = gh.add_hook(REPO, HOOK_URL, "old")
    with GitHub(TOKEN, gh.url, sleep=sleeps.append, per_page=2) as api:
        assert api.ensure_webhook(REPO, HOOK_URL, "new") == ours["id"]
    assert len(gh.repos[REPO].hooks) == 4 and gh.repos[REPO].secrets[ours["id"]] == "new"
    pages = [r.query for r in gh.calls("GET", "/hooks$")]
    assert pages == [{"per_page": "2"}, {"per_page": "2", "page": "2"}]
    assert gh.calls("POST", "/hooks$") == []


def test_a_create_whose_answer_was_lost_is_not_duplicated(
    gh: GitHubDouble, api: GitHub, sleeps: list[float]
) -> None:
    gh.fail("POST", "/hooks$", 502, applied=True)
    gh.fail("POST", "/keys$", 502, applied=True)
    hook_id = api.ensure_webhook(REPO, HOOK_URL, "s")
    key_id = api.ensure_deploy_key(REPO, "hostctl blog", PUBLIC)
    assert [h["id"] for h in gh.repos[REPO].hooks] == [hook_id]
    assert [k["id"] for k in gh.repos[REPO].keys] == [key_id]
    assert [r.status for r in gh.calls("POST", "/hooks$")] == [502, 422]
    assert [r.status for r in gh.calls("POST", "/keys$")] == [502, 422]


def test_deploy_key_is_read_only_and_reused_by_key_material(gh: GitHubDouble, api: GitHub) -> None:
    key_id = api.ensure_deploy_key(REPO, "hostctl blog", f"{PUBLIC} hostctl@box")
    assert api.ensure_deploy_key(REPO, "hostctl blog", f"{PUBLIC} another comment") == key_id
    assert api.ensure_deploy_key(REPO, "hostctl blog", PUBLIC, known_id=key_id) == key_id
    (key,) = gh.repos[REPO].keys
    assert (key["key"], key["title"], key["read_only"]) == (PUBLIC, "hostctl blog", True)
    assert len(gh.calls("POST", "/keys$")) == 1


def test_a_writable_key_with_our_material_is_replaced_by_a_read_only_one(
    gh: GitHubDouble, api: GitHub
) -> None:
    writable = gh.add_key(REPO, PUBLIC, read_only=False)
    key_id = api.ensure_deploy_key(REPO, "hostctl blog", PUBLIC)
    (key,) = gh.repos[REPO].keys
    assert key_id != writable["id"] and key["id"] == key_id and key["read_only"] is True


def test_a_key_in_use_on_another_repository_is_a_clear_error(gh: GitHubDouble, api: GitHub) -> None:
    gh.add_repo("me/other")
    gh.add_key("me/other", PUBLIC)
    with pytest.raises(HostctlError) as caught:
        api.ensure_deploy_key(REPO, "hostctl blog", PUBLIC)
    assert "already in use on another repository" in caught.value.message
    assert "hostctl apps disconnect" in str(caught.value.hint)
    assert gh.repos[REPO].keys == []


def test_remove_deletes_only_what_it_is_given_and_gone_is_false(
    gh: GitHubDouble, api: GitHub
) -> None:
    theirs_hook = gh.add_hook(REPO, "https://ci.example.com/hook")
    theirs_key = gh.add_key(REPO, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcLhMZH0theirs")
    hook_id = api.ensure_webhook(REPO, HOOK_URL, "s")
    key_id = api.ensure_deploy_key(REPO, "hostctl blog", PUBLIC)
    assert api.remove_webhook(REPO, hook_id) is True
    assert api.remove_deploy_key(REPO, key_id) is True
    assert api.remove_webhook(REPO, hook_id) is False
    assert api.remove_deploy_key(REPO, key_id) is False
    assert gh.repos[REPO].hooks == [theirs_hook] and gh.repos[REPO].keys == [theirs_key]


def test_a_missing_repository_says_so(gh: GitHubDouble, api: GitHub) -> None:
    calls: list[Callable[[], object]] = [
        lambda: api.ensure_webhook("me/nope", HOOK_URL, "s"),
        lambda: api.remove_webhook("me/nope", 1),
        lambda: api.remove_deploy_key("me/nope", 1),
    ]
    for call in calls:
        with pytest.raises(RepoNotFound) as caught:
            call()
        assert caught.value.message == "repository me/nope not found, or the token cannot see it"


def test_commit_statuses_pending_then_success_with_a_truncated_description(
    gh: GitHubDouble, api: GitHub
) -> None:
    api.set_status(REPO, SHA, "pending", "Deploying blog", "https://blog.example.com/")
    api.set_status(REPO, SHA, "success", "Live: " + "x" * 200, "https://blog.example.com/")
    api.set_status(REPO, SHA, "failure", "Health check failed", None, context="hostctl/web")
    pending, success, failure = gh.repos[REPO].statuses[SHA]
    assert [s["state"] for s in (pending, success, failure)] == ["pending", "success", "failure"]
    assert (pending["context"], pending["target_url"]) == ("hostctl", "https://blog.example.com/")
    assert len(success["description"]) == 140 and success["description"].endswith("…")
    assert (failure["context"], failure["target_url"]) == ("hostctl/web", None)
    with pytest.raises(ValueError):
        api.set_status(REPO, SHA, "done", "x", None)


def test_a_bad_token_is_rejected_with_how_to_make_a_new_one(gh: GitHubDouble) -> None:
    wrong = "github_pat_11EXPIRED000000000000_zyxwvutsrqponmlkjihgfedcba"
    with pytest.raises(HostctlError) as caught, GitHub(wrong, gh.url) as api:
        api.whoami()
    assert "GitHub rejected the token (Bad credentials)" in caught.value.message
    hint = str(caught.value.hint)
    assert "settings/personal-access-tokens/new" in hint and "hostctl github connect" in hint
    assert wrong not in caught.value.message + hint


def test_a_missing_permission_is_named(gh: GitHubDouble, sleeps: list[float]) -> None:
    gh.tokens["hooks-read"] = frozenset({"repository_hooks=read"})
    with GitHub("hooks-read", gh.url, sleep=sleeps.append) as api:
        cases: list[tuple[Callable[[], object], str, str]] = [
            (
                lambda: api.ensure_webhook(REPO, HOOK_URL, "s"),
                "Webhooks: read and write",  # listing worked; creating did not
                "Webhooks: read and write",
            ),
            (
                lambda: api.ensure_deploy_key(REPO, "t", PUBLIC),
                "Administration: read-only",  # what listing the keys asked for
                "Administration: read and write",  # what adding one will need
            ),
            (
                lambda: api.set_status(REPO, SHA, "pending", "d", None),
                "Commit statuses: read and write",
                "Commit statuses: read and write",
            ),
        ]
        for call, asked, hinted in cases:
            with pytest.raises(HostctlError) as caught:
                call()
            assert f"it needs the permission {asked} (" in caught.value.message
            assert f"give it {hinted} on {REPO}" in str(caught.value.hint)
    assert gh.repos[REPO].hooks == [] and sleeps == []


def test_a_403_names_the_permission_from_githubs_header(gh: GitHubDouble, api: GitHub) -> None:
    gh.fail(
        "POST",
        "/keys$",
        403,
        headers={"X-Accepted-GitHub-Permissions": "administration=write"},
        message="Resource not accessible by personal access token",
    )
    with pytest.raises(HostctlError) as caught:
        api.ensure_deploy_key(REPO, "t", PUBLIC)
    assert caught.value.message == (
        f"the GitHub token may not add a deploy key to {REPO}: it needs the permission "
        "Administration: read and write (Resource not accessible by personal access token)"
    )


def test_permission_header_in_words() -> None:
    assert accepted_permissions("contents=read") == "Contents: read-only"
    assert accepted_permissions("statuses=write,metadata=read") == (
        "Commit statuses: read and write and Metadata: read-only"
    )
    assert accepted_permissions("repository_projects=write; organization_projects=admin") == (
        "Repository projects: read and write or Organization projects: admin"
    )
    assert accepted_permissions("") is None


def test_429_waits_exactly_retry_after(gh: GitHubDouble, api: GitHub, sleeps: list[float]) -> None:
    gh.fail("GET", "/hooks$", 429, headers={"Retry-After": "1"})
    hook_id = api.ensure_webhook(REPO, HOOK_URL, "s")
    assert sleeps == [1.0]
    assert [h["id"] for h in gh.repos[REPO].hooks] == [hook_id]


def test_an_exhausted_rate_limit_waits_until_the_reset(
    gh: GitHubDouble, api: GitHub, sleeps: list[float]
) -> None:
    reset = int(time.time()) + 2
    gh.fail(
        "GET",
        "/user$",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        message="API rate limit exceeded for user ID 583231.",
    )
    assert api.whoami() == LOGIN
    (waited,) = sleeps
    assert 1.0 <= waited <= 2.0


def test_a_long_rate_limit_fails_at_once_saying_when_to_retry(
    gh: GitHubDouble, api: GitHub, sleeps: list[float]
) -> None:
    gh.fail("GET", "/user$", 429, headers={"Retry-After": "3600"})
    with pytest.raises(GitHubUnavailable) as caught:
        api.whoami()
    assert "rate limit" in caught.value.message
    assert "try again after" in str(caught.value.hint) and "(in 3600 s)" in str(caught.value.hint)
    assert sleeps == [] and len(gh.requests) == 1


def test_5xx_is_retried_with_backoff_then_succeeds(
    gh: GitHubDouble, api: GitHub, sleeps: list[float]
) -> None:
    gh.fail("GET", "/user$", 502, times=2)
    assert api.whoami() == LOGIN
    assert sleeps == [0.5, 1.0]


def test_5xx_forever_is_a_clear_error_after_max_attempts(
    gh: GitHubDouble, api: GitHub, sleeps: list[float]
) -> None:
    gh.fail("POST", "/statuses/", 503, times=99)
    with pytest.raises(GitHubUnavailable) as caught:
        api.set_status(REPO, SHA, "pending", "d", None)
    assert caught.value.message == (
        f"GitHub kept failing to set the commit status of {SHA[:12]} on {REPO} "
        "(HTTP 503 after 4 attempts)"
    )
    assert "githubstatus.com" in str(caught.value.hint)
    assert sleeps == [0.5, 1.0, 2.0] and len(gh.requests) == 4


def test_an_unreachable_api_is_retried_then_unavailable(sleeps: list[float]) -> None:
    with (
        pytest.raises(GitHubUnavailable) as caught,
        GitHub(TOKEN, "http://127.0.0.1:9", sleep=sleeps.append, max_attempts=2, timeout=2) as api,
    ):
        api.whoami()
    assert caught.value.message.startswith("cannot reach GitHub at http://127.0.0.1:9 to ")
    assert sleeps == [0.5]


FAILURES: dict[str, Callable[[GitHubDouble], None]] = {
    "403": lambda gh: gh.fail("GET", "/user$", 403, message="Forbidden"),
    "404": lambda gh: gh.fail("GET", "/user$", 404, message="Not Found"),
    "422": lambda gh: gh.fail("GET", "/user$", 422, message="Validation Failed"),
    "5xx": lambda gh: gh.fail("GET", "/user$", 500, times=9),
    "rate": lambda gh: gh.fail("GET", "/user$", 429, headers={"Retry-After": "999"}),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_the_token_never_appears_in_an_error(gh: GitHubDouble, api: GitHub, failure: str) -> None:
    FAILURES[failure](gh)
    with pytest.raises(HostctlError) as caught:
        api.whoami()
    text = f"{caught.value.message} {caught.value.hint} {caught.value!r} {caught.value.__cause__!r}"
    assert TOKEN not in text and TOKEN[11:] not in text


def test_api_url_must_be_https_except_on_loopback() -> None:
    assert check_api_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/v3"
    assert check_api_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("http://ghe.example.com/api/v3", "api.github.com", "ftp://x"):
        with pytest.raises(HostctlError):
            check_api_url(bad)
