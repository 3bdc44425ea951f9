"""The agent's HTTP API: health, and the webhook endpoints. Each request is answered in
its connection's thread (hostctl/agent/server.py), with a database connection borrowed
from a small pool."""

from __future__ import annotations

import html
import json
import logging
import queue
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

from hostctl import __version__
from hostctl.agent.events import event
from hostctl.agent.server import Handler, Request, Response, plain
from hostctl.agent.webhooks import Answer, handle_app_delivery, handle_delivery, unsigned
from hostctl.core.errors import HostctlError
from hostctl.core.names import APP_NAME
from hostctl.settings import Settings
from hostctl.state import Store

KEPT_STORES = 4  # database connections kept between requests
Route = tuple[re.Pattern[str], tuple[str, ...], Callable[..., Response]]


def json_response(data: dict[str, Any], status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json")


def html_response(page: str, status: int = 200) -> Response:
    return Response(status, page.encode(), "text/html; charset=utf-8", PRIVATE_PAGE)


def web_app(
    settings: Settings, health: Callable[[Store], dict[str, Any]], wake: Callable[[], None]
) -> Handler:
    idle_stores: queue.SimpleQueue[Store] = queue.SimpleQueue()

    @contextmanager
    def store() -> Iterator[Store]:
        """A connection of its own for the request: a connection's transactions are its own.
        A few are kept for the next requests; a burst's extra ones are closed."""
        try:
            borrowed = idle_stores.get_nowait()
        except queue.Empty:
            borrowed = Store(settings.paths.database)
        try:
            yield borrowed
        finally:
            if idle_stores.qsize() < KEPT_STORES:
                idle_stores.put(borrowed)
            else:
                borrowed.close()

    def status(request: Request) -> Response:
        with store() as found:
            report = health(found)
        return json_response(report | {"version": __version__}, 200 if report["healthy"] else 503)

    def delivered(app: str, answer: Answer) -> Response:
        level = logging.WARNING if answer.status >= 400 else logging.INFO
        event(
            "webhook", level, app=app, status=answer.status, outcome=answer.outcome, **answer.fields
        )
        if answer.status == 202:
            wake()
        return json_response(answer.body, answer.status)

    def github_hook(request: Request, app: str) -> Response:
        if not APP_NAME.fullmatch(app):  # not even a name: not worth a log line
            refused = unsigned("refused: not an app name")
            return json_response(refused.body, refused.status)
        with store() as found:
            answer = handle_delivery(found, app, request.headers, request.body)
        return delivered(app, answer)

    def app_secret() -> str | None:
        from hostctl.credentials.github import load_github

        try:
            connection = load_github(settings)
        except HostctlError:
            return None
        return connection.app.webhook_secret if connection and connection.app else None

    def github_app_hook(request: Request) -> Response:
        """The GitHub App's one webhook, for every repository it is installed on."""
        with store() as found:
            answer = handle_app_delivery(found, app_secret(), request.headers, request.body)
        return delivered("*", answer)

    def github_app_setup(request: Request, state: str) -> Response:
        """The one-time page of `hostctl github connect --app`: it posts the manifest."""
        from hostctl.github.app import setup_page

        with store() as found:
            page = setup_page(found, state)
        if page is None:
            return html_response(page_text(SETUP_GONE), 404)
        return html_response(page)

    def github_app_callback(request: Request) -> Response:
        """GitHub sends the browser back here with the code that gives the app's keys."""
        from hostctl.github.app import complete_setup, install_url

        query = parse_qs(request.query)
        state = query.get("state", [""])[0]
        code = query.get("code", [""])[0]
        try:
            with store() as found:
                made = complete_setup(found, settings, state, code)
        except HostctlError as exc:
            event("github-app", logging.WARNING, outcome=f"refused: {exc.message}")
            return html_response(page_text(f"{exc.message}. To do: {exc.hint}"), 400)
        assert made.app is not None
        event("github-app", logging.INFO, outcome="created", slug=made.app.slug)
        url = install_url(made)
        return html_response(
            page_text(f"The GitHub App {made.app.slug} is ready. Install it on your repositories: ")
            + f'<a href="{html.escape(url)}">{html.escape(url)}</a>'
        )

    # HEAD only where GET changes nothing: a link unfurler's HEAD must not use the
    # callback's one-time state and code.
    routes: list[Route] = [
        (re.compile(r"/(health)?"), ("GET", "HEAD"), status),
        (re.compile(r"/hooks/github"), ("POST",), github_app_hook),
        (re.compile(r"/hooks/github/(?P<app>[^/]+)"), ("POST",), github_hook),
        (re.compile(r"/hooks/github-app/new/(?P<state>[^/]+)"), ("GET", "HEAD"), github_app_setup),
        (re.compile(r"/hooks/github-app/callback"), ("GET",), github_app_callback),
    ]

    def handle(request: Request) -> Response:
        for pattern, methods, view in routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method not in methods:
                allowed = (("Allow", ", ".join(methods)),)
                return Response(405, b"Method Not Allowed\n", headers=allowed)
            return view(request, **match.groupdict())
        return plain(404, "Not Found")

    return handle


# The setup pages carry one-time links (the state, GitHub's code): never cached, and
# never sent on to the next site as a Referer.
PRIVATE_PAGE = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"))
SETUP_GONE = (
    "This setup link is unknown, expired (after an hour) or already used. "
    "Run `hostctl github connect --app` again for a new one."
)


def page_text(text: str) -> str:
    return f"<!doctype html><meta charset=utf-8><title>hostctl</title><p>{html.escape(text)}"
