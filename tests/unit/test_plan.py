import re
import shutil
from pathlib import Path

import pytest

from hostctl.core.errors import HostctlError
from hostctl.core.templates import base_images
from hostctl.stack.plan import BUILD_MARK, CACHE_DIR, plan_build

FIXTURES = Path(__file__).parent.parent / "fixtures" / "apps"


def tree_of(tmp_path: Path, fixture: str | None = None, **files: str) -> Path:
    tree = tmp_path / "src"
    if fixture:
        shutil.copytree(FIXTURES / fixture, tree)
    else:
        tree.mkdir(parents=True)
    for name, text in files.items():
        (tree / name.replace("__", ".")).write_text(text)
    return tree


@pytest.mark.parametrize(
    ("fixture", "stack", "base"),
    [
        ("python", "Python", "python"),
        ("node", "Node", "node"),
        ("go", "Go", "golang"),
        ("static", "static", "static"),
    ],
)
def test_each_stack_is_detected_and_rendered_from_the_base_image_list(
    tmp_path, fixture, stack, base
):
    tree = tree_of(tmp_path, fixture)
    plan = plan_build(tree)
    assert plan.stack == stack and plan.generated_dockerfile and plan.dockerfile
    assert f"FROM {base_images()[base]}" in plan.dockerfile
    assert not (tree / "Dockerfile").exists(), "the source tree is never written to"


def test_a_dockerfile_is_used_as_it_is(tmp_path):
    tree = tree_of(tmp_path, "dockerfile")
    original = (tree / "Dockerfile").read_text()
    plan = plan_build(tree)
    assert plan.stack == "Dockerfile" and not plan.generated_dockerfile
    assert (tree / "Dockerfile").read_text() == original
    assert plan.processes == {"web": None}


def test_node_uses_npm_ci_with_a_lockfile_and_install_without(tmp_path):
    tree = tree_of(tmp_path, "node")
    assert "npm ci" in str(plan_build(tree).dockerfile)
    (tree / "package-lock.json").unlink()
    assert "npm install" in str(plan_build(tree).dockerfile)


def test_dependency_layer_comes_before_the_source_copy(tmp_path):
    tree = tree_of(tmp_path, "python")
    text = str(plan_build(tree).dockerfile)
    assert text.index("install -r requirements.txt") < text.index("COPY . .")


def test_go_without_go_mod(tmp_path):
    tree = tree_of(tmp_path, main__go="package main\nfunc main() {}\n")
    assert "go mod init app" in str(plan_build(tree).dockerfile)


def test_procfile_release_and_hostctl_yml_overrides(tmp_path):
    tree = tree_of(
        tmp_path,
        requirements__txt="flask\n",
        Procfile="web: gunicorn a:b\nworker: python w.py\nrelease: python migrate.py\n",
        **{"hostctl__yml": "port: 8080\nprocesses:\n  worker: python other.py\n"},
    )
    plan = plan_build(tree)
    assert plan.processes == {"web": "gunicorn a:b", "worker": "python other.py"}
    assert plan.release_command == "python migrate.py"
    assert "PORT=8080" in str(plan.dockerfile)


def test_app_json_health_is_used_when_hostctl_yml_has_none(tmp_path):
    tree = tree_of(
        tmp_path,
        index__html="<p>hi</p>",
        app__json='{"healthchecks": {"web": [{"path": "/ok", "attempts": 2, "timeout": 1}]}}',
    )
    assert plan_build(tree).health.path == "/ok"


def test_no_stack_says_what_was_looked_for(tmp_path):
    tree = tree_of(tmp_path, README__md="hello")
    with pytest.raises(HostctlError) as caught:
        plan_build(tree)
    assert "no stack detected" in caught.value.message
    for looked_for in ("Dockerfile", "requirements.txt", "package.json", "go.mod", "index.html"):
        assert looked_for in caught.value.message


def test_procfile_without_web_for_a_python_app(tmp_path):
    tree = tree_of(tmp_path, requirements__txt="flask\n", Procfile="release: python m.py\n")
    with pytest.raises(HostctlError, match="the Procfile must have a `web:` line"):
        plan_build(tree)


def test_a_procfile_with_only_workers_has_no_web_process(tmp_path):
    tree = tree_of(tmp_path, requirements__txt="flask\n", Procfile="worker: python w.py\n")
    assert plan_build(tree).processes == {"worker": "python w.py"}
    (tmp_path / "node").mkdir()
    node = tree_of(tmp_path / "node", package__json="{}", Procfile="worker: node w.js\n")
    assert plan_build(node).processes == {"worker": "node w.js"}


def test_malformed_hostctl_yml_is_refused_before_any_build(tmp_path):
    tree = tree_of(tmp_path, index__html="x", **{"hostctl__yml": "healthcheck: {timeout: never}\n"})
    with pytest.raises(HostctlError, match="healthcheck/timeout: should be a number of seconds"):
        plan_build(tree)


@pytest.mark.parametrize(
    ("fixture", "mount"), [("python", "uv"), ("node", "npm"), ("go", "go-mod")]
)
def test_builds_with_buildkit_keep_package_caches_in_cache_mounts(tmp_path, fixture, mount):
    tree = tree_of(tmp_path, fixture)
    buildkit = str(plan_build(tree, "hostctl-blog-0123").dockerfile)
    assert f"--mount=type=cache,id=hostctl-blog-0123-{mount},target={CACHE_DIR}/{mount}" in buildkit
    assert "# syntax" not in buildkit  # the engine's own frontend: no image to pull
    classic = str(plan_build(tree).dockerfile)
    assert "--mount" not in classic  # the classic builder has no cache mounts
    for text in (buildkit, classic):
        assert BUILD_MARK in text  # tells hostctl's build cache from the rest


def test_python_builds_with_buildkit_fetch_a_hash_pinned_uv_into_a_stage_of_its_own(tmp_path):
    buildkit = str(plan_build(tree_of(tmp_path, "python"), "hostctl-blog-0123").dockerfile)
    stage, app = buildkit.split("\nFROM python:3.11-slim-bookworm\n")
    assert "FROM python:3.11-slim-bookworm AS hostctl-uv" in stage
    pinned = re.search(r"'uv==[0-9.]+((?: --hash=sha256:[0-9a-f]{64})+)'", stage)
    assert pinned and pinned.group(1).count("--hash") >= 2, stage  # one per Linux wheel
    assert "--require-hashes" in stage and "--only-binary :all:" in stage
    assert BUILD_MARK in stage  # pruned with the rest of hostctl's build cache
    # Bound into the dependency step read-only (BuildKit's default), not copied in.
    [step] = [line for line in app.splitlines() if "from=hostctl-uv" in line]
    assert "COPY --from" not in app and ",rw" not in step
    assert "uv pip --no-config" in app
    # Every cache mount is the app's own.
    assert f"id=hostctl-blog-0123-uv,target={CACHE_DIR}/uv " in step
    assert re.findall(r"type=cache,id=([^,]+)", step) == [
        "hostctl-blog-0123-uv",
        "hostctl-blog-0123-venv-python-3.11-slim-bookworm",
    ]
    assert "hostctl-uv" not in str(plan_build(tree_of(tmp_path / "c", "python")).dockerfile)


@pytest.mark.parametrize(
    ("requirements", "plain"),
    [
        ("flask==3.0.3\n", True),
        ("#    pip-compile --output-file=requirements.txt\nflask\n    # via -r base.in\n", True),
        ("six  # --pre is not needed\n", True),
        ('six; python_version >= "3.8"\nfoo[bar]>=1,!=1.0-1\npkg @ https://x/y-z.whl\n', True),
        ("flask==3.0.3 \\\n    --hash=sha256:abc\n", False),
        ("flask==3.0.3 \\\n\t--hash=sha256:abc\n", False),
        ("\ufeff-i https://example.com/simple\r\nflask\r\n", False),
        ("-e .\n", False),
        ("--pre\nflask\n", False),
        ("six --config-settings x=y\n", False),
    ],
)
def test_uv_installs_plain_requirements_and_pip_any_with_options(tmp_path, requirements, plain):
    tree = tree_of(tmp_path, "python")
    (tree / "requirements.txt").write_text(requirements)
    text = str(plan_build(tree, "hostctl-blog-0123").dockerfile)
    assert ("AS hostctl-uv" in text) is plain
    assert ("uv pip" in text) is plain
    assert ("-m pip --cache-dir /var/cache/hostctl/pip install -r" in text) is not plain


def test_pip_installs_what_is_not_a_plain_list(tmp_path):
    utf16 = tree_of(tmp_path / "utf16", "python")
    (utf16 / "requirements.txt").write_bytes("flask\n".encode("utf-16"))  # pip reads it
    lock = '{"default": {"six": {"version": "==1.17.0"}}}\n'
    pipfile = tree_of(
        tmp_path / "p", Pipfile="[packages]\n", Pipfile__lock=lock, Procfile="web: x\n"
    )
    pyproject = '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.9,<3.10"\n'
    old_python = tree_of(tmp_path / "old", pyproject__toml=pyproject, Procfile="web: x\n")
    for tree in (utf16, pipfile, old_python):
        assert "hostctl-uv" not in str(plan_build(tree, "hostctl-blog-0123").dockerfile), tree
    newer = pyproject.replace(">=3.9,<3.10", ">=3.11")
    new_python = tree_of(tmp_path / "new", pyproject__toml=newer, Procfile="web: x\n")
    assert "AS hostctl-uv" in str(plan_build(new_python, "hostctl-blog-0123").dockerfile)


def test_the_static_site_marks_its_build_cache_too(tmp_path):
    assert BUILD_MARK in str(plan_build(tree_of(tmp_path, "static"), "hostctl-site").dockerfile)


def test_a_pipfile_needs_its_lock(tmp_path):
    tree = tree_of(tmp_path, Pipfile='[packages]\nsix = "==1.17.0"\n', Procfile="web: x\n")
    with pytest.raises(HostctlError, match=r"Pipfile without Pipfile\.lock") as refused:
        plan_build(tree)
    assert refused.value.hint == "run `pipenv lock` and commit Pipfile.lock"
    (tree / "Pipfile.lock").write_text('{"default": {"six": {"version": "==1.17.0"}}}\n')
    text = str(plan_build(tree, "hostctl-blog-1").dockerfile)
    assert "pipenv requirements > /tmp/requirements.txt" in text
    assert f"-m pip --cache-dir {CACHE_DIR}/pip install -r /tmp/requirements.txt" in text
