"""The language version a repository asks for, read as the Heroku buildpacks read it.

Each reader returns the version part of the official image tag (``3.12``, ``20``, ``1.22``),
or None when the repository declares nothing (the default image of
templates/base-images.txt is used then); errors name the file the version came from.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable

from hostctl.core.errors import HostctlError
from hostctl.core.templates import base_images
from hostctl.stack.appjson import load_json

# The release series with an official image that hostctl builds from.
PYTHON_MINORS = range(8, 15)  # 3.8 … 3.14
NODE_MAJORS = range(16, 25)
GO_MINORS = range(16, 26)  # 1.16 … 1.25

Reader = Callable[[str], str | None]  # the text of a file at the root, None: no such file


def image_for(key: str, version: str | None) -> str:
    """The base image tag ``key`` (python, node, golang) for ``version``: the default
    tag with its leading version replaced, so the variant (slim, bookworm) stays."""
    default = base_images()[key]
    if version is None:
        return default
    repository, tag = default.split(":", 1)
    variant = tag.split("-", 1)[1] if "-" in tag else ""
    return f"{repository}:{version}-{variant}" if variant else f"{repository}:{version}"


# Python


def python_version(read: Reader) -> str | None:
    for name, parse in (
        (".python-version", python_version_file),
        ("runtime.txt", runtime_txt),
        ("pyproject.toml", requires_python),
    ):
        text = read(name)
        if text is not None:
            version = parse(text)
            if version is not None:
                return version
    return None


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in lines if line and not line.startswith("#")), "")


def python_version_file(text: str) -> str:
    return python_release(first_line(text), ".python-version", "3.12")


def runtime_txt(text: str) -> str:
    line = first_line(text)
    if not line.startswith("python-"):
        raise malformed("runtime.txt", line, "python-3.12.4")
    return python_release(line.removeprefix("python-"), "runtime.txt", "python-3.12.4")


def python_release(value: str, source: str, example: str) -> str:
    match = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", value)
    if match is None:
        raise malformed(source, value, example)
    major, minor = int(match[1]), int(match[2])
    if major != 3 or minor not in PYTHON_MINORS:
        raise unsupported(source, f"Python {value}", python_series())
    return value


def requires_python(text: str) -> str | None:
    try:
        project = tomllib.loads(text).get("project")
    except tomllib.TOMLDecodeError:
        return None  # the build reports a broken pyproject.toml in its own words
    spec = project.get("requires-python") if isinstance(project, dict) else None
    if spec is None:
        return None
    source = "pyproject.toml (project.requires-python)"
    if not isinstance(spec, str):
        raise malformed(source, str(spec), ">=3.11")
    try:
        allowed = [m for m in PYTHON_MINORS if all(satisfies((3, m), c) for c in pep440(spec))]
    except ValueError:
        raise malformed(source, spec, ">=3.11") from None
    if not allowed:
        raise unsupported(source, f"Python {spec}", python_series())
    default = re.match(r"3\.(\d+)", base_images()["python"].split(":", 1)[1])
    if default is not None and int(default[1]) in allowed:
        return None  # the default image already satisfies it
    return f"3.{max(allowed)}"


def pep440(spec: str) -> list[tuple[str, tuple[int, ...], bool]]:
    """The clauses of a requires-python specifier: operator, release, trailing ``.*``."""
    clauses = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(~=|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?\s*", part)
        if match is None:
            raise ValueError(part)
        release = tuple(int(n) for n in match[2].split("."))
        clauses.append((match[1], release, match[3] is not None))
    return clauses


def satisfies(series: tuple[int, int], clause: tuple[str, tuple[int, ...], bool]) -> bool:
    """Whether some release of ``series`` (3.X) meets the clause, compared on major.minor."""
    op, release, wildcard = clause
    wanted = (*release, 0)[:2]
    if op == "~=":  # ~=3.10: 3.10 and later 3.X; ~=3.10.2: 3.10 only
        return series == wanted if len(release) > 2 else series >= wanted and series[0] == wanted[0]
    if op == "==":
        return series == wanted if (wildcard or len(release) > 1) else series[0] == wanted[0]
    if op == "!=":
        return not (series == wanted and (wildcard or len(release) <= 2))
    return {
        "<=": series <= wanted,
        ">=": series >= wanted,
        "<": series < wanted or (series == wanted and len(release) > 2 and release[2] > 0),
        ">": series > wanted or (series == wanted and len(release) > 2),
    }[op]


def python_series() -> str:
    return f"3.{PYTHON_MINORS[0]} to 3.{PYTHON_MINORS[-1]}"


# Node


def node_version(read: Reader) -> str | None:
    package = read("package.json")
    if package is not None:
        data = load_json(package, "package.json")
        engines = data.get("engines") if isinstance(data, dict) else None
        spec = engines.get("node") if isinstance(engines, dict) else None
        if spec is not None:
            source = "package.json (engines.node)"
            if not isinstance(spec, str):
                raise malformed(source, str(spec), "20.x")
            return node_release(spec, source)
    for name in (".nvmrc", ".node-version"):
        text = read(name)
        if text is not None and first_line(text):
            return node_release(first_line(text), name)
    return None


def node_release(spec: str, source: str) -> str:
    """An exact version (``20.11.1``) as it is, else the newest major the range allows."""
    exact = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", spec.strip())
    if exact is not None:
        if int(exact[1]) not in NODE_MAJORS:
            raise unsupported(source, f"Node {spec}", node_series())
        return spec.strip().removeprefix("v")
    try:
        ranges = [semver_range(part) for part in spec.split("||")]
    except ValueError:
        raise malformed(source, spec, "20.x") from None
    allowed = [
        major
        for major in NODE_MAJORS
        if any(lo < (major + 1, 0, 0) and hi > (major, 0, 0) for lo, hi in ranges)
    ]
    if not allowed:
        raise unsupported(source, f"Node {spec}", node_series())
    return str(max(allowed))


Version = tuple[int, int, int]
LOWEST: Version = (0, 0, 0)
HIGHEST: Version = (10**6, 0, 0)


def semver_range(text: str) -> tuple[Version, Version]:
    """One ``||`` alternative of an npm range as a half-open interval [lo, hi)."""
    lo, hi = LOWEST, HIGHEST
    text = re.sub(r"(<=|>=|<|>|=|\^|~)\s+", r"\1", text.strip())
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    for part in [f">={hyphen[1]}", f"<={hyphen[2]}"] if hyphen else text.split() or ["*"]:
        match = re.fullmatch(
            r"(<=|>=|<|>|=|\^|~)?v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?", part
        )
        if match is None:
            raise ValueError(part)
        given = []
        for number in match.group(2, 3, 4):
            if number is None or not number.isdigit():
                break  # 20.x and 20 mean the same
            given.append(int(number))
        op = match[1] or "="
        if op == "^":  # up to the first non-zero number: ^1.2 -> <2.0.0, ^0.3 -> <0.4.0
            first = next((i for i, n in enumerate(given) if n), len(given) - 1)
            top = past(given[: first + 1])
        elif op == "~":
            top = past(given[:2])
        else:
            top = past(given)
        part_lo, part_hi = {
            "=": (padded(given), top),
            "^": (padded(given), top),
            "~": (padded(given), top),
            ">=": (padded(given), HIGHEST),
            ">": (top, HIGHEST),
            "<": (LOWEST, padded(given)),
            "<=": (LOWEST, top),
        }[op]
        lo, hi = max(lo, part_lo), min(hi, part_hi)
    return lo, hi


def padded(numbers: list[int]) -> Version:
    major, minor, patch = ([*numbers, 0, 0, 0])[:3]
    return major, minor, patch


def past(numbers: list[int]) -> Version:
    """The first version after all those ``numbers`` name: 20 -> 21.0.0, 20.1 -> 20.2.0."""
    if not numbers:
        return HIGHEST
    return padded([*numbers[:-1], numbers[-1] + 1])


def node_series() -> str:
    return f"{NODE_MAJORS[0]} to {NODE_MAJORS[-1]}"


# Go


def go_version(read: Reader) -> str | None:
    """The ``toolchain`` directive of go.mod (an exact release), else its ``go`` line's
    series: the newest patch of 1.X, as the Go buildpack picks."""
    text = read("go.mod")
    if text is None:
        return None
    toolchain = re.search(r"^\s*toolchain\s+(\S+)", text, re.M)
    if toolchain is not None:
        match = re.fullmatch(r"go(1)\.(\d+)(?:\.(\d+))?", toolchain[1])
        if match is None:
            raise malformed("go.mod (toolchain)", toolchain[1], "go1.22.5")
        return go_release(match, "go.mod (toolchain)", toolchain[1].removeprefix("go"))
    directive = re.search(r"^\s*go\s+(\S+)", text, re.M)
    if directive is None:
        return None
    match = re.fullmatch(r"(1)\.(\d+)(?:\.(\d+))?(?:rc\d+)?", directive[1])
    if match is None:
        raise malformed("go.mod (go)", directive[1], "1.22")
    return go_release(match, "go.mod (go)", f"1.{match[2]}")


def go_release(match: re.Match[str], source: str, version: str) -> str:
    if int(match[2]) not in GO_MINORS:
        raise unsupported(source, f"Go {match[0]}", f"1.{GO_MINORS[0]} to 1.{GO_MINORS[-1]}")
    return version


# Errors


def malformed(source: str, value: str, example: str) -> HostctlError:
    shown = value if len(value) <= 40 else f"{value[:40]}…"  # repository text: keep it short
    return HostctlError(
        f"{source}: {shown!r} is not a version hostctl can read",
        f"write a version like {example} in {source.split(' ')[0]}, "
        "or remove it to build with the default",
    )


def unsupported(source: str, what: str, series: str) -> HostctlError:
    what = what if len(what) <= 60 else f"{what[:60]}…"
    return HostctlError(
        f"{source} asks for {what}, which hostctl does not build (it builds {series})",
        f"declare a supported version in {source.split(' ')[0]}",
    )
