"""The agent's HTTP server over real loopback sockets: HTTP/1.1 as clients send it, and
the limits that keep slow, large or broken requests from holding it."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from hostctl.agent import server as server_module
from hostctl.agent.server import Request, Response
from tests.harness.agent import served

MAX_BODY = 1000


def echo(request: Request) -> Response:
    if request.path == "/crash":
        raise RuntimeError("a bug in a handler")
    if request.path == "/slow":
        time.sleep(1)
    if request.path == "/large":
        return Response(200, b"x" * 50_000_000)
    seen = f"{request.method} {request.path} ?{request.query} {request.client} "
    seen += f"{request.headers.get('x-test', '-')} {len(request.body)}"
    return Response(200, seen.encode())


@pytest.fixture
def url() -> Iterator[str]:
    with served(echo, MAX_BODY) as base:
        yield base


def port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def raw(url: str, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_requests_on_one_kept_alive_connection(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        first = client.post("/a%20b?x=1", content=b"12345", headers={"X-Test": "yes"})
        second = client.get("/again")
    assert first.status_code == 200
    assert first.text == "POST /a b ?x=1 127.0.0.1 yes 5"
    assert second.text == "GET /again ? 127.0.0.1 - 0"
    assert first.headers["content-length"] == str(len(first.content))


def test_head_gets_the_length_without_the_body(url: str) -> None:
    answer = raw(url, b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 23" in head
    assert body == b""


def test_a_chunked_body_is_decoded_and_capped(url: str) -> None:
    def chunks(size: int) -> Iterator[bytes]:
        for _ in range(size // 100):
            yield b"x" * 100

    with httpx.Client(base_url=url) as client:
        assert client.post("/c", content=chunks(500)).text.endswith(" 500")
        assert client.post("/c", content=chunks(MAX_BODY + 100)).status_code == 413


def test_a_client_that_expects_100_continue_gets_it(url: str) -> None:
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"abc")
        answer = sock.recv(1000)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b" 3")


def test_a_declared_oversized_body_is_refused_before_it_is_sent(url: str) -> None:
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n")
        sock.settimeout(2)  # no byte of the body is sent: the length alone is refused
        answer = sock.recv(1000)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"body larger than 1000 bytes" in answer


def test_broken_requests_get_an_error_and_the_server_goes_on(url: str) -> None:
    assert raw(url, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    huge = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 100_000 + b"\r\n\r\n"
    assert raw(url, huge).startswith(b"HTTP/1.1 431")
    absolute = raw(url, b"GET http://[::1/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert absolute.startswith(b"HTTP/1.1 400")
    after_head = raw(url, b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nNONSENSE\r\n\r\n")
    assert after_head.endswith(b"bad request\n"), "the 400 after a HEAD has its body"
    crashed = raw(url, b"GET /crash HTTP/1.1\r\nHost: a\r\n\r\n")
    assert crashed.startswith(b"HTTP/1.1 500") and b"Connection: close" in crashed
    assert httpx.get(f"{url}/fine").status_code == 200
    slashes = raw(url, b"GET //x/y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert slashes.endswith(b"GET //x/y ? 127.0.0.1 - 0"), "a path, not a host and a path"


def test_a_slow_body_is_answered_408(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "BODY_SECONDS", 0.5)
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
        sock.sendall(b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        answer = sock.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408")
    assert 0.4 < time.monotonic() - started < 5


def test_trickled_headers_are_cut_off_and_idle_connections_closed(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(server_module, "HEADER_SECONDS", 0.5)
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as trickling:
        trickling.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        with contextlib.suppress(OSError):  # a reset once closed
            while time.monotonic() - started < 3 and trickling.sendall(b"X") is None:
                time.sleep(0.1)  # each byte arrives well within the deadline
                if select.select([trickling], [], [], 0)[0] and not trickling.recv(1):
                    break
        assert time.monotonic() - started < 2, "trickling did not extend the deadline"
    assert "reason='slow headers'" in caplog.text
    caplog.clear()
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(1)  # the answer, then no next request within the deadline
        assert idle.recv(1000).startswith(b"HTTP/1.1 200")
        assert idle.recv(1000) == b""
    assert "slow headers" not in caplog.text, "an idle kept-alive connection is no offence"


def test_the_server_caps_all_connections_but_not_the_edge_per_client(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 25)
    held = [socket.create_connection(("127.0.0.1", port(url)), timeout=10) for _ in range(25)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as refused:
            answer = refused.recv(1000)
        assert answer.startswith(b"HTTP/1.1 503") and answer.endswith(b"the agent is busy\n")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{url}/again").status_code == 200


def test_one_client_address_holds_at_most_the_cap(url: str) -> None:
    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port(url)), 10, ("127.0.0.2", 0))

    held = [connect() for _ in range(server_module.CONNECTIONS_PER_CLIENT)]
    try:
        time.sleep(0.2)
        with connect() as one_more:
            assert one_more.recv(1000).endswith(b"too many connections from you\n")
        assert httpx.get(f"{url}/other-client").status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_a_client_that_reads_no_answer_is_dropped(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "SEND_SECONDS", 0.5)
    with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
        sock.sendall(b"GET /large HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(2)  # reads nothing meanwhile
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
    assert 0 < received < 50_000_000, "the server gave up sending"


def stopped_in(server_url: AbstractContextManager[str], then: Callable[[str], None]) -> float:
    """Seconds the server took to stop after ``then(url)``."""
    with server_url as url:
        then(url)
        stopping = time.monotonic()
    return time.monotonic() - stopping


def test_stopping_finishes_open_requests_and_closes_idle_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "HEADER_SECONDS", 30)  # idle ones must be closed
    answers: list[bytes] = []
    clients: list[socket.socket] = []

    def open_connections(url: str) -> None:
        clients.append(socket.create_connection(("127.0.0.1", port(url)), timeout=10))

        def pipelined() -> None:
            with socket.create_connection(("127.0.0.1", port(url)), timeout=10) as sock:
                sock.sendall(
                    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n"  # already sent: answered too
                )
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                answers.append(answer)

        slow = threading.Thread(target=pipelined)
        slow.start()
        clients.append(slow)  # type: ignore[arg-type]
        time.sleep(0.3)  # the second request is in its handler when the server stops

    took = stopped_in(served(echo, MAX_BODY), open_connections)
    idle, slow = clients
    slow.join()  # type: ignore[attr-defined]
    assert 0.5 < took < 2, "open requests were waited for, idle connections were not"
    assert answers[0].count(b"HTTP/1.1 200 OK") == 3, answers
    assert b"GET /slow ? 127.0.0.1 - 0HTTP/1.1 200 OK" in answers[0], "in order"
    assert answers[0].endswith(b"GET /after ? 127.0.0.1 - 0")
    assert idle.recv(10) == b"", "the idle connection was closed"
    idle.close()


def test_a_signal_wakes_the_server_whichever_thread_the_kernel_gives_it_to() -> None:
    """The main thread blocks the signal, so the kernel hands it to another thread; the
    handler still runs (in the main thread) and stops the server at once."""
    from hostctl.agent.listen import bind
    from hostctl.agent.server import Server

    listener = bind(("127.0.0.1", 0))
    server = Server([listener], echo, MAX_BODY)
    previous = signal.signal(signal.SIGUSR1, lambda *_: server.stop())
    # Threads take the signal mask of the thread that starts them: these two before.
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    unstick = threading.Timer(5, server.stop)  # if the signal did not wake it
    unstick.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        started = time.monotonic()
        server.serve()
        assert time.monotonic() - started < 2
    finally:
        unstick.cancel()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        signal.signal(signal.SIGUSR1, previous)
        server.drain(1)
