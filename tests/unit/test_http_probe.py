"""The health probe against real HTTP servers on loopback that misbehave."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hostctl.adapters.http_probe import MAX_BODY, ProbeError, health_probe


def serve(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):  # the probe hung up, as it should
                    answer(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def huge_body() -> Iterator[str]:
    def answer(conn: socket.socket) -> None:
        size = 300 * 1024**2
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"x" * 1024**2
        for _ in range(300):
            conn.sendall(block)

    yield from serve(answer)


@pytest.fixture
def slow_drip() -> Iterator[str]:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):  # one byte every 0.1 s: never idle long enough to time out
            conn.sendall(b"x")
            time.sleep(0.1)

    yield from serve(answer)


def test_a_huge_answer_is_read_only_a_few_kib(huge_body: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with health_probe() as probe:
        answer = probe(huge_body)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert answer.status == 200
    assert 0 < len(answer.text) <= MAX_BODY
    assert grown_mib < 50, f"the probe grew hostctl by {grown_mib:.0f} MiB"


def test_one_deadline_covers_the_whole_request(slow_drip: str) -> None:
    started = time.monotonic()
    with health_probe(deadline_seconds=1.0) as probe:
        answer = probe(slow_drip)
    took = time.monotonic() - started
    assert answer.status == 200 and len(answer.text) < 100
    assert took < 3, f"a slow body kept the probe {took:.1f} s past its 1 s deadline"


@pytest.fixture
def header_drip() -> Iterator[str]:
    def answer(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100:  # never a whole header
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    yield from serve(answer)


def test_headers_dripped_byte_by_byte_never_outlast_the_deadline(header_drip: str) -> None:
    started = time.monotonic()
    with health_probe(deadline_seconds=1.0) as probe, pytest.raises(ProbeError, match="Timeout"):
        probe(header_drip)
    assert time.monotonic() - started < 2


def test_a_refused_connection_is_a_probe_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with health_probe() as probe, pytest.raises(ProbeError, match="ConnectError"):
        probe(f"http://127.0.0.1:{port}/")
