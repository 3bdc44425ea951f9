"""GitHub-format webhooks (Gitea and Forgejo send the same): verify, dedupe, enqueue.

Nothing here trusts the request before its HMAC matches the app's secret, and every
answer is decided from the body alone, so the HTTP layer can reply at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from hostctl.github.moves import delivered_repository, follow_move, is_linked, other_repository
from hostctl.state import Store
from hostctl.state.github_app import change_repositories, remove_installation, save_installation
from hostctl.state.queue import Delivery, record_delivery
from hostctl.state.store import App

MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; pushes are far smaller
ZERO_SHA = "0" * 40
COMMIT = re.compile(r"[0-9a-f]{40}")
DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
UNKNOWN_APP_SECRET = secrets.token_hex(32)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # for the agent's log: what happened, without secrets
    fields: dict[str, Any] = field(default_factory=dict)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is ``sha256=`` + HMAC-SHA256(secret, raw body), in hex."""
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def first_header(headers: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return ""


def parse_payload(headers: Mapping[str, str], body: bytes) -> Any:
    """JSON, or the form encoding (``payload=<json>``) GitHub also offers."""
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        return json.loads(form["payload"][0])
    return json.loads(body)


def read_delivery(
    headers: Mapping[str, str],
    body: bytes,
    event_headers: tuple[str, ...],
    delivery_headers: tuple[str, ...],
) -> Answer | tuple[str, str, dict[str, Any]]:
    """A signed delivery's event, delivery id and JSON object, or the answer refusing it."""
    event = first_header(headers, *event_headers)
    delivery_id = first_header(headers, *delivery_headers)
    if not event or not DELIVERY_ID.fullmatch(delivery_id):
        return refuse(400, "missing X-GitHub-Event or X-GitHub-Delivery", "refused: headers")
    try:
        payload = parse_payload(headers, body)
    except (ValueError, KeyError, UnicodeDecodeError):
        return refuse(400, "the body is not valid JSON", "refused: malformed JSON")
    if not isinstance(payload, dict):
        return refuse(400, "the body is not a JSON object", "refused: malformed JSON")
    return event, delivery_id, payload


def refuse(status: int, error: str, outcome: str) -> Answer:
    return Answer(status, {"error": error}, outcome)


def unsigned(outcome: str) -> Answer:
    """The one answer for a bad signature, an unknown app and a path that names none."""
    return refuse(401, "missing or bad X-Hub-Signature-256", outcome)


def handle_delivery(store: Store, app_name: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Decide what a delivery to ``/hooks/github/<app_name>`` does."""
    app = store.find_app(app_name)
    signature = headers.get("x-hub-signature-256")
    if app is None:
        # Answered like a bad signature, after as much work, so the answers do not tell
        # which app names exist.
        signature_ok(UNKNOWN_APP_SECRET, body, signature)
        return unsigned("refused: unknown app")
    if not signature_ok(app.webhook_secret, body, signature):
        return unsigned("refused: bad signature")
    read = read_delivery(
        headers,
        body,
        ("x-github-event", "x-gitea-event", "x-forgejo-event"),
        ("x-github-delivery", "x-gitea-delivery"),
    )
    if isinstance(read, Answer):
        return read
    event, delivery_id, payload = read
    app, decision = decide_and_follow(store, app, event, payload)
    if isinstance(decision, Answer):
        return decision
    outcome, commit = decision
    deploy = (f"webhook:{delivery_id}", app.repo, commit) if commit else None
    delivery = Delivery(delivery_id, app.name, event, hashlib.sha256(body).hexdigest())
    new, job = record_delivery(store, delivery, outcome, deploy)
    fields = {"delivery": delivery_id, "event": event}
    if not new:
        return Answer(200, {"status": "duplicate"}, "ignored: a redelivery", fields)
    if job is None:
        return Answer(200, {"status": outcome}, outcome, fields)
    return Answer(
        202, {"status": "queued", "job": job.id}, "queued", fields | {"job": job.id, "ref": job.ref}
    )


def decide(app: App, event: str, payload: dict[str, Any]) -> tuple[str, str | None] | Answer:
    """(outcome, the commit to deploy) for a verified delivery, or an error Answer."""
    if event == "ping":
        return "pong", None
    if event != "push":
        return f"ignored: {event} event", None
    number, full_name = delivered_repository(payload)
    github_repo = app.github.get("repo")
    if github_repo and not is_linked(app.github, number, full_name):
        if full_name.lower() == str(github_repo).lower():
            message = other_repository(app, number)
            return refuse(403, message, "refused: another repository of the linked name")
        return refuse(
            403,
            f"this hook deploys {github_repo}, not {full_name or None}",
            "refused: repository mismatch",
        )
    branch, repo = app.branch, app.repo
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not isinstance(after, str):
        return refuse(400, "a push payload needs ref and after", "refused: not a push payload")
    if payload.get("deleted") or after == ZERO_SHA:
        return "ignored: a deleted ref", None
    if ref != f"refs/heads/{branch}":
        return f"ignored: {ref} is not the deploy branch {branch}", None
    if not COMMIT.fullmatch(after):
        return refuse(400, "after is not a commit id", "refused: bad commit id")
    if not repo:
        return refuse(
            422,
            f"{app.name} has no repository to fetch from; "
            f"run `hostctl apps connect {app.name} --repo URL`",
            "refused: no repository",
        )
    return "queued", after


def handle_app_delivery(
    store: Store, secret: str | None, headers: Mapping[str, str], body: bytes
) -> Answer:
    """Decide what a delivery to the GitHub App's ``/hooks/github`` does.

    The app's one webhook carries every repository it is installed on: a push deploys
    the apps linked through the App to that repository and branch, and nothing else.
    Installation events are recorded, so linking says at once whether the App sees a
    repository.
    """
    signature = headers.get("x-hub-signature-256")
    if not secret:
        signature_ok(UNKNOWN_APP_SECRET, body, signature)
        return unsigned("refused: no GitHub App is connected")
    if not signature_ok(secret, body, signature):
        return unsigned("refused: bad signature")
    read = read_delivery(headers, body, ("x-github-event",), ("x-github-delivery",))
    if isinstance(read, Answer):
        return read
    event, delivery_id, payload = read
    digest = hashlib.sha256(body).hexdigest()
    fields: dict[str, Any] = {"delivery": delivery_id, "event": event}
    if event in ("installation", "installation_repositories"):
        outcome = record_installation(store, event, payload)
        return Answer(200, {"status": outcome}, outcome, fields)
    number, full_name = delivered_repository(payload)
    through_app = [app for app in store.apps() if app.github.get("installation")]
    apps = [app for app in through_app if is_linked(app.github, number, full_name)]
    if event != "push" or not apps:
        outcome = "pong" if event == "ping" else f"ignored: {event} event"
        if event == "push":
            outcome = f"ignored: no app deploys {full_name or 'this repository'}"
            for app in through_app:
                if str(app.github.get("repo", "")).lower() == full_name.lower():
                    outcome += f" ({app.name}: {other_repository(app, number)})"
        new, _ = record_delivery(store, Delivery(delivery_id, "", event, digest), outcome)
        return Answer(200, {"status": outcome if new else "duplicate"}, outcome, fields)
    queued: list[dict[str, Any]] = []
    outcomes = []
    refused: list[Answer] = []  # one app's refusal must not drop another app's deploy
    for linked in apps:
        app, decision = decide_and_follow(store, linked, event, payload)
        if isinstance(decision, Answer):
            refused.append(decision)
            outcomes.append(f"{app.name}: {decision.outcome}")
            continue
        outcome, commit = decision
        deploy = (f"webhook:{delivery_id}", app.repo, commit) if commit else None
        new, job = record_delivery(
            store, Delivery(f"{delivery_id}:{app.name}", app.name, event, digest), outcome, deploy
        )
        outcomes.append(f"{app.name}: {outcome if new else 'ignored: a redelivery'}")
        if job is not None:
            queued.append({"app": app.name, "job": job.id})
    summary = "; ".join(outcomes)
    if not queued and refused:
        return Answer(refused[0].status, refused[0].body, summary, fields)
    if not queued:
        return Answer(200, {"status": summary}, summary, fields)
    return Answer(202, {"status": "queued", "jobs": queued}, summary, fields | {"jobs": queued})


def decide_and_follow(
    store: Store, app: App, event: str, payload: dict[str, Any]
) -> tuple[App, tuple[str, str | None] | Answer]:
    """The decision, after a push from the app's linked repository has recorded where
    the repository is now (renamed or moved, the app follows). Decided again on the app
    as it is then: a link changed meanwhile (`apps connect`) decides for itself."""
    decision = decide(app, event, payload)
    if isinstance(decision, Answer) or event != "push" or not app.github.get("repo"):
        return app, decision
    now = follow_move(store, app, payload)
    return (app, decision) if now is app else (now, decide(now, event, payload))


def record_installation(store: Store, event: str, payload: dict[str, Any]) -> str:
    """Keep the installations (and their repositories) GitHub reports; the outcome."""
    installation = payload.get("installation")
    if not isinstance(installation, dict) or not isinstance(installation.get("id"), int):
        return f"ignored: {event} without an installation"
    number = int(installation["id"])
    account = installation.get("account")
    login = str(account.get("login")) if isinstance(account, dict) else ""
    action = str(payload.get("action"))
    every = installation.get("repository_selection") == "all"

    def names(key: str) -> list[str]:
        items = payload.get(key) or []
        return [str(i["full_name"]) for i in items if isinstance(i, dict) and i.get("full_name")]

    if event == "installation" and action in ("deleted", "suspend"):
        remove_installation(store, number)
    elif event == "installation" and action == "created":
        save_installation(store, number, login, None if every else names("repositories"))
    elif event == "installation":
        # unsuspend, new_permissions_accepted, ...: no full list of repositories, so
        # what was recorded stays (or becomes "all", which GitHub does say)
        change_repositories(store, number, login, names("repositories"), [], every)
    else:
        change_repositories(
            store,
            number,
            login,
            names("repositories_added"),
            names("repositories_removed"),
            every,
        )
    return f"recorded: {event} {action} ({login})"
