"""SSH to a box with paramiko: connect (ssh-agent or a key file), check the box's host key
against hostctl's own known_hosts, run commands (argv lists, quoted once here) with or
without a PTY while streaming their output, and upload files over SFTP."""

from __future__ import annotations

import base64
import hashlib
import os
import select
import shlex
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostctl.core.errors import HostctlError

if TYPE_CHECKING:
    import paramiko

CHUNK = 32768
TIMEOUT = 15  # seconds to connect, read the banner, authenticate


@dataclass(frozen=True)
class Endpoint:
    user: str
    host: str
    port: int = 22

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}" + ("" if self.port == 22 else f":{self.port}")


@dataclass(frozen=True)
class HostKey:
    """A box's host key as people compare it: `ssh-keygen -lf` prints the same."""

    name: str  # as known_hosts names it: host, or [host]:port
    type: str
    fingerprint: str


Confirm = Callable[[HostKey], bool]


@dataclass(frozen=True)
class Terminal:
    """Where a streamed command's output goes, and the descriptor its input comes from
    (None: it gets none)."""

    out: Callable[[bytes], None]
    err: Callable[[bytes], None]
    stdin: int | None = None


@dataclass(frozen=True)
class Captured:
    status: int
    stdout: str
    stderr: str


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def first_contact_policy(known_hosts: Path, confirm: Confirm | None) -> Any:
    """An unknown host key is accepted only when ``confirm`` says so (the user compared the
    fingerprint, or passed --trust-host-key), then remembered; otherwise rejected, as
    paramiko's RejectPolicy would, with the fingerprint in the message."""
    import paramiko

    class FirstContactPolicy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(
            self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
        ) -> None:
            seen = HostKey(hostname, key.get_name(), fingerprint(key))
            if confirm is None or not confirm(seen):
                raise HostctlError(
                    f"{hostname} is not a known host; its {seen.type} key is {seen.fingerprint}",
                    "compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the"
                    " box, then run again in a terminal to confirm it (or pass --trust-host-key)",
                )
            client.get_host_keys().add(hostname, key.get_name(), key)
            known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            client.save_host_keys(str(known_hosts))

    return FirstContactPolicy()


def connect(
    endpoint: Endpoint, identity: Path | None, known_hosts: Path, confirm: Confirm | None
) -> Session:
    """A logged-in session, or a HostctlError saying which of address, host key or key
    was wrong."""
    if identity is not None and not identity.is_file():
        raise HostctlError(f"no key file {identity}", "pass -i with the private key's path")
    # Loaded to connect, not with this module: every command imports it to look for
    # --host, and paramiko costs ~30 MiB and 0.2 s (the agent and git push hooks too).
    import paramiko

    client = paramiko.SSHClient()
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(first_contact_policy(known_hosts, confirm))
    try:
        client.connect(
            endpoint.host,
            endpoint.port,
            username=endpoint.user,
            key_filename=str(identity) if identity else None,
            look_for_keys=identity is None,
            allow_agent=True,
            timeout=TIMEOUT,
            banner_timeout=TIMEOUT,
            auth_timeout=TIMEOUT,
        )
    except BaseException as exc:
        client.close()
        error = connect_error(endpoint, identity, known_hosts, exc)
        if error is exc:
            raise
        raise error from exc
    transport = client.get_transport()
    assert transport is not None  # connected
    transport.set_keepalive(30)  # `logs -f` may print nothing for a long time
    return Session(endpoint, client)


def connect_error(
    endpoint: Endpoint, identity: Path | None, known_hosts: Path, exc: BaseException
) -> BaseException:
    import paramiko

    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(exc, HostctlError | KeyboardInterrupt):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostctlError(
            f"the host key of {where} has changed: it was {fingerprint(exc.expected_key)}, "
            f"now it is {fingerprint(exc.key)}; refusing to connect",
            "someone may be in the middle; if the box was reinstalled, check the new key on "
            f"it, then delete the line of {endpoint.host} from {known_hosts} and connect again",
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return HostctlError(
            f"the key {identity} is protected by a passphrase",
            f"add it to ssh-agent (`ssh-add {identity}`) and run again without -i",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        offered = f"the key {identity}" if identity else "every key offered (ssh-agent, ~/.ssh)"
        return HostctlError(
            f"{endpoint.user}@{where} refused {offered}",
            f"pass the right private key with -i KEY; its public half must be in "
            f"~{endpoint.user}/.ssh/authorized_keys on the box",
        )
    if isinstance(exc, paramiko.SSHException) and "No authentication methods" in str(exc):
        return HostctlError(
            "no SSH key to log in with", "pass -i KEY, or add your key to ssh-agent"
        )
    if isinstance(exc, OSError | paramiko.SSHException | EOFError):
        reason = str(exc) or type(exc).__name__
        return HostctlError(
            f"cannot reach {where} over SSH: {reason}",
            "check the address and port, that sshd runs on the box, and that no firewall "
            "is in the way",
        )
    return exc


class Session:
    """One SSH connection to a box. Commands are argv lists, quoted here and only here."""

    def __init__(self, endpoint: Endpoint, client: paramiko.SSHClient) -> None:
        self.endpoint = endpoint
        self.client = client

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def capture(self, argv: list[str]) -> Captured:
        """Run to completion without input; its status and output."""
        out, err = bytearray(), bytearray()
        status = self.stream(argv, Terminal(out.extend, err.extend), pty=False)
        return Captured(status, out.decode(errors="replace"), err.decode(errors="replace"))

    def stream(self, argv: list[str], terminal: Terminal, pty: bool) -> int:
        """Run, passing output on as it comes (and ``terminal.stdin`` in); the exit status
        (255 when the box gave none: the command was killed by a signal)."""
        import paramiko

        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostctlError(f"the connection to {self.endpoint} was lost")
        channel = transport.open_session()
        try:
            local_tty = terminal.stdin is not None and os.isatty(terminal.stdin)
            if pty:
                width, height = terminal_size(terminal.stdin if local_tty else None)
                channel.get_pty(os.environ.get("TERM", "xterm"), width, height)
            channel.exec_command(shlex.join(argv))
            if terminal.stdin is None:
                channel.shutdown_write()
            with raw_mode(terminal.stdin if pty and local_tty else None):
                pump(channel, terminal)
            return channel.recv_exit_status() if channel.exit_status_ready() else 255
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise HostctlError(
                f"the connection to {self.endpoint} broke: {exc}",
                "run the command again; a deploy that had started goes on on the box",
            ) from exc
        finally:
            channel.close()

    def upload(self, local: Path, remote: str) -> None:
        import paramiko

        try:
            with self.client.open_sftp() as sftp:
                sftp.put(str(local), remote)
        except (OSError, paramiko.SSHException) as exc:
            raise HostctlError(f"could not upload {local.name} to {self.endpoint}: {exc}") from exc


def pump(channel: paramiko.Channel, terminal: Terminal) -> None:
    """Pass output on and input in until the box closes the command's output."""
    watched: list[Any] = [channel]
    if terminal.stdin is not None:
        watched.append(terminal.stdin)
    while True:
        ready, _, _ = select.select(watched, [], [], 1.0)
        while channel.recv_ready():
            terminal.out(channel.recv(CHUNK))
        while channel.recv_stderr_ready():
            terminal.err(channel.recv_stderr(CHUNK))
        if terminal.stdin is not None and terminal.stdin in ready:
            data = os.read(terminal.stdin, CHUNK)
            if data:
                channel.sendall(data)
            else:
                channel.shutdown_write()
                watched.remove(terminal.stdin)
        # the exit status may come before the last output; EOF comes after it
        if (channel.eof_received or channel.closed) and not (
            channel.recv_ready() or channel.recv_stderr_ready()
        ):
            channel.status_event.wait(TIMEOUT)
            return


def terminal_size(fd: int | None) -> tuple[int, int]:
    if fd is not None:
        try:
            size = os.get_terminal_size(fd)
            return size.columns, size.lines
        except OSError:
            pass
    return 80, 24


@contextmanager
def raw_mode(fd: int | None) -> Iterator[None]:
    """Keys go to the box as typed (Ctrl-C included) while a PTY command runs there."""
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
