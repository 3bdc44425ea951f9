"""GitHub's REST API, with httpx: webhooks, deploy keys, commit statuses, GitHub Apps.

The only module that talks to GitHub's API. Every call goes through ``GitHub.request``:
5xx answers and connection failures are retried with exponential backoff, rate limits
are waited out (``Retry-After`` exactly, else until ``X-RateLimit-Reset``) when the wait
is short, and everything else becomes a ``HostctlError`` that names the missing
permission or says what to do. The token lives only in the client's headers: it is never
put into a message, a log line or a repr.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from hostctl import __version__
from hostctl.core.errors import HostctlError
from hostctl.core.imports import hidden
from hostctl.core.names import LOOPBACK_HOSTS

with hidden("httpx._main"):  # its command line client, which imports rich and pygments
    import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_DESCRIPTION = 140  # GitHub refuses longer commit status descriptions
STATES = ("pending", "success", "failure", "error")

# GitHub's names for fine-grained permissions, as the token settings page shows them.
PERMISSION_NAMES = {
    "administration": "Administration",
    "contents": "Contents",
    "metadata": "Metadata",
    "repository_hooks": "Webhooks",
    "statuses": "Commit statuses",
}
LEVELS = {"read": "read-only", "write": "read and write", "admin": "admin"}
WEBHOOKS = "Webhooks: read and write"
DEPLOY_KEYS = "Administration: read and write"
STATUSES = "Commit statuses: read and write"
METADATA = "Metadata: read-only"
MANIFEST_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")


class GitHubUnavailable(HostctlError):
    """GitHub could not be reached, kept failing (5xx), or rate-limits for too long."""


class RepoNotFound(HostctlError):
    """GitHub answers 404 for the repository: it does not exist or the token cannot see it."""


class NotInstalled(HostctlError):
    """The GitHub App is not installed on the repository (or it does not exist)."""


@dataclass(frozen=True)
class Permission:
    """A permission GitHub asked for, from the X-Accepted-GitHub-Permissions header."""

    name: str
    level: str

    def __str__(self) -> str:
        name = PERMISSION_NAMES.get(self.name, self.name.replace("_", " ").capitalize())
        return f"{name}: {LEVELS.get(self.level, self.level)}"


def accepted_permissions(header: str) -> str | None:
    """``"repository_hooks=write; contents=read,metadata=read"`` in words.

    GitHub separates alternative sets with ``;`` and the permissions of one set with ``,``.
    """
    alternatives = []
    for group in header.split(";"):
        wanted = [
            str(Permission(*(part.strip() for part in item.split("=", 1))))
            for item in group.split(",")
            if "=" in item
        ]
        if wanted:
            alternatives.append(" and ".join(wanted))
    return " or ".join(alternatives) or None


def check_api_url(api_url: str) -> str:
    """The API's base URL, without a trailing slash; plain http only on loopback."""
    url = httpx.URL(api_url.strip().rstrip("/"))
    if url.scheme == "https" and url.host:
        return str(url)
    if url.scheme == "http" and url.host in LOOPBACK_HOSTS:
        return str(url)
    raise HostctlError(
        f"{api_url!r} is not a GitHub API URL",
        f"use {DEFAULT_API_URL}, or https://HOST/api/v3 for GitHub Enterprise Server",
    )


def web_url(api_url: str) -> str:
    """Where people manage tokens, apps and repositories: github.com, or the Enterprise
    server itself."""
    url = httpx.URL(check_api_url(api_url))
    if url.host == "api.github.com":
        return "https://github.com"
    return str(url.copy_with(path="/", query=None)).rstrip("/")


def key_material(public_key: str) -> str:
    """``"ssh-ed25519 AAAA..."`` without the comment: what GitHub compares keys by."""
    parts = public_key.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise HostctlError(
            "the deploy key is not an OpenSSH public key",
            "expected one line like `ssh-ed25519 AAAA... comment`",
        )
    return f"{parts[0]} {parts[1]}"


class GitHub:
    """The calls hostctl makes on GitHub, each one plain data or a HostctlError."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        max_wait: float = 60.0,
        per_page: int = 100,
        timeout: float = 20.0,
        auth_hint: str | None = None,
        app_install_url: str | None = None,
        deadline: float | None = None,
    ) -> None:
        self.api_url = check_api_url(api_url)
        self.deadline = deadline  # time.monotonic() by which every call must be done
        self.auth_hint = auth_hint
        self.app_install_url = app_install_url  # a GitHub App's token: hints about the App
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.per_page = per_page
        self.client = httpx.Client(
            base_url=self.api_url,
            headers={
                **({"Authorization": f"Bearer {token.strip()}"} if token.strip() else {}),
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"hostctl/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    def __repr__(self) -> str:
        return f"GitHub({self.api_url!r})"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def web_url(self) -> str:
        return web_url(self.api_url)

    @property
    def token_hint(self) -> str:
        if self.auth_hint:
            return self.auth_hint
        return (
            f"create a fine-grained token at {self.web_url}/settings/personal-access-tokens/new "
            "with access to the apps' repositories and the permissions "
            f"{WEBHOOKS}, {DEPLOY_KEYS} and {STATUSES}, then run "
            "`hostctl github connect --token TOKEN`"
        )

    # the one way in

    def request(
        self,
        method: str,
        path: str,
        what: str,
        permission: str | None = None,
        *,
        repo: str | None = None,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API call with retries; a status in ``allow`` is returned, not raised."""
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            try:
                response = self.client.request(
                    method, path, json=json, params=params, timeout=self.time_left(what)
                )
            except httpx.TransportError as exc:
                if last:
                    raise GitHubUnavailable(
                        f"cannot reach GitHub at {self.api_url} to {what} "
                        f"({type(exc).__name__}: {exc}) after {attempt} attempts",
                        "check the box's outbound network and DNS, then try again",
                    ) from exc
                self.sleep(backoff(attempt))
                continue
            if response.status_code >= 500:
                if last:
                    raise GitHubUnavailable(
                        f"GitHub kept failing to {what} (HTTP {response.status_code} "
                        f"after {attempt} attempts)",
                        "GitHub may be having an incident (https://www.githubstatus.com); "
                        "try again later",
                    )
                self.sleep(backoff(attempt))
                continue
            wait = rate_limit_wait(response)
            if wait is not None:
                if wait > self.max_wait or last:
                    at = datetime.now(UTC) + timedelta(seconds=wait)
                    raise GitHubUnavailable(
                        f"GitHub's rate limit stops hostctl from trying to {what} "
                        f"({describe(response)})",
                        f"try again after {at:%H:%M:%S} UTC (in {wait:.0f} s)",
                    )
                self.sleep(wait)
                continue
            if response.is_success or response.status_code in allow:
                return response
            raise self.refusal(response, what, permission, repo)

    def time_left(self, what: str) -> httpx.Timeout | None:
        """The client's timeouts, cut to what is left before the deadline."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise GitHubUnavailable(f"GitHub did not answer in time to {what}", "try again later")
        configured = self.client.timeout
        return httpx.Timeout(
            min(left, configured.read or left), connect=min(left, configured.connect or left)
        )

    def refusal(
        self, response: httpx.Response, what: str, permission: str | None, repo: str | None
    ) -> HostctlError:
        """A 4xx answer as an error a person can act on."""
        status = response.status_code
        if status == 401 and self.app_install_url:
            return HostctlError(
                f"GitHub rejected the GitHub App's credentials ({describe(response)})",
                self.token_hint,
            )
        if status == 401:
            return HostctlError(
                f"GitHub rejected the token ({describe(response)}): it is expired, revoked "
                "or mistyped",
                self.token_hint,
            )
        if status == 403:
            # GitHub's header names what this one request lacked (reading the keys wants
            # Administration: read-only); the hint names what the whole operation needs.
            header = response.headers.get("X-Accepted-GitHub-Permissions", "")
            needed = accepted_permissions(header) or permission
            where = f" on {repo}" if repo else ""
            if self.app_install_url:
                return HostctlError(
                    f"the GitHub App may not {what}"
                    + (f": it needs the permission {needed}" if needed else "")
                    + f" ({describe(response)})",
                    f"check the App's permissions ({permission or needed or 'the missing one'})"
                    f" in its settings on GitHub, accept them on its installation{where}, "
                    f"and check it is installed there: {self.app_install_url}",
                )
            return HostctlError(
                f"the GitHub token may not {what}"
                + (f": it needs the permission {needed}" if needed else "")
                + f" ({describe(response)})",
                f"edit the token at {self.web_url}/settings/personal-access-tokens: give it "
                f"{permission or needed or 'the missing permission'}{where}",
            )
        if status == 404 and repo is not None and self.app_install_url:
            return RepoNotFound(
                f"repository {repo} not found, or the GitHub App cannot see it",
                f"check the name (OWNER/NAME, e.g. me/blog) and install the App on {repo}: "
                f"{self.app_install_url}",
            )
        if status == 404 and repo is not None:
            return RepoNotFound(
                f"repository {repo} not found, or the token cannot see it",
                "check the name (OWNER/NAME, e.g. me/blog); a fine-grained token must list "
                f"the repository under Repository access and have {METADATA}"
                + (f" and {permission}" if permission else ""),
            )
        return HostctlError(
            f"GitHub refused to {what} (HTTP {status}: {describe(response)})",
            "run `hostctl github status`; report it with `hostctl --debug` output if it persists",
        )

    def pages(
        self, path: str, what: str, permission: str | None, repo: str | None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following the Link header's ``next``.

        Only the next page's query is taken from the link, and the request goes to the
        same path on our own base URL: the token is never sent anywhere else.
        """
        params: dict[str, Any] = {"per_page": self.per_page}
        while True:
            response = self.request("GET", path, what, permission, repo=repo, params=params)
            items = body(response, what)
            if not isinstance(items, list):
                raise unreadable(what)
            yield from (item for item in items if isinstance(item, dict))
            link = response.links.get("next", {}).get("url")
            if not link:
                return
            params = dict(httpx.URL(link).params)

    # the token

    def whoami(self) -> str:
        """The login the token belongs to; proves the token works."""
        found = body(self.request("GET", "/user", "read the token's user"), "read the user")
        if not isinstance(found, dict) or not found.get("login"):
            raise unreadable("read the token's user")
        return str(found["login"])

    def check_repo(self, repo: str) -> None:
        """Raise RepoNotFound unless the token can see ``repo``."""
        self.request("GET", f"/repos/{repo}", f"read {repo}", METADATA, repo=repo)

    # webhooks

    def ensure_webhook(self, repo: str, url: str, secret: str, known_id: int | None = None) -> int:
        """The push webhook to ``url``, created or brought up to date; never a duplicate.

        A retried POST can reach GitHub twice; GitHub answers the second with 422 "Hook
        already exists", and the hook is then found by its URL.
        """
        hooks = f"/repos/{repo}/hooks"
        config = {"url": url, "content_type": "json", "insecure_ssl": "0", "secret": secret}
        hook = self.known(repo, hooks, known_id, "webhook", WEBHOOKS)
        hook = hook or self.find_hook(repo, url)
        if hook is None:
            created = self.request(
                "POST",
                hooks,
                f"create a webhook on {repo}",
                WEBHOOKS,
                repo=repo,
                json={"name": "web", "active": True, "events": ["push"], "config": config},
                allow=(422,),
            )
            if created.status_code != 422:
                return object_id(body(created, "create a webhook"), "create a webhook")
            hook = self.find_hook(repo, url)
            if hook is None:
                raise self.refusal(created, f"create a webhook on {repo}", WEBHOOKS, repo)
        self.request(
            "PATCH",
            f"{hooks}/{object_id(hook, 'read a webhook')}",
            f"update the webhook on {repo}",
            WEBHOOKS,
            repo=repo,
            json={"active": True, "events": ["push"], "config": config},
        )
        return object_id(hook, "read a webhook")

    def find_hook(self, repo: str, url: str) -> dict[str, Any] | None:
        return self.first(
            repo,
            "hooks",
            "webhook",
            WEBHOOKS,
            lambda hook: (hook.get("config") or {}).get("url") == url,
        )

    def known(
        self, repo: str, collection: str, known_id: int | None, thing: str, permission: str
    ) -> dict[str, Any] | None:
        """The hook or key hostctl remembered by id; None when unknown or gone (404)."""
        if known_id is None:
            return None
        found = self.request(
            "GET",
            f"{collection}/{known_id}",
            f"read the {thing}s of {repo}",
            permission,
            repo=repo,
            allow=(404,),
        )
        if found.status_code != 200:
            return None
        item = body(found, f"read a {thing}")
        return item if isinstance(item, dict) else None

    def first(
        self,
        repo: str,
        collection: str,
        thing: str,
        permission: str,
        match: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any] | None:
        """The first hook or key of ``repo`` that ``match``es, reading no more pages."""
        items = self.pages(
            f"/repos/{repo}/{collection}", f"list the {thing}s of {repo}", permission, repo
        )
        return next((item for item in items if match(item)), None)

    def remove_webhook(self, repo: str, hook_id: int) -> bool:
        """Delete the hook hostctl made; False when it was already gone."""
        return self.delete(repo, f"/repos/{repo}/hooks/{hook_id}", "webhook", WEBHOOKS)

    # deploy keys

    def ensure_deploy_key(
        self, repo: str, title: str, public_key: str, known_id: int | None = None
    ) -> int:
        """A read-only deploy key with this key material on ``repo``; reused when present.

        A writable key with the same material is replaced, so the app's key never grants
        more than read access.
        """
        material = key_material(public_key)
        keys = f"/repos/{repo}/keys"
        key = self.known(repo, keys, known_id, "deploy key", DEPLOY_KEYS)
        if key is not None and not same_key(key, material):
            key = None
        key = key or self.find_key(repo, material)
        if key is not None and key.get("read_only") is True:
            return object_id(key, "read a deploy key")
        if key is not None:
            self.remove_deploy_key(repo, object_id(key, "read a deploy key"))
        what = f"add a deploy key to {repo}"
        created = self.request(
            "POST",
            keys,
            what,
            DEPLOY_KEYS,
            repo=repo,
            json={"title": title, "key": material, "read_only": True},
            allow=(422,),
        )
        if created.status_code != 422:
            return object_id(body(created, what), what)
        retried = self.find_key(repo, material)  # a retried POST had already added it
        if retried is not None:
            return object_id(retried, what)
        if "already in use" in describe(created):
            raise HostctlError(
                f"GitHub refused the deploy key for {repo}: the key is already in use on "
                "another repository (a deploy key can belong to one repository only)",
                "each app has its own key; remove this key from the other repository "
                "(Settings → Deploy keys), or run `hostctl apps disconnect` for the app "
                "connected to it, then connect again",
            )
        raise self.refusal(created, what, DEPLOY_KEYS, repo)

    def find_key(self, repo: str, material: str) -> dict[str, Any] | None:
        return self.first(
            repo, "keys", "deploy key", DEPLOY_KEYS, lambda key: same_key(key, material)
        )

    def remove_deploy_key(self, repo: str, key_id: int) -> bool:
        """Delete the key hostctl added; False when it was already gone."""
        return self.delete(repo, f"/repos/{repo}/keys/{key_id}", "deploy key", DEPLOY_KEYS)

    def delete(self, repo: str, path: str, thing: str, permission: str) -> bool:
        """DELETE; a 404 means gone only if the repository itself is visible."""
        done = self.request(
            "DELETE", path, f"delete the {thing} on {repo}", permission, repo=repo, allow=(404,)
        )
        if done.status_code == 404:
            self.check_repo(repo)
            return False
        return True

    # commit statuses

    def set_status(
        self,
        repo: str,
        sha: str,
        state: str,
        description: str,
        target_url: str | None,
        context: str = "hostctl",
    ) -> None:
        """Mark the commit ``sha`` (the check next to it on GitHub)."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        if len(description) > MAX_DESCRIPTION:
            description = description[: MAX_DESCRIPTION - 1] + "…"
        payload: dict[str, Any] = {"state": state, "description": description, "context": context}
        if target_url:
            payload["target_url"] = target_url
        self.request(
            "POST",
            f"/repos/{repo}/statuses/{sha}",
            f"set the commit status of {sha[:12]} on {repo}",
            STATUSES,
            repo=repo,
            json=payload,
        )

    # GitHub Apps: these calls are made with an app JWT (``app_jwt``) as the token, except
    # the manifest conversion, which needs no authentication at all.

    def convert_manifest(self, code: str) -> dict[str, Any]:
        """The app GitHub made from a manifest: id, slug, webhook_secret, pem, owner ..."""
        what = "create the GitHub App from its manifest"
        if not MANIFEST_CODE.fullmatch(code):  # it goes into the URL's path
            raise HostctlError(
                "the setup link came back without a valid code from GitHub",
                "run `hostctl github connect --app` again for a new link",
            )
        created = body(self.request("POST", f"/app-manifests/{code}/conversions", what), what)
        if not isinstance(created, dict) or not all(
            created.get(k) for k in ("id", "slug", "pem", "webhook_secret")
        ):
            raise unreadable(what)
        return created

    def app(self) -> dict[str, Any]:
        """The app the JWT belongs to (GET /app); proves the private key works."""
        found = body(self.request("GET", "/app", "read the GitHub App"), "read the GitHub App")
        if not isinstance(found, dict) or not found.get("slug"):
            raise unreadable("read the GitHub App")
        return found

    def installations(self) -> list[dict[str, Any]]:
        return list(self.pages("/app/installations", "list the app's installations", None, None))

    def repo_installation(self, repo: str, install_url: str) -> int:
        """The id of the app's installation that can see ``repo``."""
        found = self.request(
            "GET",
            f"/repos/{repo}/installation",
            f"find the app's installation on {repo}",
            allow=(404,),
        )
        if found.status_code == 404:
            raise NotInstalled(
                f"the GitHub App cannot see {repo}: it is not installed there, or the "
                "repository does not exist",
                f"install the app on {repo} at {install_url} (or add the repository to its "
                "installation), then run the command again",
            )
        return object_id(body(found, "read an installation"), "read an installation")

    def installation_token(self, installation: int, repo: str) -> tuple[str, float]:
        """A token of the installation limited to ``repo``, and when it expires (epoch)."""
        what = f"get an installation token for {repo}"
        minted = body(
            self.request(
                "POST",
                f"/app/installations/{installation}/access_tokens",
                what,
                repo=repo,
                json={"repositories": [repo.split("/", 1)[1]]},
            ),
            what,
        )
        if not isinstance(minted, dict) or not minted.get("token"):
            raise unreadable(what)
        try:
            expires = datetime.fromisoformat(str(minted["expires_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError) as exc:
            raise unreadable(what) from exc
        return str(minted["token"]), expires.timestamp()


JWT_BACKDATE = 60  # seconds: GitHub refuses an iat ahead of its clock
JWT_LIFETIME = 540  # seconds after now; GitHub refuses an exp more than 10 min after iat


def app_jwt(app_id: int, private_key: str, now: float | None = None, key_path: str = "") -> str:
    """The RS256 JWT a GitHub App authenticates with, valid for about nine minutes;
    ``key_path`` names the key's file when it cannot be read."""
    import jwt  # lazy: the agent imports this module, and the JWT stack is heavy

    issued = int(time.time() if now is None else now)
    claims = {"iat": issued - JWT_BACKDATE, "exp": issued + JWT_LIFETIME, "iss": str(app_id)}
    try:
        return str(jwt.encode(claims, private_key, algorithm="RS256"))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:  # a damaged or truncated PEM
        raise HostctlError(
            " ".join(filter(None, ("the GitHub App's private key", key_path, "cannot be read"))),
            "run `hostctl github connect --app` again",
        ) from exc


@dataclass(frozen=True)
class AppIdentity:
    """What mints installation tokens: the app's id and private key on one GitHub."""

    api_url: str
    app_id: int
    slug: str
    private_key: str = field(repr=False)
    key_path: str = ""  # where the key is kept, for errors

    @property
    def install_url(self) -> str:
        return f"{web_url(self.api_url)}/apps/{self.slug}/installations/new"


TOKEN_MARGIN = 300.0  # seconds before expires_at that a cached token is replaced
_tokens: dict[tuple[str, int, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def installation_token(
    app: AppIdentity,
    repo: str,
    *,
    fresh: bool = False,
    clock: Callable[[], float] = time.time,
    max_attempts: int = 4,
    timeout: float = 20.0,
    deadline: float | None = None,
) -> str:
    """A token for ``repo``, from this process's memory while it has minutes left.

    ``fresh`` mints a new one (the cached one was refused). Tokens are kept in memory
    only: never written to disk, a log or a command line.
    """
    key = (app.api_url, app.app_id, repo.lower())
    with _tokens_lock:
        cached = _tokens.get(key)
    if cached and not fresh and cached[1] - TOKEN_MARGIN > clock():
        return cached[0]
    jwt = app_jwt(app.app_id, app.private_key, clock(), app.key_path)
    hint = (
        "check that the box's clock is right (`timedatectl`: GitHub refuses an app's JWT "
        f"dated ahead of its own clock), and that the GitHub App {app.slug} still exists "
        f"and is installed: {app.install_url}"
    )
    with GitHub(
        jwt,
        app.api_url,
        max_attempts=max_attempts,
        timeout=timeout,
        auth_hint=hint,
        app_install_url=app.install_url,
        deadline=deadline,
    ) as api:
        installation = api.repo_installation(repo, app.install_url)
        token, expires = api.installation_token(installation, repo)
    with _tokens_lock:
        _tokens[key] = (token, expires)
    return token


def backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, ... capped at 30 s."""
    return float(min(30.0, 0.5 * 2 ** (attempt - 1)))


def rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds to wait when the answer is a rate limit (GitHub's documented rules), else None.

    Primary and secondary limits come as 403 or 429: ``Retry-After`` wins; then
    ``X-RateLimit-Remaining: 0`` means wait until ``X-RateLimit-Reset``; a limit with
    neither header means wait a minute. A 403 without these is a permission problem.
    """
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("Retry-After", "")
    if retry_after.strip().isdigit():
        return float(retry_after)
    reset = headers.get("X-RateLimit-Reset", "")
    if headers.get("X-RateLimit-Remaining") == "0" and reset.isdigit():
        return max(1.0, int(reset) - time.time())
    if response.status_code == 429 or "rate limit" in describe(response).lower():
        return 60.0
    return None


def body(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise unreadable(what) from exc


def unreadable(what: str) -> HostctlError:
    return HostctlError(
        f"GitHub gave an answer hostctl cannot read when trying to {what}",
        "check --api-url (`hostctl github status`); report it with `hostctl --debug` output",
    )


def describe(response: httpx.Response) -> str:
    """GitHub's error message and the messages of its ``errors`` list."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if not isinstance(data, dict):
        return f"HTTP {response.status_code}"
    parts = [str(data.get("message") or response.reason_phrase)]
    for error in data.get("errors") or []:
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
        elif isinstance(error, str):
            parts.append(error)
    return ": ".join(parts)


def same_key(found: dict[str, Any], material: str) -> bool:
    """Whether a key GitHub listed has this material (GitHub drops the comment)."""
    return str(found.get("key") or "").split()[:2] == material.split()


def object_id(found: Any, what: str) -> int:
    """The ``id`` of a hook or key GitHub returned."""
    if not isinstance(found, dict) or not isinstance(found.get("id"), int):
        raise unreadable(what)
    return int(found["id"])
