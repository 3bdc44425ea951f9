"""Deciding how to build and run an app from what is in its source tree.

A Dockerfile is used as it is. Otherwise the stack is detected and a Dockerfile is
rendered from templates/. hostctl.yml, the Procfile and app.json then say which
processes run, on which port, and how the web process is health-checked.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostctl.core.errors import HostctlError
from hostctl.core.labels import DEFAULT_STOP_TIMEOUT
from hostctl.core.templates import render as render_template
from hostctl.core.yaml_sections import Resources, Section
from hostctl.stack.app_config import AppConfig, HealthCheck, parse_app_config
from hostctl.stack.appjson import AppJson, load_json, parse_app_json
from hostctl.stack.procfile import parse_procfile
from hostctl.stack.runtimes import go_version, image_for, node_version, python_version

DEFAULT_PORT = 5000
# In a shell comment of a generated Dockerfile's step: BuildKit's cache records of that
# step and the steps after it are hostctl's, which it prunes (deploy/rules.py).
BUILD_MARK = "hostctl-build"
# Where BuildKit's cache mounts of generated Dockerfiles are (the path marks them as ours).
CACHE_DIR = "/var/cache/hostctl"
MAX_READ = 1024**2  # bytes of a config file read from the repository
# pip's requirement files: a comment starts at a `#` opening the line or after whitespace.
COMMENT = re.compile(r"(?:^|\s)#.*")
REQUIREMENT_OPTION = re.compile(r"(?:^|\s)--?[A-Za-z]")
LOOKED_FOR = (
    "Dockerfile, requirements.txt, Pipfile, pyproject.toml (Python), package.json (Node), "
    "go.mod or *.go with package main (Go), index.html (static site)"
)

WEB_EXAMPLES = {
    "Python": "web: gunicorn app:app --bind 0.0.0.0:$PORT",
    "Node": "web: node server.js",
    "Go": "web: web (the binary of cmd/web)",
}


@dataclass(frozen=True)
class RuntimeSpec:
    """How a release runs; stored with the release so a rollback runs it the same way."""

    port: int
    processes: dict[str, str | None]  # None: the image's own command
    release_command: str | None
    health: HealthCheck
    resources: Resources
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    cron: list[dict[str, str]] = field(default_factory=list)  # app.json: schedule, command
    formation: dict[str, int] = field(default_factory=dict)  # app.json: containers per type

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeSpec:
        return cls(
            port=data["port"],
            processes=data["processes"],
            release_command=data["release_command"],
            health=HealthCheck(**data["health"]),
            resources=Resources(**data["resources"]),
            stop_timeout=data.get("stop_timeout", DEFAULT_STOP_TIMEOUT),  # older releases
            cron=data.get("cron", []),
            formation=data.get("formation", {}),
        )


@dataclass(frozen=True)
class BuildPlan:
    stack: str
    dockerfile: str | None  # rendered by hostctl; None: the source's own
    app_config: AppConfig
    processes: dict[str, str | None]
    release_command: str | None
    health: HealthCheck
    app_json: AppJson = field(default_factory=AppJson)

    @property
    def generated_dockerfile(self) -> bool:
        return self.dockerfile is not None

    def runtime(self, port: int, defaults: Resources) -> RuntimeSpec:
        return RuntimeSpec(
            port=port,
            processes=self.processes,
            release_command=self.release_command,
            health=self.health,
            resources=self.app_config.resources_over(defaults),
            stop_timeout=self.app_config.stop_timeout,
            cron=[asdict(job) for job in self.app_json.cron],
            formation=self.app_json.formation,
        )


def plan_build(tree: Path, cache_id: str | None = None) -> BuildPlan:
    """Read the source tree (never writing to it); without a Dockerfile, render one. When
    BuildKit builds it, ``cache_id`` names the app's cache mounts (the classic builder has
    none: None)."""
    config = read_app_config(tree)
    stack, default_web, dockerfile = detect(tree, config.port or DEFAULT_PORT, cache_id)
    processes: dict[str, str | None] = {}
    procfile = read_tree_file(tree, "Procfile")
    if procfile is not None:
        processes.update(parse_procfile(procfile))
    processes.update(config.processes)
    release_command = config.release or processes.pop("release", None)
    # A Procfile with processes but no web (a worker-only app) runs no web: no route.
    worker_only = procfile is not None and bool(processes)
    if "web" not in processes and not worker_only:
        if default_web is False:
            where = "the Procfile" if procfile is not None else "a Procfile"
            raise HostctlError(
                f"no web process: {where} must have a `web:` line for a {stack} app",
                f"add e.g. `{WEB_EXAMPLES.get(stack, WEB_EXAMPLES['Python'])}` to the Procfile",
            )
        processes["web"] = default_web if isinstance(default_web, str) else None
    app_json_text = read_tree_file(tree, "app.json")
    app_json = parse_app_json(app_json_text) if app_json_text is not None else AppJson()
    health = config.healthcheck or app_json.health
    return BuildPlan(
        stack=stack,
        dockerfile=dockerfile,
        app_config=config,
        processes=processes,
        release_command=release_command,
        health=health or HealthCheck(),
        app_json=app_json,
    )


def read_tree_file(tree: Path, name: str) -> str | None:
    """The text of the plain file ``name`` at the root of the source, None if there is
    none. hostctl runs as root: a symlink is never followed, so a link to a host file
    cannot make hostctl read it (or show it in an error)."""
    try:
        fd = os.open(tree / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise HostctlError(
            f"{name} is a symlink; hostctl reads it only as a plain file",
            f"commit {name} itself instead of a link to it",
        ) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise HostctlError(
                f"{name} is not a plain file", f"make {name} a file at the root of the repository"
            )
        data = file.read(MAX_READ + 1)
    if len(data) > MAX_READ:
        raise HostctlError(f"{name} is over {MAX_READ // 1024} KiB", f"shorten {name}")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise HostctlError(
            f"{name} is not UTF-8 text (byte {exc.start})", f"save {name} as UTF-8"
        ) from None


def python_installer(manifest: str, has_tomllib: bool, tree: Path) -> str:
    """Which installer puts a Python app's dependencies in its virtualenv under BuildKit:
    uv for a plain list of requirements (one package added: ~0.15 s, pip ~0.45 s), pip
    for a file with options (uv ignores or reads some of pip's differently: --pre,
    --trusted-host, several indexes), a Pipfile's (`pipenv requirements` names the
    index) and an app installed with its dependencies in one step (Python < 3.11)."""
    if manifest == "pyproject.toml":
        return "uv" if has_tomllib else "pip"  # [project] dependencies hold no options
    if manifest == "requirements.txt":
        try:
            text = read_tree_file(tree, manifest)
        except HostctlError:  # not text hostctl reads (UTF-16, say), pip reads it
            return "pip"
        return "uv" if text is not None and is_plain_requirements(text) else "pip"
    return "pip"


def is_plain_requirements(text: str) -> bool:
    """No option in the requirements file, comments aside: neither on a line of its own
    (`-i URL`, a `--hash` continuation) nor after a requirement (`pkg --hash=…`)."""
    for line in text.removeprefix("\ufeff").splitlines():
        uncommented = COMMENT.sub("", line)
        if REQUIREMENT_OPTION.search(uncommented):
            return False
    return True


def read_app_config(tree: Path) -> AppConfig:
    for name in ("hostctl.yml", "hostctl.yaml"):
        text = read_tree_file(tree, name)
        if text is not None:
            return parse_app_config(text, name)
    return AppConfig()


def detect(
    tree: Path, port: int, cache_id: str | None = None
) -> tuple[str, str | bool | None, str | None]:
    """The stack, its default web command (None: the image's, False: none) and a Dockerfile
    (with BuildKit cache mounts named after ``cache_id`` when it is given)."""
    if (tree / "Dockerfile").is_dir():
        raise HostctlError(
            "Dockerfile is a directory, not a file",
            "rename the directory, or put the Dockerfile's instructions in a file",
        )
    if (tree / "Dockerfile").is_file():
        return "Dockerfile", None, None

    def read(name: str) -> str | None:
        return read_tree_file(tree, name)

    def render(template: str, **values: Any) -> str:
        return render_template(
            template,
            buildkit=cache_id is not None,
            cache_id=cache_id,
            mark=BUILD_MARK,
            cache_dir=CACHE_DIR,
            **values,
        )

    for manifest in ("requirements.txt", "Pipfile", "pyproject.toml"):
        if (tree / manifest).is_file():
            if manifest == "Pipfile" and not (tree / "Pipfile.lock").is_file():
                # `pipenv requirements` reads the lock: without it nothing would install
                raise HostctlError(
                    "Pipfile without Pipfile.lock: hostctl installs the locked versions",
                    "run `pipenv lock` and commit Pipfile.lock",
                )
            version = python_version(read)
            has_tomllib = version is None or int(version.split(".")[1]) >= 11
            dockerfile = render(
                "dockerfiles/python.Dockerfile",
                base=image_for("python", version),
                has_tomllib=has_tomllib,
                installer=python_installer(manifest, has_tomllib, tree),
                manifest=manifest,
                port=port,
            )
            return "Python", False, dockerfile
    if (tree / "package.json").is_file():
        lockfile = next(
            (n for n in ("package-lock.json", "npm-shrinkwrap.json") if (tree / n).is_file()),
            None,
        )
        base = image_for("node", node_version(read))
        dockerfile = render("dockerfiles/node.Dockerfile", base=base, lockfile=lockfile, port=port)
        return "Node", node_start(tree), dockerfile
    if (tree / "go.mod").is_file() or any(is_go_main(tree, p.name) for p in tree.glob("*.go")):
        go_mod = read("go.mod")
        binary = go_default_binary(tree, go_mod)
        dockerfile = render(
            "dockerfiles/go.Dockerfile",
            base=image_for("golang", go_version(read)),
            has_go_mod=go_mod is not None,
            binary=binary,
            port=port,
        )
        return "Go", None if binary else False, dockerfile
    if (tree / "index.html").is_file():
        return "static", None, render("dockerfiles/static.Dockerfile", port=port)
    raise HostctlError(
        f"no stack detected in the source: looked for {LOOKED_FOR}",
        "add a Dockerfile, or one of those files at the root of the repository",
    )


def node_start(tree: Path) -> str | bool | None:
    text = read_tree_file(tree, "package.json") or "{}"
    package = Section("package.json", load_json(text, "package.json"))
    scripts = package.section("scripts")
    if scripts is not None and scripts.data.get("start"):
        return None  # the template's CMD: npm start
    for candidate in (package.data.get("main"), "server.js", "index.js", "app.js"):
        if isinstance(candidate, str) and (tree / candidate).is_file():
            return f"node {candidate}"
    return False


def go_default_binary(tree: Path, go_mod: str | None) -> str | None:
    """The binary to run when the Procfile names none: the main package at the root (named,
    as `go install` names it, after the module path), else the only one under cmd/."""
    if any(is_go_main(tree, p.name) for p in tree.glob("*.go")):
        module = re.search(r"^\s*module\s+\"?([^\s\"]+)", go_mod or "", re.M)
        name = go_binary_name(module[1]) if module else "app"
        return name if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) else None
    if (tree / "cmd").is_symlink():
        return None
    mains = [
        folder.name
        for folder in sorted(tree.glob("cmd/*"))
        if folder.is_dir()
        and not folder.is_symlink()
        and any(is_go_main(tree, f"cmd/{folder.name}/{p.name}") for p in folder.glob("*.go"))
    ]
    if len(mains) != 1 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", mains[0]):
        return None
    return mains[0]


def go_binary_name(import_path: str) -> str:
    """The last element of the path, or the one before a major version suffix (/v2)."""
    elements = import_path.rstrip("/").split("/")
    if len(elements) > 1 and re.fullmatch(r"v[2-9]\d*", elements[-1]):
        return elements[-2]
    return elements[-1]


def is_go_main(tree: Path, name: str) -> bool:
    try:
        text = read_tree_file(tree, name) or ""
    except HostctlError:
        return False  # a link or an odd file is not the app's main package
    return re.search(r"^package\s+main\b", text, re.M) is not None
