"""`hostctl setup USER@HOST` from a laptop: this hostctl's wheel goes to the box over
SFTP, is installed into a virtualenv there, and `hostctl setup` runs on the box in a PTY
(its questions and output come back here)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import shlex
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import hostctl
from hostctl.adapters import ssh, system
from hostctl.core.errors import HostctlError
from hostctl.core.paths import BOX_COMMAND, BOX_VENV, LaptopPaths
from hostctl.remote import Target, as_root, save_tailnet_host, session

# Files of a dist-info directory that belong to one installation, not to the wheel.
INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def setup_remote(
    target: Target,
    setup_args: list[str],
    secrets: dict[str, str],
    terminal: ssh.Terminal,
    confirm: ssh.Confirm | None,
    tell: Callable[[str], None],
) -> int:
    """Install this hostctl on the box and run `hostctl setup SETUP_ARGS` there; the box's
    exit status. ``secrets`` (by env var name) go in a file only the login user and root
    may read, which setup removes once read: never on a command line."""
    paths = LaptopPaths.from_env()
    wheel = this_wheel(paths, tell)
    with session(target, confirm) as box:
        install(box, target, wheel, tell)
        tell(f"running hostctl setup on {target}")
        status = run_setup(box, target, [BOX_COMMAND, "setup", *setup_args], secrets, terminal)
        tailnet = recorded_tailnet_name(box, target) if status == 0 else None
    if tailnet:
        tell(save_tailnet_host(paths, target, tailnet))
    return status


def run_setup(
    box: ssh.Session, target: Target, command: list[str], secrets: dict[str, str],
    terminal: ssh.Terminal,
) -> int:  # fmt: skip
    if not secrets:
        return box.stream(as_root(target, command), terminal, True)
    folder = must(box, ["mktemp", "-d", "/tmp/hostctl-secrets.XXXXXX"]).strip()
    try:
        upload_secrets(box, secrets, f"{folder}/secrets")
        command = [*command, "--secrets-from", f"{folder}/secrets"]
        return box.stream(as_root(target, command), terminal, True)
    finally:
        box.capture(as_root(target, ["rm", "-rf", folder]))


# The box's own hostctl says where its settings keep the tailnet name (setup's Tailscale
# step records it there).
TAILNET_NAME = (
    "import json; from hostctl.settings import Settings; "
    "path = Settings.from_env().paths.tailnet; "
    "print(json.loads(path.read_text())['name'] if path.exists() else '')"
)


def recorded_tailnet_name(box: ssh.Session, target: Target) -> str | None:
    """The tailnet name setup recorded on the box, if it did."""
    found = box.capture(as_root(target, [f"{BOX_VENV}/bin/python", "-c", TAILNET_NAME]))
    return (found.stdout.strip() or None) if found.status == 0 else None


def upgrade_remote(
    target: Target, terminal: ssh.Terminal, pty: bool, confirm: ssh.Confirm | None,
    tell: Callable[[str], None],
) -> int:  # fmt: skip
    """This hostctl's wheel installed on the box as setup installs it, then `hostctl
    upgrade --installed` there (the agent restarted, then doctor); the box's exit status."""
    wheel = this_wheel(LaptopPaths.from_env(), tell)
    with session(target, confirm) as box:
        found = box.capture([BOX_COMMAND, "--version"])  # "hostctl, version X"
        if found.status != 0:
            raise HostctlError(
                f"hostctl is not installed on {target.endpoint.host} ({BOX_COMMAND})",
                f"set the box up first: hostctl setup {target}",
            )
        before = found.stdout.split()[-1]
        tell(version_change(before, install(box, target, wheel, tell)))
        return box.stream(as_root(target, [BOX_COMMAND, "upgrade", "--installed"]), terminal, pty)


def version_change(before: str, after: str) -> str:
    if before == after:
        return f"hostctl {after} was installed already: the same version, reinstalled"
    return f"upgraded hostctl {before} → {after}"


def upload_secrets(box: ssh.Session, secrets: dict[str, str], remote: str) -> None:
    text = "".join(f"{name}={value}\n" for name, value in secrets.items())
    with tempfile.TemporaryDirectory(prefix="hostctl-secrets.") as local:  # 0700
        path = Path(local) / "secrets"
        path.write_text(text)
        box.upload(path, remote)


def install(box: ssh.Session, target: Target, wheel: Path, tell: Callable[[str], None]) -> str:
    """The wheel into BOX_VENV (made first, with python3-venv from apt when missing),
    linked as BOX_COMMAND; the version installed. A re-run replaces hostctl itself and
    keeps its dependencies."""
    upload = must(box, ["mktemp", "-d", "/tmp/hostctl-upload.XXXXXX"]).strip()
    try:
        tell(f"uploading {wheel.name} to {target}")
        box.upload(wheel, f"{upload}/{wheel.name}")
        if box.capture(as_root(target, [f"{BOX_VENV}/bin/python", "-m", "pip", "-V"])).status:
            tell(f"creating the virtualenv {BOX_VENV}")
            make_venv(box, target)
        tell(f"installing hostctl into {BOX_VENV}")
        for argv in pip_installs(f"{BOX_VENV}/bin/python", f"{upload}/{wheel.name}"):
            must(box, as_root(target, argv))
        must(box, as_root(target, ["ln", "-sf", f"{BOX_VENV}/bin/hostctl", BOX_COMMAND]))
        shown = must(box, [BOX_COMMAND, "--version"]).strip()  # "hostctl, version X"
        tell(f"installed {shown}")
        return shown.split()[-1]
    finally:
        box.capture(["rm", "-rf", upload])


def pip_installs(python: str, package: str) -> list[list[str]]:
    """The pip commands that install hostctl from ``package`` (a wheel, or a requirement
    such as hostctl==1.2) into PYTHON's virtualenv: its dependencies as needed, then
    hostctl itself afresh (a rebuilt wheel of the same version replaces the installed
    one). `hostctl setup USER@HOST` and `hostctl upgrade` both install this way."""
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    return [[*pip, "--upgrade", package], [*pip, "--force-reinstall", "--no-deps", package]]


def make_venv(box: ssh.Session, target: Target) -> None:
    venv = as_root(target, ["python3", "-m", "venv", BOX_VENV])
    if box.capture(venv).status == 0:
        return
    apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    must(box, as_root(target, [*apt, "update", "-qq"]))
    packages = ["python3", "python3-venv"]
    must(box, as_root(target, [*apt, "install", "-y", "-qq", "--no-install-recommends", *packages]))
    must(box, as_root(target, ["rm", "-rf", BOX_VENV]))  # the half-made one
    must(box, venv)


def must(box: ssh.Session, argv: list[str]) -> str:
    done = box.capture(argv)
    if done.status != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise HostctlError(
            f"`{shlex.join(argv)}` exited {done.status} on {box.endpoint}: {' / '.join(said)}",
            "fix that on the box, then run `hostctl setup` again: it picks up from there",
        )
    return done.stdout


def this_wheel(paths: LaptopPaths, tell: Callable[[str], None]) -> Path:
    """A wheel of the hostctl running now: built from its source tree (cached while the
    sources are unchanged), or repacked from its installed files."""
    source = source_tree()
    if source is None:
        return repacked(paths.wheels)
    folder = paths.wheels / f"{hostctl.__version__}-{source_digest(source)}"
    found = sorted(folder.glob("hostctl-*.whl"))
    if found:
        return found[0]
    tell(f"building the hostctl {hostctl.__version__} wheel")
    with tempfile.TemporaryDirectory(prefix="hostctl-wheel.") as building:
        system.run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
            "--wheel-dir", building, str(source),
        )  # fmt: skip
        built = next(Path(building).glob("hostctl-*.whl"))
        folder.mkdir(parents=True, exist_ok=True)
        return Path(built.replace(folder / built.name))


def source_tree() -> Path | None:
    """The checkout this hostctl runs from (an editable install), if it does."""
    root = Path(hostctl.__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "hostctl"' in project.read_text():
        return root
    return None


def source_digest(root: Path) -> str:
    """Changes whenever a file that goes into the wheel does."""
    digest = hashlib.sha256()
    files = [root / "pyproject.toml", root / "README.md"]
    for folder in ("hostctl", "templates"):
        files += [p for p in (root / folder).rglob("*") if p.is_file() and p.suffix != ".pyc"]
    for path in sorted(files):
        if path.exists():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def repacked(folder: Path) -> Path:
    """The installed hostctl's files zipped back into the wheel they came from (with a
    new RECORD); cached per version."""
    dist = importlib.metadata.distribution("hostctl")
    wheel = folder / f"hostctl-{dist.version}-py3-none-any.whl"
    if wheel.exists():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    info = f"hostctl-{dist.version}.dist-info"
    records = []
    partial = wheel.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            parts = Path(str(file)).parts
            if parts[0] not in ("hostctl", info) or "__pycache__" in parts:
                continue
            if parts[0] == info and parts[-1] in INSTALL_ONLY:
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(str(file), data)
            sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{file},sha256={sha.decode()},{len(data)}")
        records.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return Path(partial.replace(wheel))
