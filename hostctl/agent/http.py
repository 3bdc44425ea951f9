"""The agent's HTTP API (Starlette): health, and the webhook endpoint per app."""

from __future__ import annotations

import asyncio
import html
import logging
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from hostctl import __version__
from hostctl.agent.events import event
from hostctl.agent.webhooks import MAX_BODY, handle_app_delivery, handle_delivery, unsigned
from hostctl.core.errors import HostctlError
from hostctl.core.names import APP_NAME
from hostctl.settings import Settings
from hostctl.state import Store

BODY_SECONDS = 10.0


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The raw body, refused past MAX_BODY before it is all read, and within
    BODY_SECONDS (a client that trickles its body must not hold a connection slot)."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BodyTooLarge
    body = bytearray()
    async with asyncio.timeout(BODY_SECONDS):
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise BodyTooLarge
    return bytes(body)


def web_app(
    settings: Settings, health: Callable[[Store], dict[str, Any]], wake: Callable[[], None]
) -> Starlette:
    local = threading.local()

    def store() -> Store:
        """One connection per thread of the pool: a connection's transactions are its own."""
        if not hasattr(local, "store"):
            local.store = Store(settings.paths.database)
        found: Store = local.store
        return found

    async def status(request: Request) -> JSONResponse:
        report = await run_in_threadpool(lambda: health(store()))
        return JSONResponse(report | {"version": __version__}, 200 if report["healthy"] else 503)

    async def github_hook(request: Request) -> JSONResponse:
        app = request.path_params["app"]
        if not APP_NAME.fullmatch(app):  # not even a name: not worth a log line
            refused = unsigned("refused: not an app name")
            return JSONResponse(refused.body, refused.status)
        try:
            body = await read_body(request)
        except BodyTooLarge:
            event("webhook", logging.WARNING, app=app, outcome="refused: body too large")
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        except TimeoutError:
            event("webhook", logging.WARNING, app=app, outcome="refused: body too slow")
            return JSONResponse({"error": "the body took too long to arrive"}, 408)
        headers = request.headers
        answer = await run_in_threadpool(lambda: handle_delivery(store(), app, headers, body))
        level = logging.WARNING if answer.status >= 400 else logging.INFO
        event(
            "webhook", level, app=app, status=answer.status, outcome=answer.outcome, **answer.fields
        )
        if answer.status == 202:
            wake()
        return JSONResponse(answer.body, answer.status)

    def app_secret() -> str | None:
        from hostctl.credentials.github import load_github

        try:
            connection = load_github(settings)
        except HostctlError:
            return None
        return connection.app.webhook_secret if connection and connection.app else None

    async def github_app_hook(request: Request) -> JSONResponse:
        """The GitHub App's one webhook, for every repository it is installed on."""
        try:
            body = await read_body(request)
        except BodyTooLarge:
            event("webhook", logging.WARNING, app="*", outcome="refused: body too large")
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        except TimeoutError:
            event("webhook", logging.WARNING, app="*", outcome="refused: body too slow")
            return JSONResponse({"error": "the body took too long to arrive"}, 408)
        headers = request.headers
        answer = await run_in_threadpool(
            lambda: handle_app_delivery(store(), app_secret(), headers, body)
        )
        level = logging.WARNING if answer.status >= 400 else logging.INFO
        event(
            "webhook", level, app="*", status=answer.status, outcome=answer.outcome, **answer.fields
        )
        if answer.status == 202:
            wake()
        return JSONResponse(answer.body, answer.status)

    async def github_app_setup(request: Request) -> HTMLResponse:
        """The one-time page of `hostctl github connect --app`: it posts the manifest."""
        from hostctl.github.app import setup_page

        state = request.path_params["state"]
        page = await run_in_threadpool(lambda: setup_page(store(), state))
        if page is None:
            return HTMLResponse(page_text(SETUP_GONE), 404)
        return HTMLResponse(page, headers=PRIVATE_PAGE)

    async def github_app_callback(request: Request) -> HTMLResponse:
        """GitHub sends the browser back here with the code that gives the app's keys."""
        from hostctl.github.app import complete_setup, install_url

        if request.method != "GET":  # Starlette answers HEAD with GET: it would use the link
            return HTMLResponse("", 405, headers={"Allow": "GET"})
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        try:
            made = await run_in_threadpool(lambda: complete_setup(store(), settings, state, code))
        except HostctlError as exc:
            event("github-app", logging.WARNING, outcome=f"refused: {exc.message}")
            return HTMLResponse(
                page_text(f"{exc.message}. To do: {exc.hint}"), 400, headers=PRIVATE_PAGE
            )
        assert made.app is not None
        event("github-app", logging.INFO, outcome="created", slug=made.app.slug)
        url = install_url(made)
        return HTMLResponse(
            page_text(f"The GitHub App {made.app.slug} is ready. Install it on your repositories: ")
            + f'<a href="{html.escape(url)}">{html.escape(url)}</a>',
            headers=PRIVATE_PAGE,
        )

    return Starlette(
        routes=[
            Route("/", status),
            Route("/health", status),
            Route("/hooks/github", github_app_hook, methods=["POST"]),
            Route("/hooks/github/{app}", github_hook, methods=["POST"]),
            Route("/hooks/github-app/new/{state}", github_app_setup),
            Route("/hooks/github-app/callback", github_app_callback, methods=["GET"]),
        ]
    )


# The setup pages carry one-time links (the state, GitHub's code): never cached, and
# never sent on to the next site as a Referer.
PRIVATE_PAGE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
SETUP_GONE = (
    "This setup link is unknown, expired (after an hour) or already used. "
    "Run `hostctl github connect --app` again for a new one."
)


def page_text(text: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>hostctl</title><p>{html.escape(text)}"
