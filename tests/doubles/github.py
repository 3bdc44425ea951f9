"""A GitHub REST API double: a real HTTP server on 127.0.0.1, in a thread (or on an
address a container reaches, over https with a given TLS context, as an Enterprise Server).

It implements the calls hostctl makes, with GitHub's documented shapes, served under
``/api/v3`` as GitHub Enterprise Server does (so base-URL joining is exercised):

- ``GET /user``; ``GET /repos/{o}/{n}``;
- webhooks: ``GET/POST /repos/{o}/{n}/hooks`` (list paginated with ``per_page``/``page``
  and a ``Link`` header), ``GET/PATCH/DELETE .../hooks/{id}`` (201 on create, 204 on
  delete); hook objects carry ``config.secret`` as ``"********"``, never the secret;
  a second hook with the same URL is refused with 422 "Hook already exists";
- deploy keys: ``GET/POST /repos/{o}/{n}/keys``, ``GET/DELETE .../keys/{id}``; a key
  already on any repository is refused with 422 "key is already in use";
- commit statuses: ``POST /repos/{o}/{n}/statuses/{sha}`` (201), kept per sha;
- GitHub Apps: the manifest form (``POST /settings/apps/new?state=`` or the
  ``/organizations/{org}/`` variant, outside /api/v3, answered with a redirect to the
  manifest's ``redirect_url`` with a one-time code), ``POST /app-manifests/{code}/
  conversions`` (id, slug, webhook_secret and the PEM of an RSA key the double made),
  ``GET /app``, ``GET /app/installations``, ``GET /repos/{o}/{n}/installation`` and
  ``POST /app/installations/{id}/access_tokens`` (``ghs_`` tokens with ``expires_at``,
  limited to the repositories asked for);
- git over smart HTTP at ``/{o}/{n}.git`` (``git http-backend`` as a CGI), for Basic
  auth ``x-access-token:<installation token>`` only;
- renames and transfers (``rename_repo``): the same id under the new name.

Auth is ``Authorization: Bearer``: an unknown token gets 401 "Bad credentials"; each
token has fine-grained permissions (``repository_hooks=write`` ...) and a missing one gets
403 with ``X-Accepted-GitHub-Permissions``. A repository the double does not hold is 404.
An app's JWT is verified with the app's public key, and refused (401) when its ``iat`` is
in the future, its ``exp`` is past or more than 10 minutes after ``iat`` or away.
Faults can be queued per method and path regex: any status, headers and message, a
number of times. Every request is recorded (method, path, query, headers without
Authorization, JSON body).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str
    org: bool
    manifest: dict[str, Any]
    webhook_secret: str
    pem: str  # the private key, handed out once by the conversion
    public_key: str


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    repositories: set[str] | None  # lower-case full names; None: all of the account's


@dataclass
class Minted:
    installation: int
    repositories: set[str]
    expires_at: float


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    authorized: bool = False  # it came with an Authorization header (never recorded)


@dataclass
class GitHubDouble(Loopback):
    tokens: dict[str, frozenset[str]] = field(default_factory=lambda: {TOKEN: ALL})
    repos: dict[str, Repo] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    apps: dict[int, App] = field(default_factory=dict)
    codes: dict[str, tuple[dict[str, Any], str | None]] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    minted: dict[str, Minted] = field(default_factory=dict)
    token_lifetime: float = 3600.0
    slow: dict[str, float] = field(default_factory=dict)  # path regex → seconds before answering
    address: str = "127.0.0.1"  # another one (a Docker network's gateway) for a box to reach
    tls: ssl.SSLContext | None = None  # served over https, as a GitHub Enterprise Server

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = count(1001)
        self.git_root = Path(tempfile.mkdtemp(prefix="github-double-"))
        self.listen(handler(self), self.address, self.tls)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.git_root, ignore_errors=True)

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

    def git_repo(self, full_name: str) -> Path:
        """The bare repository served at /{full_name}.git (made, with the repo, on first use)."""
        if full_name.lower() not in self.repos:
            self.add_repo(full_name)
        path = self.git_root / f"{full_name.lower()}.git"
        if not path.exists():
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
        return path

    def rename_repo(self, old: str, new: str) -> Repo:
        """What a rename (or a transfer) on GitHub does: the same repository and id under
        the new name, its git repository served there, installations seeing it by it."""
        repo = self.repos.pop(old.lower())
        repo.full_name = new
        self.repos[new.lower()] = repo
        served = self.git_root / f"{old.lower()}.git"
        if served.exists():
            target = self.git_root / f"{new.lower()}.git"
            target.parent.mkdir(parents=True, exist_ok=True)
            served.rename(target)
        for installation in self.installations.values():
            if installation.repositories and old.lower() in installation.repositories:
                installation.repositories ^= {old.lower(), new.lower()}
        return repo

    def install(self, app_id: int, account: str, repositories: list[str] | None) -> int:
        """Install the app on ``account``'s ``repositories`` (None: all of them)."""
        number = next(self.ids)
        chosen = None if repositories is None else {r.lower() for r in repositories}
        self.installations[number] = Installation(number, app_id, account, chosen)
        return number

    def expire_tokens(self) -> None:
        """Every installation token minted so far expires now."""
        for minted in self.minted.values():
            minted.expires_at = time.time() - 1

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
            if not self.path.startswith(PREFIX):
                self.handle_web(method)
                return
            path, query, raw = self.read_call(PREFIX)
            time.sleep(sum(t for pattern, t in double.slow.items() if re.search(pattern, path)))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            body: Any = None
            extra: dict[str, str] = {}
            try:
                body = json.loads(raw) if raw else {}
                with double.lock:
                    fault = injected(double.faults, method, path)
                    authorization = self.headers.get("Authorization", "")
                    if path.startswith("/app-manifests/"):
                        status, result, extra = convert(double, method, path)
                    elif path.startswith("/app") or re.fullmatch(
                        r"/repos/[^/]+/[^/]+/installation", path
                    ):
                        app = app_from_jwt(double, authorization)
                        status, result, extra = app_route(double, app, method, path, body)
                    elif authorization.removeprefix("Bearer ").strip() in double.minted:
                        minted = installation_token(double, authorization)
                        status, result, extra = route(
                            double, method, path, query, body, INSTALLATION, minted.repositories
                        )
                    else:
                        permissions = authenticate(
                            double.tokens, authorization, lambda: Reply(401, "Bad credentials")
                        )
                        status, result, extra = route(
                            double, method, path, query, body, permissions
                        )
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

        def handle_web(self, method: str) -> None:
            """github.com itself: the manifest form and git over smart HTTP."""
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            form = re.fullmatch(r"(?:/organizations/([^/]+))?/settings/apps/new", split.path)
            git = re.fullmatch(r"/([^/]+/[^/]+)\.git(/.*)", split.path)
            if form and method == "POST":
                status, answer, extra = manifest_form(double, form[1], query, raw)
            elif git:
                status, answer, extra = git_http(double, self, method, git[1], git[2], raw)
            else:
                status, answer, extra = 404, b"Not Found", {}
            authorized = bool(self.headers.get("Authorization"))
            double.requests.append(
                Request(method, split.path, query, headers, None, status, authorized)
            )
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(answer)

    return Handler


INSTALLATION = frozenset({"statuses=write", "contents=read", "metadata=read"})


def manifest_form(
    double: GitHubDouble, org: str | None, query: dict[str, str], raw: bytes
) -> tuple[int, bytes, dict[str, str]]:
    """The person confirms the app on GitHub: a code, and back to the redirect URL."""
    fields = parse_qs(raw.decode())
    manifest = json.loads(fields["manifest"][0])
    code = secrets.token_hex(10)
    with double.lock:
        double.codes[code] = (manifest, org)
    back = f"{manifest['redirect_url']}?{urlencode({'code': code, 'state': query['state']})}"
    return 302, b"", {"Location": back}


def convert(double: GitHubDouble, method: str, path: str) -> Result:
    parts = path.strip("/").split("/")
    if method != "POST" or len(parts) != 3 or parts[2] != "conversions":
        raise Reply(404, "Not Found")
    found = double.codes.pop(parts[1], None)
    if found is None:
        raise Reply(404, "Not Found")
    manifest, org = found
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    app_id = next(double.ids)
    slug = re.sub(r"[^a-z0-9-]", "-", str(manifest["name"]).lower())
    app = App(
        app_id,
        slug,
        manifest["name"],
        org or LOGIN,
        org is not None,
        manifest,
        secrets.token_hex(20),
        pem,
        public,
    )
    double.apps[app_id] = app
    owner = {"login": app.owner, "type": "Organization" if app.org else "User"}
    return (
        201,
        {
            "id": app.id,
            "slug": app.slug,
            "name": app.name,
            "owner": owner,
            "html_url": f"{double.origin}/apps/{app.slug}",
            "client_id": f"Iv1.{app.id}",
            "client_secret": secrets.token_hex(20),
            "webhook_secret": app.webhook_secret,
            "pem": app.pem,
        },
        {},
    )


def app_from_jwt(double: GitHubDouble, authorization: str) -> App:
    """The app whose key signed the bearer JWT, checked as GitHub checks it."""
    import jwt

    token = authorization.removeprefix("Bearer ").strip()
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        app = double.apps[int(claims["iss"])]
        claims = jwt.decode(
            token,
            app.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        issued, expires = int(claims["iat"]), int(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise Reply(401, "A JSON web token could not be decoded") from exc
    now = time.time()
    if issued > now:
        raise Reply(
            401, "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        )
    if expires < now:
        raise Reply(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires",
        )
    if expires - issued > 600 or expires > now + 600:
        raise Reply(401, "'Expiration time' claim ('exp') is too far in the future")
    return app


def installation_token(double: GitHubDouble, authorization: str) -> Minted:
    minted = double.minted[authorization.removeprefix("Bearer ").strip()]
    if minted.expires_at < time.time():
        raise Reply(401, "Bad credentials")
    return minted


def covers(installation: Installation, full_name: str) -> bool:
    owner = full_name.split("/")[0].lower()
    if installation.account.lower() != owner:
        return False
    return installation.repositories is None or full_name.lower() in installation.repositories


def show_installation(double: GitHubDouble, installation: Installation) -> dict[str, Any]:
    app = double.apps[installation.app_id]
    return {
        "id": installation.id,
        "account": {"login": installation.account},
        "app_id": app.id,
        "app_slug": app.slug,
        "repository_selection": "all" if installation.repositories is None else "selected",
        "permissions": {"contents": "read", "metadata": "read", "statuses": "write"},
    }


def app_route(double: GitHubDouble, app: App, method: str, path: str, body: Any) -> Result:
    parts = path.strip("/").split("/")
    mine = [i for i in double.installations.values() if i.app_id == app.id]
    if parts == ["app"] and method == "GET":
        owner = {"login": app.owner, "type": "Organization" if app.org else "User"}
        return 200, {"id": app.id, "slug": app.slug, "name": app.name, "owner": owner}, {}
    if parts == ["app", "installations"] and method == "GET":
        return 200, [show_installation(double, i) for i in mine], {}
    if parts[0] == "repos" and method == "GET":
        full_name = f"{parts[1]}/{parts[2]}"
        found = next((i for i in mine if covers(i, full_name)), None)
        if found is None or full_name.lower() not in double.repos:
            raise Reply(404, "Not Found")
        return 200, show_installation(double, found), {}
    tokens = re.fullmatch(r"app/installations/(\d+)/access_tokens", "/".join(parts))
    if tokens and method == "POST":
        installation = next((i for i in mine if str(i.id) == tokens[1]), None)
        if installation is None:
            raise Reply(404, "Not Found")
        wanted = {f"{installation.account}/{name}".lower() for name in body["repositories"]}
        if not all(covers(installation, name) for name in wanted):
            raise Reply(
                422,
                "There is at least one repository that does not exist or is not accessible "
                "to the parent installation.",
            )
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + double.token_lifetime
        double.minted[token] = Minted(installation.id, wanted, expires)
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"token": token, "expires_at": stamp, "repository_selection": "selected"}, {}
    raise Reply(404, "Not Found")


def git_http(
    double: GitHubDouble,
    request: ApiHandler,
    method: str,
    full_name: str,
    rest: str,
    raw: bytes,
) -> tuple[int, bytes, dict[str, str]]:
    """``git http-backend`` for a repository the Basic-auth installation token may read."""
    challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
    header = request.headers.get("Authorization", "")
    try:
        user, _, token = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        user, token = "", ""
    with double.lock:
        minted = double.minted.get(token)
        allowed = (
            header.startswith("Basic ")
            and user == "x-access-token"
            and minted is not None
            and minted.expires_at > time.time()
            and full_name.lower() in minted.repositories
        )
    if not allowed:
        return 401, b"Invalid username or token.", challenge
    query = urlsplit(request.path).query
    env = {
        "PATH": "/usr/bin:/bin",
        "GIT_PROJECT_ROOT": str(double.git_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": method,
        "PATH_INFO": f"/{full_name.lower()}.git{rest}",
        "QUERY_STRING": query,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(raw)),
        "REMOTE_USER": user,
        "REMOTE_ADDR": "127.0.0.1",
    }
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    done = subprocess.run(
        ["git", "http-backend"], input=raw, env=env, capture_output=True, check=False
    )
    head, _, answer = done.stdout.partition(b"\r\n\r\n")
    status, extra = 200, {}
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name and name.lower() != "content-length":
            extra[name] = value.strip()
    return status, answer, extra


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
    scope: set[str] | None = None,
) -> Result:
    parts = path.strip("/").split("/")
    if parts == ["user"] and method == "GET":
        return 200, {"login": LOGIN, "id": 583231, "type": "User", "site_admin": False}, {}
    if len(parts) < 3 or parts[0] != "repos":
        raise Reply(404, "Not Found")
    repo = double.repos.get(f"{parts[1]}/{parts[2]}".lower())
    if repo is None or (scope is not None and repo.full_name.lower() not in scope):
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
