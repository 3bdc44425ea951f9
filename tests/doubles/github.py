"""A GitHub REST API double: a real HTTP server on 127.0.0.1, in a thread.

It implements the calls hostctl makes, with GitHub's documented shapes, served under
``/api/v3`` as GitHub Enterprise Server does (so base-URL joining is exercised):

- ``GET /user``; ``GET /repos/{o}/{n}``;
- webhooks: ``GET/POST /repos/{o}/{n}/hooks`` (list paginated with ``per_page``/``page``
  and a ``Link`` header), ``GET/PATCH/DELETE .../hooks/{id}`` (201 on create, 204 on
  delete); hook objects carry ``config.secret`` as ``"********"``, never the secret;
  a second hook with the same URL is refused with 422 "Hook already exists";
- deploy keys: ``GET/POST /repos/{o}/{n}/keys``, ``GET/DELETE .../keys/{id}``; a key
  already on any repository is refused with 422 "key is already in use";
- commit statuses: ``POST /repos/{o}/{n}/statuses/{sha}`` (201), kept per sha.

Auth is ``Authorization: Bearer``: an unknown token gets 401 "Bad credentials"; each
token has fine-grained permissions (``repository_hooks=write`` ...) and a missing one gets
403 with ``X-Accepted-GitHub-Permissions``. A repository the double does not hold is 404.
Faults can be queued per method and path regex: any status, headers and message, a
number of times. Every request is recorded (method, path, query, headers without
Authorization, JSON body).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any
from urllib.parse import urlencode

from tests.doubles.base import ApiHandler, Fault, Loopback, Reply, authenticate, injected

TOKEN = "github_pat_11TESTTOKEN0123456789_abcdefghijklmnopqrstuvwxyz"
LOGIN = "octo-dev"
ALL = frozenset(
    {"repository_hooks=write", "administration=write", "statuses=write", "contents=read"}
)
PREFIX = "/api/v3"
DOCS = "https://docs.github.com/rest"
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "sk-ssh-ed25519@openssh.com")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Repo:
    full_name: str
    id: int
    hooks: list[dict[str, Any]] = field(default_factory=list)
    secrets: dict[int, str] = field(default_factory=dict)  # hook id → secret (never echoed)
    keys: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class GitHubDouble(Loopback):
    tokens: dict[str, frozenset[str]] = field(default_factory=lambda: {TOKEN: ALL})
    repos: dict[str, Repo] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = count(1001)
        self.listen(handler(self))

    @property
    def url(self) -> str:
        return f"{self.origin}{PREFIX}"

    # seeding and inspection

    def add_repo(self, full_name: str) -> Repo:
        repo = Repo(full_name, next(self.ids))
        self.repos[full_name.lower()] = repo
        return repo

    def add_hook(self, full_name: str, url: str, secret: str = "") -> dict[str, Any]:
        """A hook someone else made (hostctl must leave it alone)."""
        return create_hook(
            self,
            self.repos[full_name.lower()],
            {"name": "web", "events": ["push"], "config": {"url": url, "secret": secret}},
        )

    def add_key(self, full_name: str, key: str, read_only: bool = True) -> dict[str, Any]:
        return create_key(
            self,
            self.repos[full_name.lower()],
            {"title": "someone's key", "key": key, "read_only": read_only},
        )

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        applied: bool = False,
        delay: float = 0.0,
    ) -> None:
        """The next ``times`` requests matching (regex ``path`` after /api/v3) fail.

        With ``applied``, each is carried out first: an answer lost after the change was
        made, which is what makes retrying a POST dangerous. ``delay`` seconds pass before
        each answer (a slow GitHub).
        """
        self.faults.append(
            Fault(
                method,
                re.compile(path),
                status,
                times,
                headers or {},
                message or "",
                applied=applied,
                delay=delay,
            )
        )

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]


def validation_failed(resource: str, message: str, field_name: str | None = None) -> Reply:
    error = {"resource": resource, "code": "custom", "message": message}
    if field_name:
        error["field"] = field_name
    return Reply(422, "Validation Failed", errors=[error])


def handler(double: GitHubDouble) -> type[ApiHandler]:
    class Handler(ApiHandler):
        content_type = "application/json; charset=utf-8"
        extra_headers = {"X-GitHub-Media-Type": "github.v3; format=json"}

        def handle_call(self, method: str) -> None:
            path, query, raw = self.read_call(PREFIX)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            body: Any = None
            extra: dict[str, str] = {}
            try:
                body = json.loads(raw) if raw else {}
                with double.lock:
                    fault = injected(double.faults, method, path)
                    permissions = authenticate(
                        double.tokens,
                        self.headers.get("Authorization", ""),
                        lambda: Reply(401, "Bad credentials"),
                    )
                    status, result, extra = route(double, method, path, query, body, permissions)
                    if fault is not None:
                        raise fault.reply()
            except Reply as reply:
                status, extra = reply.status, reply.headers
                result = {"message": reply.message, "documentation_url": DOCS}
                if reply.errors is not None:
                    result["errors"] = reply.errors
                if status in (401, 404):
                    result["status"] = str(status)
            except ValueError:
                status, result = (
                    400,
                    {"message": "Problems parsing JSON", "documentation_url": DOCS},
                )
            # recorded before answering, so a test that has its answer sees its record
            double.requests.append(Request(method, path, query, headers, body, status))
            self.send(status, result, extra)

    return Handler


def need(permissions: frozenset[str], name: str, level: str) -> None:
    granted = {p.split("=")[0]: p.split("=")[1] for p in permissions}
    have = granted.get(name)
    if have is None or (level == "write" and have == "read"):
        raise Reply(
            403,
            "Resource not accessible by personal access token",
            {"X-Accepted-GitHub-Permissions": f"{name}={level}"},
        )


def paginate(
    double: GitHubDouble, path: str, items: list[Any], query: dict[str, str]
) -> tuple[list[Any], dict[str, str]]:
    """GitHub's page/per_page pagination (default 30, at most 100) with a Link header."""
    per_page = min(100, max(1, int(query.get("per_page", 30))))
    page = max(1, int(query.get("page", 1)))
    last = max(1, -(-len(items) // per_page))

    def link(number: int) -> str:
        return f"<{double.url}{path}?{urlencode({'per_page': per_page, 'page': number})}>"

    links = []
    if page < last:
        links += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
    if page > 1:
        links += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
    start = (page - 1) * per_page
    return items[start : start + per_page], ({"Link": ", ".join(links)} if links else {})


Result = tuple[int, Any, dict[str, str]]


def route(
    double: GitHubDouble,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    permissions: frozenset[str],
) -> Result:
    parts = path.strip("/").split("/")
    if parts == ["user"] and method == "GET":
        return 200, {"login": LOGIN, "id": 583231, "type": "User", "site_admin": False}, {}
    if len(parts) < 3 or parts[0] != "repos":
        raise Reply(404, "Not Found")
    repo = double.repos.get(f"{parts[1]}/{parts[2]}".lower())
    if repo is None:
        raise Reply(404, "Not Found")
    rest = parts[3:]
    if not rest and method == "GET":
        owner = repo.full_name.split("/")[0]
        return (
            200,
            {
                "id": repo.id,
                "name": repo.full_name.split("/")[1],
                "full_name": repo.full_name,
                "private": True,
                "owner": {"login": owner},
                "default_branch": "main",
            },
            {},
        )
    if rest and rest[0] == "hooks":
        need(permissions, "repository_hooks", "read" if method == "GET" else "write")
        return hooks(double, repo, method, path, rest[1:], query, body)
    if rest and rest[0] == "keys":
        need(permissions, "administration", "read" if method == "GET" else "write")
        return keys(double, repo, method, path, rest[1:], query, body)
    if len(rest) == 2 and rest[0] == "statuses" and method == "POST":
        need(permissions, "statuses", "write")
        return 201, create_status(double, repo, rest[1], body), {}
    raise Reply(404, "Not Found")


def member(items: list[dict[str, Any]], rest: list[str]) -> dict[str, Any]:
    """The item ``rest`` names (``[id]``), or 404."""
    found = next((i for i in items if str(i["id"]) == (rest or [""])[0]), None)
    if found is None or len(rest) != 1:
        raise Reply(404, "Not Found")
    return found


def collection(
    double: GitHubDouble,
    items: list[dict[str, Any]],
    method: str,
    path: str,
    rest: list[str],
    query: dict[str, str],
    show: Callable[[dict[str, Any]], dict[str, Any]],
    create: Callable[[], dict[str, Any]],
) -> Result | None:
    """What hooks and keys share: list (paginated) and create on the collection, GET and
    DELETE on one item. None for any other call, which the caller handles."""
    if not rest and method == "GET":
        chunk, headers = paginate(double, path, items, query)
        return 200, [show(item) for item in chunk], headers
    if not rest and method == "POST":
        return 201, show(create()), {}
    found = member(items, rest)
    if method == "GET":
        return 200, show(found), {}
    if method == "DELETE":
        items.remove(found)
        return 204, None, {}
    return None


def public_hook(repo: Repo, hook: dict[str, Any]) -> dict[str, Any]:
    shown = json.loads(json.dumps(hook))
    if repo.secrets.get(hook["id"]):
        shown["config"]["secret"] = "********"
    return dict(shown)


def create_hook(double: GitHubDouble, repo: Repo, body: dict[str, Any]) -> dict[str, Any]:
    config = dict(body.get("config") or {})
    if not config.get("url"):
        raise validation_failed("Hook", "url is missing", "url")
    if body.get("name", "web") != "web":
        raise validation_failed("Hook", "name must be web", "name")
    events = list(body.get("events") or ["push"])
    if any(h["config"]["url"] == config["url"] and h["events"] == events for h in repo.hooks):
        raise validation_failed("Hook", "Hook already exists on this repository")
    hook_id = next(double.ids)
    url = f"{double.url}/repos/{repo.full_name}/hooks/{hook_id}"
    repo.secrets[hook_id] = str(config.pop("secret", "") or "")
    hook = {
        "type": "Repository",
        "id": hook_id,
        "name": "web",
        "active": bool(body.get("active", True)),
        "events": events,
        "config": {
            "url": config["url"],
            "content_type": config.get("content_type", "form"),
            "insecure_ssl": str(config.get("insecure_ssl", "0")),
        },
        "updated_at": now(),
        "created_at": now(),
        "url": url,
        "test_url": f"{url}/test",
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
        "last_response": {"code": None, "status": "unused", "message": None},
    }
    repo.hooks.append(hook)
    return hook


def hooks(
    double: GitHubDouble,
    repo: Repo,
    method: str,
    path: str,
    rest: list[str],
    query: dict[str, str],
    body: Any,
) -> Result:
    done = collection(
        double,
        repo.hooks,
        method,
        path,
        rest,
        query,
        lambda hook: public_hook(repo, hook),
        lambda: create_hook(double, repo, body),
    )
    if done is not None:
        return done
    hook = member(repo.hooks, rest)
    if method == "PATCH":
        if "config" in body:  # the config is replaced as a whole, secret included
            config = dict(body["config"])
            if not config.get("url"):
                raise validation_failed("Hook", "url is missing", "url")
            repo.secrets[hook["id"]] = str(config.pop("secret", "") or "")
            hook["config"] = {
                "url": config["url"],
                "content_type": config.get("content_type", "form"),
                "insecure_ssl": str(config.get("insecure_ssl", "0")),
            }
        if "events" in body:
            hook["events"] = list(body["events"])
        if "active" in body:
            hook["active"] = bool(body["active"])
        hook["updated_at"] = now()
        return 200, public_hook(repo, hook), {}
    raise Reply(404, "Not Found")


def create_key(double: GitHubDouble, repo: Repo, body: dict[str, Any]) -> dict[str, Any]:
    parts = str(body.get("key") or "").split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise validation_failed(
            "PublicKey",
            f"key is invalid. It must begin with {', '.join(repr(t) for t in KEY_TYPES)}. "
            "Check that you're copying the public half of the key",
            "key",
        )
    material = f"{parts[0]} {parts[1]}"
    if any(k["key"] == material for r in double.repos.values() for k in r.keys):
        raise validation_failed("PublicKey", "key is already in use", "key")
    key_id = next(double.ids)
    key = {
        "id": key_id,
        "key": material,
        "url": f"{double.url}/repos/{repo.full_name}/keys/{key_id}",
        "title": str(body.get("title") or ""),
        "verified": True,
        "created_at": now(),
        "read_only": bool(body.get("read_only", False)),
        "added_by": LOGIN,
        "last_used": None,
        "enabled": True,
    }
    repo.keys.append(key)
    return key


def keys(
    double: GitHubDouble,
    repo: Repo,
    method: str,
    path: str,
    rest: list[str],
    query: dict[str, str],
    body: Any,
) -> Result:
    done = collection(
        double,
        repo.keys,
        method,
        path,
        rest,
        query,
        lambda key: key,
        lambda: create_key(double, repo, body),
    )
    if done is not None:
        return done
    raise Reply(404, "Not Found")


def create_status(double: GitHubDouble, repo: Repo, sha: str, body: Any) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise validation_failed("Status", f"No commit found for SHA: {sha}", "sha")
    state = body.get("state")
    if state not in ("error", "failure", "pending", "success"):
        raise validation_failed("Status", "state is not included in the list", "state")
    description = body.get("description")
    if description is not None and len(description) > 140:
        raise validation_failed(
            "Status", "description is too long (maximum is 140 characters)", "description"
        )
    status_id = next(double.ids)
    status = {
        "url": f"{double.url}/repos/{repo.full_name}/statuses/{sha}",
        "id": status_id,
        "node_id": f"SC_{status_id}",
        "state": state,
        "description": description,
        "target_url": body.get("target_url"),
        "context": body.get("context") or "default",
        "created_at": now(),
        "updated_at": now(),
        "creator": {"login": LOGIN},
    }
    repo.statuses.setdefault(sha, []).append(status)
    return status
