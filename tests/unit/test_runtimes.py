"""The base image a generated Dockerfile builds FROM follows the version the repository
declares, in each place the Heroku buildpacks read it."""

import re

import pytest

from hostctl.core.errors import HostctlError
from hostctl.core.templates import base_images
from hostctl.stack.plan import plan_build
from tests.unit.test_plan import tree_of


def from_lines(dockerfile: str | None) -> list[str]:
    return re.findall(r"^FROM (\S+)", str(dockerfile), re.M)


@pytest.mark.parametrize(
    ("files", "image"),
    [
        ({".python-version": "3.12\n"}, "python:3.12-slim-bookworm"),
        ({".python-version": "# pyenv\n3.13.1\n"}, "python:3.13.1-slim-bookworm"),
        ({"runtime.txt": "python-3.10.14\n"}, "python:3.10.14-slim-bookworm"),
        ({"runtime.txt": "python-3.12\n", ".python-version": "3.9\n"}, "python:3.9-slim-bookworm"),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = ">=3.12"\n'},
            "python:3.14-slim-bookworm",
        ),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = ">=3.9,<3.11"\n'},
            "python:3.10-slim-bookworm",
        ),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = "~=3.10"\n'},
            "python:3.11-slim-bookworm",  # the default already satisfies it
        ),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = "==3.12.*"\n'},
            "python:3.12-slim-bookworm",
        ),
        ({"requirements.txt": "flask\n"}, "python:3.11-slim-bookworm"),
    ],
)
def test_python_version_sources(tmp_path, files, image):
    tree = tree_of(tmp_path, **{"requirements__txt": "flask\n", "Procfile": "web: x\n"})
    for name, text in files.items():
        (tree / name).write_text(text)
    assert from_lines(plan_build(tree).dockerfile) == [image]


def test_python_before_3_11_installs_a_pyproject_without_tomllib(tmp_path):
    tree = tree_of(tmp_path, Procfile="web: x\n")
    (tree / "pyproject.toml").write_text('[project]\nname = "a"\nversion = "1"\n')
    (tree / ".python-version").write_text("3.10\n")
    text = str(plan_build(tree).dockerfile)
    assert "import tomllib" not in text
    assert "RUN /opt/app-venv/bin/python -m pip --no-cache-dir install .\n" in text
    (tree / ".python-version").write_text("3.12\n")
    assert "import tomllib" in str(plan_build(tree).dockerfile)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({".python-version": "pypy3.10\n"}, ".python-version: 'pypy3.10' is not a version"),
        ({".python-version": "2.7\n"}, ".python-version asks for Python 2.7"),
        ({".python-version": "3" * 5000}, f".python-version: '{'3' * 40}…' is not"),
        ({"runtime.txt": "3.12\n"}, "runtime.txt: '3.12' is not a version"),
        ({"runtime.txt": "python-3.2\n"}, "runtime.txt asks for Python 3.2"),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = "3.12"\n'},
            "pyproject.toml (project.requires-python): '3.12' is not a version",
        ),
        (
            {"pyproject.toml": '[project]\nname = "a"\nrequires-python = ">=4"\n'},
            "pyproject.toml (project.requires-python) asks for Python >=4",
        ),
    ],
)
def test_python_bad_versions_name_the_file(tmp_path, files, problem):
    tree = tree_of(tmp_path, requirements__txt="flask\n", Procfile="web: x\n")
    for name, text in files.items():
        (tree / name).write_text(text)
    with pytest.raises(HostctlError) as caught:
        plan_build(tree)
    assert problem in caught.value.message
    assert caught.value.hint


def package_json(engines: str | None) -> str:
    extra = f', "engines": {{"node": "{engines}"}}' if engines is not None else ""
    return f'{{"name": "a", "scripts": {{"start": "node s.js"}}{extra}}}'


@pytest.mark.parametrize(
    ("engines", "nvmrc", "node_version", "image"),
    [
        (None, None, None, "node:18-bookworm-slim"),
        ("20.x", None, None, "node:20-bookworm-slim"),
        ("^20.1.0", None, None, "node:20-bookworm-slim"),
        (">=18 <21", None, None, "node:20-bookworm-slim"),
        ("~18.19", None, None, "node:18-bookworm-slim"),
        ("18 || 22", None, None, "node:22-bookworm-slim"),
        (">=18", None, None, "node:24-bookworm-slim"),
        ("16.0.0 - 19", None, None, "node:19-bookworm-slim"),
        ("20.11.1", None, None, "node:20.11.1-bookworm-slim"),
        ("22", "20\n", None, "node:22-bookworm-slim"),  # package.json first, as on Heroku
        (None, "v20.11.1\n", None, "node:20.11.1-bookworm-slim"),
        (None, "20\n", "22\n", "node:20-bookworm-slim"),
        (None, None, "22.3\n", "node:22-bookworm-slim"),
    ],
)
def test_node_version_sources(tmp_path, engines, nvmrc, node_version, image):
    tree = tree_of(tmp_path, package__json=package_json(engines))
    if nvmrc is not None:
        (tree / ".nvmrc").write_text(nvmrc)
    if node_version is not None:
        (tree / ".node-version").write_text(node_version)
    assert from_lines(plan_build(tree).dockerfile) == [image]


@pytest.mark.parametrize(
    ("engines", "nvmrc", "problem"),
    [
        ("lts/*", None, "package.json (engines.node): 'lts/*' is not a version"),
        ("<12", None, "package.json (engines.node) asks for Node <12"),
        (None, "node\n", ".nvmrc: 'node' is not a version"),
        (None, "v8.1.0\n", ".nvmrc asks for Node v8.1.0"),
    ],
)
def test_node_bad_versions_name_the_file(tmp_path, engines, nvmrc, problem):
    tree = tree_of(tmp_path, package__json=package_json(engines))
    if nvmrc is not None:
        (tree / ".nvmrc").write_text(nvmrc)
    with pytest.raises(HostctlError) as caught:
        plan_build(tree)
    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("go_mod", "image"),
    [
        ("module example.com/a\n\ngo 1.22\n", "golang:1.22-bookworm"),
        ("module example.com/a\n\ngo 1.22.3\n", "golang:1.22-bookworm"),
        ("module example.com/a\n\ngo 1.21\n\ntoolchain go1.22.5\n", "golang:1.22.5-bookworm"),
        ("module example.com/a\n", "golang:1.19-bookworm"),
    ],
)
def test_go_version_sources(tmp_path, go_mod, image):
    tree = tree_of(tmp_path, go__mod=go_mod, main__go="package main\nfunc main() {}\n")
    # The build stage is the versioned Go image; the binary runs on the plain Debian one.
    assert from_lines(plan_build(tree).dockerfile) == [f"{image}", base_images()["debian"]]


@pytest.mark.parametrize(
    ("go_mod", "problem"),
    [
        ("module a\ngo one\n", "go.mod (go): 'one' is not a version"),
        ("module a\ngo 1.12\n", "go.mod (go) asks for Go 1.12"),
        ("module a\ngo 1.22\ntoolchain local\n", "go.mod (toolchain): 'local' is not a version"),
    ],
)
def test_go_bad_versions_name_the_file(tmp_path, go_mod, problem):
    tree = tree_of(tmp_path, go__mod=go_mod, main__go="package main\nfunc main() {}\n")
    with pytest.raises(HostctlError) as caught:
        plan_build(tree)
    assert problem in caught.value.message


def test_the_default_tags_keep_their_variant():
    assert base_images()["python"].startswith("python:3.11-")
    assert base_images()["node"].startswith("node:18-")
    assert base_images()["golang"].startswith("golang:1.19-")


@pytest.mark.parametrize(
    ("files", "command"),
    [
        ({"go.mod": "module example.com/x/web\n", "main.go": "package main\n"}, "web"),
        ({"go.mod": "module example.com/x/web/v2\n", "main.go": "package main\n"}, "web"),
        ({"main.go": "package main\n"}, "app"),  # no go.mod: `go mod init app`
        ({"go.mod": "module example.com/x\n", "cmd/web/main.go": "package main\n"}, "web"),
    ],
)
def test_go_binaries_are_named_as_go_names_them(tmp_path, files, command):
    tree = tree_of(tmp_path)
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    plan = plan_build(tree)
    assert "GOBIN=/out go install ./..." in str(plan.dockerfile)
    assert f'CMD ["{command}"]' in str(plan.dockerfile)
    assert plan.processes == {"web": None}


def test_go_with_several_commands_needs_a_procfile(tmp_path):
    tree = tree_of(tmp_path, go__mod="module example.com/x\n")
    for name in ("web", "worker"):
        (tree / "cmd" / name).mkdir(parents=True)
        (tree / "cmd" / name / "main.go").write_text("package main\n")
    with pytest.raises(HostctlError) as caught:
        plan_build(tree)
    assert "web:" in caught.value.message and "web: web" in caught.value.hint
    (tree / "Procfile").write_text("web: web\nworker: worker\n")
    plan = plan_build(tree)
    assert plan.processes == {"web": "web", "worker": "worker"}
    assert "CMD" not in str(plan.dockerfile)


def test_an_odd_go_module_name_is_never_written_into_the_dockerfile(tmp_path):
    tree = tree_of(tmp_path, go__mod='module "a/b\\"]\n', main__go="package main\n")
    with pytest.raises(HostctlError):
        plan_build(tree)  # no default command: a Procfile must name the binary
