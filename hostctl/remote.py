"""Driving a box from a laptop: targets (USER@HOST[:PORT]), saved hosts (`hostctl hosts`),
which box a command goes to, and running hostctl there over SSH (as root, or through
`sudo -n` for another user)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostctl.adapters import ssh
from hostctl.core.errors import HostctlError
from hostctl.core.paths import LaptopPaths
from hostctl.core.private_files import read_private, write_private

TARGET = re.compile(
    r"^(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)@"
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*))"
    r"(?::(?P<port>\d{1,5}))?$"
)
HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
TARGET_HINT = "write it as USER@HOST or USER@HOST:PORT, e.g. root@203.0.113.10"
NOT_INSTALLED = 127  # what the shell (here: env) says when the command does not exist


@dataclass(frozen=True)
class Target:
    """A box to drive, and the key to log in with (None: ssh-agent and ~/.ssh)."""

    endpoint: ssh.Endpoint
    identity: Path | None = None

    def __str__(self) -> str:
        return str(self.endpoint)


@dataclass(frozen=True)
class SavedHost:
    name: str
    target: str
    identity: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "identity": self.identity}


@dataclass(frozen=True)
class SavedHosts:
    hosts: dict[str, SavedHost] = field(default_factory=dict)
    default: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedHosts:
        hosts = {
            name: SavedHost(name, str(entry["target"]), entry.get("identity"))
            for name, entry in data["hosts"].items()
        }
        default = data.get("default")
        return cls(hosts, default if default in hosts else None)

    def to_json(self) -> dict[str, Any]:
        hosts = {name: host.to_json() for name, host in self.hosts.items()}
        return {"default": self.default, "hosts": hosts}


def parse_target(text: str) -> ssh.Endpoint:
    found = TARGET.match(text.strip())
    if not found:
        raise HostctlError(f"{text!r} is not a USER@HOST target", TARGET_HINT)
    port = int(found["port"] or 22)
    if not 1 <= port <= 65535:
        raise HostctlError(f"port {port} in {text!r} is out of range", TARGET_HINT)
    return ssh.Endpoint(found["user"], found["v6"] or found["host"], port)


def saved_hosts(paths: LaptopPaths) -> SavedHosts:
    hint = f"fix or delete {paths.hosts}, then add the hosts again (hostctl hosts add)"
    return read_private(paths.hosts, SavedHosts.from_json, "saved-hosts file", hint) or (
        SavedHosts()
    )


def add_host(
    paths: LaptopPaths, name: str, target: str, identity: Path | None, default: bool
) -> SavedHost:
    """Save (or replace) a host; the first one saved becomes the default."""
    if not HOST_NAME.match(name):
        raise HostctlError(
            f"{name!r} is not a host name hostctl can save",
            "use lowercase letters, digits, - and _ (e.g. prod)",
        )
    parse_target(target)
    hosts = saved_hosts(paths)
    saved = SavedHost(name, target, str(identity.expanduser().resolve()) if identity else None)
    chosen = name if default or hosts.default is None else hosts.default
    write_private(paths.hosts, SavedHosts({**hosts.hosts, name: saved}, chosen).to_json())
    return saved


def save_tailnet_host(paths: LaptopPaths, target: Target, tailnet_name: str) -> str:
    """After setup: the saved hosts that reach the box at ``target`` use its tailnet name
    from now on (Tailscale SSH, port 22); with none, it is saved under the name's first
    label. What was done, to tell."""
    name = tailnet_name.strip().rstrip(".").lower()
    moved = f"{target.endpoint.user}@{name}"
    try:
        parse_target(moved)
    except HostctlError:  # setup itself went well: a warning, not a failure
        return (
            f"warning: the box reports the tailnet name {tailnet_name.strip()!r}, which "
            "hostctl cannot use as a host; the saved hosts are left as they are. To reach "
            f"the box over the tailnet: hostctl hosts add NAME {target.endpoint.user}@TAILNET-IP"
        )
    hosts = saved_hosts(paths)
    same = [n for n, saved in hosts.hosts.items() if parse_target(saved.target) == target.endpoint]
    if same:
        kept = {n: SavedHost(n, moved, hosts.hosts[n].identity) for n in same}
        write_private(paths.hosts, SavedHosts(hosts.hosts | kept, hosts.default).to_json())
        return f"saved host {', '.join(same)} now uses the box's tailnet name: {moved}"
    label = name.split(".")[0]
    if not HOST_NAME.match(label) or label in hosts.hosts:
        return (
            f"the box's tailnet name is {name}; save it under a name of your choice: "
            f"hostctl hosts add NAME {moved}"
        )
    add_host(paths, label, moved, target.identity, default=False)
    return f"saved the box as host {label} ({moved}, its tailnet name): hostctl --host {label} …"


def remove_host(paths: LaptopPaths, name: str) -> None:
    hosts = saved_hosts(paths)
    if name not in hosts.hosts:
        raise HostctlError(f"no saved host {name!r}", "see `hostctl hosts list`")
    kept = {other: host for other, host in hosts.hosts.items() if other != name}
    write_private(
        paths.hosts, SavedHosts(kept, None if hosts.default == name else hosts.default).to_json()
    )


def resolve(paths: LaptopPaths, given: str | None, identity: Path | None) -> Target | None:
    """The box commands go to: ``given`` (--host or HOSTCTL_HOST: a saved name or
    USER@HOST), else the saved default; None runs them here. ``identity`` (-i) wins over
    a saved host's key."""
    hosts = saved_hosts(paths)
    name = given or hosts.default
    if not name:
        return None
    if name in hosts.hosts:
        saved = hosts.hosts[name]
        key = identity or (Path(saved.identity) if saved.identity else None)
        return Target(parse_target(saved.target), key)
    if "@" not in name:
        raise HostctlError(
            f"no saved host {name!r}",
            f"give USER@HOST, or save it: hostctl hosts add {name} root@HOST",
        )
    return Target(parse_target(name), identity)


def as_root(target: Target, argv: list[str]) -> list[str]:
    return argv if target.endpoint.user == "root" else ["sudo", "-n", *argv]


@contextmanager
def session(target: Target, confirm: ssh.Confirm | None) -> Iterator[ssh.Session]:
    """A session that may act as root on the box (checked for a non-root user)."""
    paths = LaptopPaths.from_env()
    with ssh.connect(target.endpoint, target.identity, paths.known_hosts, confirm) as box:
        if target.endpoint.user != "root":
            checked = box.capture(["sudo", "-n", "true"])
            if checked.status != 0:
                user = target.endpoint.user
                raise HostctlError(
                    f"{user} on {target.endpoint.host} is not root and cannot use sudo "
                    f"without a password: {checked.stderr.strip() or checked.stdout.strip()}",
                    f"log in as root, or let {user} use sudo without a password on the box "
                    f"(`{user} ALL=(ALL) NOPASSWD:ALL` in /etc/sudoers.d/{user})",
                )
        yield box


def run_hostctl(
    target: Target,
    args: list[str],
    terminal: ssh.Terminal,
    pty: bool,
    confirm: ssh.Confirm | None,
) -> int:
    """`hostctl ARGS` on the box, output streamed; its exit status."""
    # unbuffered, so that output without a PTY (`logs -f` into a pipe) streams too
    argv = as_root(target, ["env", "PYTHONUNBUFFERED=1", "hostctl", *args])
    with session(target, confirm) as box:
        status = box.stream(argv, terminal, pty)
    if status == NOT_INSTALLED:
        raise HostctlError(
            f"hostctl is not installed on {target.endpoint.host} (or not on its PATH)",
            f"install it and set the box up: hostctl setup {target}",
        )
    return status


def confirm_always(key: ssh.HostKey) -> bool:
    return True


def trusting(trust: bool, ask: Callable[[ssh.HostKey], bool] | None) -> ssh.Confirm | None:
    """How a box seen for the first time is accepted: --trust-host-key accepts it, a
    terminal asks, anything else refuses."""
    return confirm_always if trust else ask
