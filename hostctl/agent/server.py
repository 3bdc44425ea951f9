"""The agent's HTTP/1.1 server: h11 parses, each connection has a thread, and limits keep
slow or many clients from holding it. Every read waits only for what is left of one
deadline: a request's line and headers get HEADER_SECONDS (trickling bytes does not
extend it; a kept-alive connection waits as long for its next request), its body
BODY_SECONDS. One client address may hold CONNECTIONS_PER_CLIENT connections, the server
MAX_CONNECTIONS. (uvicorn, used before, had no header deadline and cost 6 MiB more.)"""

from __future__ import annotations

import contextlib
import errno
import http
import logging
import selectors
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import h11

from hostctl.agent.events import event, log

HEADER_SECONDS = 5.0  # GitHub, Caddy and curl send their headers at once
BODY_SECONDS = 10.0
SEND_SECONDS = 10.0  # answers are small: a client that reads none must not hold a thread
MAX_CONNECTIONS = 100
CONNECTIONS_PER_CLIENT = 20
MAX_HEADER_BYTES = 16 * 1024
READ_SIZE = 64 * 1024
ACCEPT_PAUSE = 0.5  # after accept failed for want of resources
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# Every delivery through the tunnel reaches the agent from the edge on this address: a cap
# on it would let 20 slow senders on the internet lock out GitHub. Its connections still
# get the deadlines.
EDGE_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Response]


class TooSlow(Exception):
    pass


class Refused(Exception):
    def __init__(self, response: Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason


def plain(status: int, text: str) -> Response:
    return Response(status, f"{text}\n".encode())


def hang_up(sock: socket.socket, linger: float) -> None:
    """After an answer to a request not read to its end: stop sending, then read (and
    drop) what is still coming, for up to ``linger`` s (0: only what is there). Closing
    with unread data would reset the connection, and the client might never see the
    answer. The socket is left for the caller to close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        if linger:
            sock.settimeout(linger)
        else:
            sock.setblocking(False)
        deadline = time.monotonic() + linger
        while sock.recv(READ_SIZE) and (not linger or time.monotonic() < deadline):
            pass


class Server:
    """Serves ``handle`` on already bound sockets until ``stop``; then ``drain``."""

    def __init__(self, sockets: list[socket.socket], handle: Handler, max_body: int) -> None:
        self.sockets = sockets
        self.handle = handle
        self.max_body = max_body
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.by_client: Counter[str] = Counter()
        self.connections: set[Connection] = set()
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_writer.setblocking(False)

    def serve(self) -> None:
        """Accept until ``stop``. In the main thread, a signal wakes the loop too: the
        kernel may hand it to another thread, and Python runs its handler only once the
        main thread is out of its wait."""
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            previous = signal.set_wakeup_fd(self.wake_writer.fileno(), warn_on_full_buffer=False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.wake_reader, selectors.EVENT_READ)
                for listener in self.sockets:
                    listener.setblocking(False)
                    selector.register(listener, selectors.EVENT_READ)
                while not self.stopping.is_set():
                    for key, _ in selector.select():
                        if key.fileobj is self.wake_reader:
                            self.wake_reader.recv(READ_SIZE)
                        else:
                            self.accept(key.fileobj)  # type: ignore[arg-type]
        finally:
            if in_main:
                signal.set_wakeup_fd(previous)

    def stop(self) -> None:
        """Safe from a signal handler: the serving loop wakes and returns."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.wake_writer.send(b"\0")

    def drain(self, grace: float) -> None:
        """Stop listening, close idle connections and give open requests ``grace`` s."""
        for listener in self.sockets:
            listener.close()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self.lock:
                open_now = list(self.connections)
            for connection in open_now:
                connection.close_if_idle()
            if not open_now:
                break
            time.sleep(0.05)
        self.wake_reader.close()
        self.wake_writer.close()

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, address = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # a connection reset while queued; out of file descriptors
            event("http-accept-failed", logging.WARNING, error=exc)
            if exc.errno in OUT_OF_RESOURCES:  # still pending: not a busy loop
                time.sleep(ACCEPT_PAUSE)
            return
        sock.setblocking(True)
        client = str(address[0])
        with self.lock:
            refusal = self.refusal(client)
            if refusal is None:
                connection = Connection(self, sock, client)
                self.connections.add(connection)
                self.by_client[client] += 1
        if refusal is not None:
            event("http-refused", logging.WARNING, client=client, reason="connections")
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.sendall(refusal)  # fits the new socket's buffer
            hang_up(sock, 0)  # the accept loop does not wait
            sock.close()
            return
        try:
            threading.Thread(target=connection.run, name=f"http-{client}", daemon=True).start()
        except (RuntimeError, MemoryError) as exc:  # no more threads: this one is dropped
            event("http-accept-failed", logging.WARNING, error=exc)
            sock.close()
            self.forget(connection)

    def refusal(self, client: str) -> bytes | None:
        if len(self.connections) >= MAX_CONNECTIONS:
            text = b"the agent is busy\n"
        elif client != EDGE_ADDRESS and self.by_client[client] >= CONNECTIONS_PER_CLIENT:
            text = b"too many connections from you\n"
        else:
            return None
        return (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
        )

    def forget(self, connection: Connection) -> None:
        with self.lock:
            self.connections.discard(connection)
            self.by_client[connection.client] -= 1
            if self.by_client[connection.client] <= 0:
                del self.by_client[connection.client]


class Connection:
    def __init__(self, server: Server, sock: socket.socket, client: str) -> None:
        self.server = server
        self.sock = sock
        self.client = client
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.started = False  # a request has begun to arrive: draining waits for it
        self.closing = False  # draining closed it while idle
        self.method = b""

    def run(self) -> None:
        try:
            self.serve()
        except TooSlow:
            if self.started:
                event("http-refused", logging.WARNING, client=self.client, reason="slow headers")
        except OSError:
            pass  # the client went away
        except Exception:  # a bug must not leave the connection or its count behind
            log.exception("event=http-crashed client=%s", self.client)
        finally:
            with self.server.lock:
                self.closing = True
            self.sock.close()
            self.server.forget(self)

    def serve(self) -> None:
        while True:
            buffered = bool(self.http.trailing_data[0])  # a pipelined request is here
            if self.server.stopping.is_set() and not buffered:
                return
            with self.server.lock:
                self.started = buffered
            self.method = b""
            deadline = time.monotonic() + HEADER_SECONDS
            try:
                found = self.next_event(deadline)
                if isinstance(found, h11.ConnectionClosed):
                    return
                assert isinstance(found, h11.Request)
                self.begin()  # a pipelined request needs no read to arrive
                self.method = found.method
                response = self.answer(found)
            except h11.RemoteProtocolError as exc:
                response = plain(exc.error_status_hint, "bad request")
                if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                    return
            except Refused as refused:
                event("http-refused", logging.WARNING, client=self.client, reason=refused.reason)
                response = refused.response
            self.send(response)
            if self.http.their_state is not h11.DONE:  # a broken request, a refused body
                hang_up(self.sock, 1)
                return
            if self.http.our_state is not h11.DONE:
                return  # Connection: close
            self.http.start_next_cycle()

    def begin(self) -> None:
        """A request has begun: draining waits for it (unless it closed this one first)."""
        with self.server.lock:
            if self.closing:
                raise OSError("closed by the server's stop")
            self.started = True

    def answer(self, request: h11.Request) -> Response:
        target = request.target.decode("latin-1")
        if not target.startswith("/"):  # an absolute URL, `*`: not for this server
            return plain(400, "bad request target")
        path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        body = self.read_body(headers.get("content-length", ""))
        try:
            return self.server.handle(
                Request(
                    request.method.decode("latin-1"),
                    unquote(path),
                    query,
                    headers,
                    body,
                    self.client,
                )
            )
        except Exception:
            log.exception("event=http-handler-crashed client=%s", self.client)
            return plain(500, "internal error")

    def read_body(self, declared: str) -> bytes:
        """The whole body, refused past max_body (before reading, when it says so) and
        when it takes longer than BODY_SECONDS to arrive."""
        limit = self.server.max_body
        too_large = Refused(plain(413, f"body larger than {limit} bytes"), "body too large")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        if self.http.client_is_waiting_for_100_continue:
            self.write(self.http.send(h11.InformationalResponse(status_code=100, headers=[])))
        deadline = time.monotonic() + BODY_SECONDS
        body = bytearray()
        while True:
            try:
                found = self.next_event(deadline)
            except TooSlow:
                raise Refused(plain(408, "the body took too long to arrive"), "slow body") from None
            if isinstance(found, h11.EndOfMessage):
                return bytes(body)
            if isinstance(found, h11.ConnectionClosed):
                raise OSError("the client closed the connection mid-body")
            if isinstance(found, h11.Data):
                body += found.data
                if len(body) > limit:
                    raise too_large

    def next_event(self, deadline: float) -> object:
        while True:
            found = self.http.next_event()
            if found is not h11.NEED_DATA:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise TooSlow
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(READ_SIZE)
            except TimeoutError:
                raise TooSlow from None
            self.begin()
            self.http.receive_data(data)

    def send(self, response: Response) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers,
        ]
        if response.status in (408, 413) or response.status >= 500:
            headers.append(("Connection", "close"))
        reason = http.HTTPStatus(response.status).phrase.encode()
        out = self.http.send(
            h11.Response(status_code=response.status, headers=headers, reason=reason)
        )
        if response.body and self.method != b"HEAD":
            out += self.http.send(h11.Data(data=response.body))
        self.write(out + self.http.send(h11.EndOfMessage()))

    def write(self, data: bytes) -> None:
        self.sock.settimeout(SEND_SECONDS)
        self.sock.sendall(data)

    def close_if_idle(self) -> None:
        """Draining: a connection waiting for its next request is closed now."""
        with self.server.lock:
            if not self.started and not self.closing:
                self.closing = True
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
