"""Webhook decisions on a real state database (the HTTP side is in the agent tests)."""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import urlencode

import pytest

from hostctl.agent.webhooks import Answer, decide_and_follow, handle_delivery, signature_ok
from hostctl.github.moves import follow_move
from hostctl.state import Store
from tests.harness.agent import push_payload, sign

SHA = "c" * 40


@pytest.fixture
def store(tmp_path):
    found = Store(tmp_path / "state.db")
    found.insert_app("blog", ["blog.test"], repo="file:///srv/blog.git", branch="main")
    return found


def headers(secret: str, body: bytes, event: str = "push", delivery: str = "d1", **more: str):
    return {
        "x-hub-signature-256": sign(secret, body),
        "x-github-event": event,
        "x-github-delivery": delivery,
        "content-type": "application/json",
        **more,
    }


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"a": 1}'
    assert signature_ok("s3cret", body, sign("s3cret", body))
    assert not signature_ok("s3cret", body + b" ", sign("s3cret", body))
    assert not signature_ok("s3cret", body, sign("s3cret", body).upper())
    assert not signature_ok("s3cret", body, "sha1=" + sign("s3cret", body)[7:])
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("", body, sign("", body)), "an app without a secret takes nothing"


def test_a_push_of_the_branch_queues_its_commit(store):
    secret = store.app("blog").webhook_secret
    body = json.dumps(push_payload(SHA)).encode()
    answer = handle_delivery(store, "blog", headers(secret, body), body)
    assert answer.status == 202 and answer.body["status"] == "queued"
    row = store.db.execute("SELECT trigger, source, ref FROM jobs").fetchone()
    assert tuple(row) == ("webhook:d1", "file:///srv/blog.git", SHA)


def test_the_form_encoding_is_accepted_too(store):
    secret = store.app("blog").webhook_secret
    body = urlencode({"payload": json.dumps(push_payload(SHA))}).encode()
    form = headers(secret, body, **{"content-type": "application/x-www-form-urlencoded"})
    assert handle_delivery(store, "blog", form, body).status == 202


def test_gitea_headers_are_understood(store):
    secret = store.app("blog").webhook_secret
    body = json.dumps(push_payload(SHA)).encode()
    gitea = {
        "x-hub-signature-256": sign(secret, body),
        "x-gitea-event": "push",
        "x-gitea-delivery": "g-1",
    }
    assert handle_delivery(store, "blog", gitea, body).status == 202


@pytest.mark.parametrize(
    ("change", "status", "outcome"),
    [
        ({"event": "issues"}, 200, "ignored: issues event"),
        ({"delivery": ""}, 400, "refused: headers"),
        ({"delivery": "x" * 200}, 400, "refused: headers"),
    ],
)
def test_headers_decide_before_the_body(store, change, status, outcome):
    secret = store.app("blog").webhook_secret
    body = json.dumps(push_payload(SHA)).encode()
    answer = handle_delivery(store, "blog", headers(secret, body, **change), body)
    assert (answer.status, answer.outcome) == (status, outcome)
    assert store.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_an_app_without_a_repository_says_how_to_link_one(tmp_path):
    store = Store(tmp_path / "state.db")
    store.insert_app("bare", ["bare.test"])
    body = json.dumps(push_payload(SHA)).encode()
    answer = handle_delivery(store, "bare", headers(store.app("bare").webhook_secret, body), body)
    assert answer.status == 422 and "hostctl apps connect bare" in answer.body["error"]


def test_a_renamed_repository_is_followed_by_its_id_and_a_new_one_of_its_name_refused(store):
    store.set_github("blog", {"repo": "me/blog", "hook_id": 1})
    store.set_repo("blog", "git@github.com:me/blog.git", "main")
    secret = store.app("blog").webhook_secret

    def push(full_name: str, number: int, delivery: str):
        body = json.dumps(push_payload(SHA, full_name=full_name, repository_id=number)).encode()
        return handle_delivery(store, "blog", headers(secret, body, delivery=delivery), body)

    assert push("me/blog", 7, "d1").status == 202
    assert store.app("blog").github == {"repo": "me/blog", "hook_id": 1, "repo_id": 7}
    assert push("Me/Blog", 7, "d0").status == 202  # GitHub's spelling: the same name
    assert store.app("blog").github["repo"] == "me/blog"
    # Once recorded, a push that moved nothing takes no write lock on the way.
    app, writer = store.app("blog"), sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        moved = follow_move(store, app, push_payload(SHA, full_name="me/blog", repository_id=7))
        assert moved is app
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    # Renamed on GitHub (or transferred): the same id, so the same repository.
    assert push("me/journal", 7, "d2").status == 202
    app = store.app("blog")
    assert app.github["repo"] == "me/journal" and app.repo == "git@github.com:me/journal.git"
    last = store.db.execute("SELECT source FROM jobs ORDER BY id DESC").fetchone()[0]
    assert last == "git@github.com:me/journal.git"
    [audit] = store.db.execute("SELECT detail FROM audit WHERE action = 'apps:repo-moved'")
    assert "me/blog is now me/journal" in audit[0]

    # Another repository under the linked name, or another name: refused, nothing queued.
    again = push("me/journal", 8, "d3")
    assert again.status == 403 and "link it again" in again.body["error"], again
    assert "`hostctl apps connect blog --repo me/journal`" in again.body["error"]
    assert push("me/other", 9, "d4").status == 403
    assert store.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 3
    assert store.app("blog").github["repo_id"] == 7


@pytest.mark.parametrize(
    ("url", "moved"),
    [
        ("git@github.com:me/blog.git", "git@github.com:you/journal.git"),
        ("https://github.com/me/blog.git", "https://github.com/you/journal.git"),
        ("https://github.com/Me/Blog", "https://github.com/you/journal"),
        ("https://github.com/me/blog/", "https://github.com/you/journal"),
        ("https://mirror.example.com/blog.git", "https://mirror.example.com/blog.git"),
        ("https://github.com/me/weblog.git", "https://github.com/me/weblog.git"),
    ],
)
def test_a_moved_repository_url_follows_only_when_it_fetched_the_old_name(url, moved):
    from hostctl.github.moves import moved_url

    assert moved_url(url, "me/blog", "you/journal") == moved


def test_a_link_changed_while_a_push_was_handled_decides_for_itself(store):
    store.set_github("blog", {"repo": "me/blog", "hook_id": 1})
    read_first = store.app("blog")
    store.set_github("blog", {"repo": "me/shop", "hook_id": 2})  # `apps connect` meanwhile
    store.set_repo("blog", "git@github.com:me/shop.git", "main")
    payload = push_payload(SHA, full_name="me/blog", repository_id=7)
    app, decision = decide_and_follow(store, read_first, "push", payload)
    assert isinstance(decision, Answer) and decision.status == 403, decision
    assert app.github == store.app("blog").github == {"repo": "me/shop", "hook_id": 2}
