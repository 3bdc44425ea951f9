"""The operating system of this box: commands (argv lists only), Debian packages, the
sudoers check, process liveness, the hostname, systemd units and listening sockets."""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

from hostctl.core.errors import HostctlError


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its stdout, or a HostctlError with its last words."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=os.environ | (env or {}),
            timeout=1800,  # apt on a slow mirror
            check=False,
        )
    except FileNotFoundError as exc:
        raise HostctlError(f"{argv[0]} is not installed on this box") from exc
    except subprocess.TimeoutExpired as exc:
        raise HostctlError(f"`{shlex.join(argv)}` did not finish in {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise HostctlError(f"`{shlex.join(argv)}` exited {done.returncode}: {' / '.join(said)}")
    return done.stdout


def package_installed(package: str) -> bool:
    """Is the Debian package installed (not merely known, or removed with its config)?"""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return done.stdout == "install ok installed"


def apt_install(packages: list[str]) -> None:
    """Unattended: no questions, and a config file left by an earlier install is kept."""
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    keep = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *keep, *packages, env=env)


def sudoers_problem(path: str) -> str | None:
    """What `visudo -c` finds wrong with a sudoers file, or None when it accepts it."""
    try:
        checked = subprocess.run(
            ["visudo", "-c", "-f", path], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise HostctlError("visudo is not installed", "apt-get install sudo") from exc
    if checked.returncode == 0:
        return None
    return checked.stderr.strip() or checked.stdout


def hostname() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """This boot's id and when ``pid`` started in it (clock ticks), or None if no such
    process runs: a pid alone is reused, across reboots most of all."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return f"{boot}/{stat.rpartition(')')[2].split()[19]}"  # field 22, after "(name)"


def os_release(path: Path) -> dict[str, str]:
    """The KEY=value pairs of os-release(5) (values unquoted); empty when it is missing."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            words = shlex.split(value, comments=True) or [""]
            found[key.strip()] = words[0]
    return found


def machine() -> str:
    """The kernel's name for this box's architecture (`uname -m`): x86_64, aarch64, …"""
    return os.uname().machine


def systemd_running() -> bool:
    """Is systemd this box's init (sd_booted(3): the directory exists only then)?"""
    return Path("/run/systemd/system").is_dir()


def unit_active(unit: str) -> bool:
    """`systemctl is-active UNIT` (exit 0 only when active); read-only."""
    try:
        done = subprocess.run(
            ["systemctl", "is-active", "--quiet", unit],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp
PROC_NET_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def listening_rows(tables: tuple[Path, ...] = PROC_NET_TCP) -> Iterator[list[str]]:
    """The fields of each listening TCP socket's row in /proc/net/tcp{,6}."""
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except FileNotFoundError:
            continue  # no IPv6 on this kernel
        for line in lines:
            fields = line.split()
            if len(fields) >= 10 and fields[3] == LISTEN:
                yield fields


def listening_sockets(
    tables: tuple[Path, ...] = PROC_NET_TCP,
) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """The (address, port) of every listening TCP socket in this network namespace."""
    found = []
    for fields in listening_rows(tables):
        address, _, port = fields[1].partition(":")
        found.append((kernel_address(address), int(port, 16)))
    return sorted(set(found), key=lambda pair: (pair[1], str(pair[0])))


def port_listeners(
    port: int, tables: tuple[Path, ...] = PROC_NET_TCP, proc: Path = Path("/proc")
) -> dict[int, str]:
    """The processes listening on TCP ``port`` in this network namespace, pid → command
    line. Processes this user may not look into are not seen."""
    sockets = {
        f"socket:[{fields[9]}]"
        for fields in listening_rows(tables)
        if int(fields[1].rpartition(":")[2], 16) == port
    }
    found: dict[int, str] = {}
    for entry in proc.iterdir() if sockets else ():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in sockets for fd in (entry / "fd").iterdir()):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to look into
    return found


def kernel_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp prints it: 32-bit words in the host's byte order."""
    raw = b"".join(struct.pack("=I", int(text[i : i + 8], 16)) for i in range(0, len(text), 8))
    return ipaddress.ip_address(raw)


def unit_enabled(unit: str) -> str:
    """`systemctl is-enabled UNIT`: enabled, disabled, masked, … ("" when unknown)."""
    try:
        done = subprocess.run(
            ["systemctl", "is-enabled", unit], capture_output=True, text=True, timeout=10
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the kernel. glibc keeps what threads
    freed, scattered among live blocks: an agent grew ~0.2 MiB a deploy with no more
    live objects. malloc_trim returns the whole free pages (~1.5 MiB after 30 deploys);
    a C library without it (musl) is left alone."""
    import ctypes  # ~0.3 MiB, loaded at the first call

    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
