"""Builds: BuildKit with cache mounts (a dependency change reuses what was downloaded), the
classic builder as the fallback, and a disk that stays bounded: hostctl prunes its own
images and build cache, and nothing it did not build."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from hostctl.adapters.docker import Docker
from hostctl.deploy.rules import last_used, own_cache
from hostctl.stack.plan import CACHE_DIR
from tests.harness.env import NAMESPACE
from tests.harness.hostctl import FIXTURES, Hostctl, commit, git, make_repo

pytestmark = pytest.mark.integration

BUILDKIT_CLI = "/usr/bin/docker"  # Debian's 20.10 CLI: BuildKit with DOCKER_BUILDKIT=1
FOREIGN_LABEL = f"io.hostctl.test.foreign={NAMESPACE}"  # not one of hostctl's labels


def test_a_python_dependency_change_installs_only_what_changed(hostctl, tmp_path, app_name):
    # A comment of the app's own in requirements.txt: no earlier build's step is reused.
    # An option in a comment (pip-compile writes one) is no option: uv installs.
    comment = f"#    pip-compile --output-file=requirements.txt ({app_name})\n"
    requirements = (FIXTURES / "python" / "requirements.txt").read_text() + comment
    repo = make_repo(tmp_path / "repo", "python", {"requirements.txt": requirements})
    hostname = f"{app_name}.deps.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        first = hostctl.run("deploy", app_name, str(repo))
        assert "(BuildKit)" in first.stdout, first.stdout
        assert "flask==3.0.3" in uv_changes(first.stdout, "+")  # uv installed it
        label = '{{index .Config.Labels "io.hostctl.namespace"}}'  # hostctl's labels still
        image = f"{NAMESPACE}/{app_name}:1"
        assert docker("image", "inspect", "--format", label, image).strip() == NAMESPACE
        # uv was bound in for the build, and is not in the image.
        uv_left = f"test ! -e /opt/hostctl-uv && ls -A {CACHE_DIR}/uv-bin 2>/dev/null | wc -l"
        assert hostctl.run("run", app_name, "--", "sh", "-c", uv_left).stdout.strip() == "0"
        used = uv_cache_used()
        commit(repo, {"requirements.txt": f"{requirements}six==1.17.0\n"}, "add six")
        done = hostctl.run("deploy", app_name, str(repo))
        step = next(line for line in done.stdout.splitlines() if "uv pip --no-config" in line)
        assert f"--mount=type=cache,id=hostctl-{app_name}-" in step  # the app's own cache
        assert "id=hostctl-pip," not in step and "id=hostctl-uv," not in step
        # The app's virtualenv of its last build is the start: only six is installed.
        assert uv_changes(done.stdout, "+") == {"six==1.17.0"}, done.stdout
        assert not uv_changes(done.stdout, "-")
        # The engine keeps uv's cache between builds, and this build used it again.
        assert uv_cache_used() > used
        assert hostctl.get(hostname) == (200, "python v1\n")
        assert version_in_release(hostctl, app_name, "six") == "1.17.0"

        # What the last build required and this one does not is uninstalled.
        commit(repo, {"requirements.txt": f"{requirements}# without six\n"}, "drop six")
        done = hostctl.run("deploy", app_name, str(repo))
        assert uv_changes(done.stdout, "-") == {"six==1.17.0"}, done.stdout
        assert not INSTALLED.search(done.stdout)  # nothing needs six: no install ran
        assert hostctl.get(hostname) == (200, "python v1\n")
        assert version_in_release(hostctl, app_name, "six") == "none"
        assert version_in_release(hostctl, app_name, "flask") == "3.0.3"

        # A removed line that an installed package still requires is put back.
        werkzeug = version_in_release(hostctl, app_name, "werkzeug")  # flask's
        commit(repo, {"requirements.txt": f"{requirements}werkzeug=={werkzeug}\n"}, "pin it")
        hostctl.run("deploy", app_name, str(repo))
        commit(repo, {"requirements.txt": f"{requirements}# unpinned\n"}, "unpin it")
        done = hostctl.run("deploy", app_name, str(repo))
        assert uv_changes(done.stdout, "-") == {f"werkzeug=={werkzeug}"}, done.stdout
        assert uv_changes(done.stdout, "+") == {f"werkzeug=={werkzeug}"}, done.stdout
        assert version_in_release(hostctl, app_name, "werkzeug") == werkzeug
        assert hostctl.get(hostname) == (200, "python v1\n")

        # A change in comments only runs no installer at all.
        commit(repo, {"requirements.txt": f"{requirements}# a comment\n"}, "comment")
        done = hostctl.run("deploy", app_name, str(repo))
        assert not INSTALLED.search(done.stdout), done.stdout
        assert not uv_changes(done.stdout, "-")
        saved = ["cat", "/opt/app-venv/hostctl-requirements.txt"]  # the step ran
        assert "# a comment" in hostctl.run("run", app_name, "--", *saved).stdout
        assert version_in_release(hostctl, app_name, "werkzeug") == werkzeug

        # A failed install fails the build, and the saved virtualenv is still the start.
        missing = "hostctl-no-such-package==1.0"
        commit(repo, {"requirements.txt": f"{requirements}{missing}\n"}, "a typo")
        failed = hostctl.run("deploy", app_name, str(repo), check=False)
        assert failed.returncode == 1 and "the build failed" in failed.stderr, failed.stderr
        assert hostctl.get(hostname) == (200, "python v1\n")
        again = f"{requirements}six==1.17.0\n# again\n"  # not the layer of the first six
        commit(repo, {"requirements.txt": again}, "six again")
        done = hostctl.run("deploy", app_name, str(repo))
        assert uv_changes(done.stdout, "+") == {"six==1.17.0"}, done.stdout

        # An option is pip's (with a cache of the app's own), and a change that is not a
        # package from the index starts afresh.
        commit(repo, {"requirements.txt": f"--prefer-binary\n{requirements}"}, "an option")
        done = hostctl.run("deploy", app_name, str(repo))
        step = next(line for line in done.stdout.splitlines() if "install -r requirem" in line)
        assert f"id=hostctl-{app_name}-" in step and f"-pip,target={CACHE_DIR}/pip" in step
        # No uv stage to fetch. (Not "hostctl-uv" in the output: BuildKit names a step it
        # shares with a concurrent build, the base's FROM, after that build's stage.)
        assert "from=hostctl-uv" not in step and "uv==" not in done.stdout, done.stdout
        [installed] = [line for line in done.stdout.splitlines() if "Successfully inst" in line]
        assert "flask-3.0.3" in installed and "six" not in installed, installed

        # A removed line whose package another line still names uninstalls nothing.
        pair = ['six==1.17.0; python_version >= "3.8"', 'six==1.16.0; python_version < "3.8"']
        commit(repo, {"requirements.txt": requirements + "\n".join(pair) + "\n"}, "a pair")
        hostctl.run("deploy", app_name, str(repo))
        assert version_in_release(hostctl, app_name, "six") == "1.17.0"
        commit(repo, {"requirements.txt": f"{requirements}{pair[0]}\n"}, "one of the pair")
        done = hostctl.run("deploy", app_name, str(repo))
        assert not uv_changes(done.stdout, "-"), done.stdout
        assert not INSTALLED.search(done.stdout), done.stdout
        assert version_in_release(hostctl, app_name, "six") == "1.17.0"
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


# What uv (when it resolves or checks) or pip print when they install
INSTALLED = re.compile(
    r"(Resolved|Checked|Audited) \d+ packages? in |Requirement already satisfied|"
    r"Successfully (un)?installed"
)


def uv_changes(output: str, sign: str) -> set[str]:
    """The packages uv's output lists as installed ("+") or uninstalled ("-")."""
    line = re.compile(rf"\s{re.escape(sign)} ([a-z0-9][a-z0-9._-]*==\S+)$")
    return {m.group(1) for m in map(line.search, output.splitlines()) if m}


# package-lock.json for the node fixture with tiny-invariant 1.3.3 added (no dependencies)
ADDED_LOCK = FIXTURES.parent / "node-added-package" / "package-lock.json"


def test_a_node_dependency_change_installs_only_what_changed(hostctl, tmp_path, app_name):
    package = json.loads((FIXTURES / "node" / "package.json").read_text())
    package["description"] = app_name  # the app's own: no earlier build's step is reused
    lock = (FIXTURES / "node" / "package-lock.json").read_text()
    added = package | {"dependencies": package["dependencies"] | {"tiny-invariant": "1.3.3"}}
    repo = make_repo(tmp_path / "repo", "node", {"package.json": json.dumps(package)})
    hostname = f"{app_name}.npm.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    resolve = (  # read from node_modules: an image may hold global modules too
        "const fs = require('fs'), f = 'node_modules/tiny-invariant/package.json';"
        " console.log(fs.existsSync(f) ? JSON.parse(fs.readFileSync(f)).version : 'none')"
    )

    def tiny_invariant() -> str:
        return hostctl.run("run", app_name, "--", "node", "-e", resolve).stdout.strip()

    try:
        first = hostctl.run("deploy", app_name, str(repo))
        assert "(BuildKit)" in first.stdout and "npm ci" in first.stdout
        served = hostctl.get(hostname)
        assert served[0] == 200, served

        # The last build's node_modules is the start: npm adds only the new package.
        files = {"package.json": json.dumps(added), "package-lock.json": ADDED_LOCK.read_text()}
        commit(repo, files, "add tiny-invariant")
        done = hostctl.run("deploy", app_name, str(repo))
        assert "added 1 package" in done.stdout, done.stdout
        assert tiny_invariant() == "1.3.3" and hostctl.get(hostname) == served

        # And removes only the one the lockfile no longer has (a package.json of its own:
        # the first build's step would be reused).
        dropped = json.dumps(package | {"description": f"{app_name} again"})
        commit(repo, {"package.json": dropped, "package-lock.json": lock}, "drop it")
        done = hostctl.run("deploy", app_name, str(repo))
        assert "removed 1 package" in done.stdout, done.stdout
        assert tiny_invariant() == "none" and hostctl.get(hostname) == served

        # A lockfile npm rewrites (its root version is stale) but `npm ci` takes: afresh.
        bumped = package | {"version": "1.0.1", "description": f"{app_name} bumped"}
        commit(repo, {"package.json": json.dumps(bumped)}, "a version of its own")
        done = hostctl.run("deploy", app_name, str(repo))
        assert re.search(r"added \d{2,} packages", done.stdout), done.stdout
        assert tiny_invariant() == "none" and hostctl.get(hostname) == served

        # After `apps purge-cache` the next build starts from empty caches: all is installed.
        said = hostctl.run("apps", "purge-cache", app_name).stdout
        assert "starts from empty caches" in said, said
        commit(repo, {"server.js": "// purged\n" + (repo / "server.js").read_text()}, "src")
        done = hostctl.run("deploy", app_name, str(repo))
        assert re.search(r"added \d{2,} packages", done.stdout), done.stdout
        assert hostctl.get(hostname) == served

        # A lockfile out of step with package.json is refused, as `npm ci` refuses it.
        commit(repo, {"package.json": json.dumps(added)}, "no lockfile change")
        failed = hostctl.run("deploy", app_name, str(repo), check=False)
        assert failed.returncode == 1 and "the build failed" in failed.stderr, failed.stderr
        assert "in sync" in failed.stdout + failed.stderr
        assert hostctl.get(hostname) == served
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


def test_a_same_size_change_in_the_same_second_is_built(hostctl, tmp_path, app_name, monkeypatch):
    # git archive gives files the commit's time in seconds; BuildKit sends only files
    # whose size or time changed since the app's previous build context.
    for variable in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(variable, "2026-01-01T00:00:00Z")
    repo = make_repo(tmp_path / "repo", "python", {"VERSION": "burst0\n"})
    hostname = f"{app_name}.same-second.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        assert "(BuildKit)" in hostctl.run("deploy", app_name, str(repo)).stdout
        assert hostctl.get(hostname) == (200, "python burst0\n")
        commit(repo, {"VERSION": "burst9\n"})
        hostctl.run("deploy", app_name, str(repo))
        assert hostctl.get(hostname) == (200, "python burst9\n")
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


PIPFILE_LOCK = {
    "_meta": {
        "pipfile-spec": 6,
        "requires": {},
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}],
    },
    "default": {"flask": {"version": "==3.0.3"}, "gunicorn": {"version": "==22.0.0"}},
    "develop": {},
}
MANIFESTS = {
    "Pipfile": {
        "Pipfile": '[packages]\nflask = "==3.0.3"\ngunicorn = "==22.0.0"\n',
        "Pipfile.lock": json.dumps(PIPFILE_LOCK),
    },
    "pyproject.toml": {
        "pyproject.toml": (
            '[project]\nname = "counter"\nversion = "1"\n'
            'dependencies = ["flask==3.0.3", "gunicorn==22.0.0"]\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        )
    },
}


@pytest.mark.parametrize("manifest", sorted(MANIFESTS))
def test_pipfile_and_pyproject_apps_get_their_dependencies(hostctl, tmp_path, app_name, manifest):
    repo = make_repo(tmp_path / "repo", "python", MANIFESTS[manifest])
    git(repo, "rm", "--quiet", "requirements.txt")  # else it would be the manifest
    git(repo, "commit", "--quiet", "-m", f"{manifest} only")
    hostname = f"{app_name}.manifest.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        done = hostctl.run("deploy", app_name, str(repo))
        assert "(BuildKit)" in done.stdout, done.stdout
        assert hostctl.get(hostname) == (200, "python v1\n")
        assert version_in_release(hostctl, app_name, "flask") == "3.0.3"
        assert version_in_release(hostctl, app_name, "pipenv") == "none"  # a build tool
    finally:
        hostctl.run("apps", "destroy", app_name, "--yes")


def version_in_release(runner: Hostctl, app: str, package: str) -> str:
    """The version of ``package`` in the app's live release, or "none"."""
    script = (
        "import importlib.metadata as m\n"
        f"try: print(m.version({package!r}))\n"
        "except m.PackageNotFoundError: print('none')"
    )
    return runner.run("run", app, "--", "python", "-c", script).stdout.strip()


def uv_cache_used() -> str:
    """When one of hostctl's uv cache mounts (one per app) was last used."""
    mounts = [
        r.last_used
        for r in Docker().build_cache()
        if r.description.startswith(f"cached mount {CACHE_DIR}/uv ")
    ]
    assert mounts, "no uv cache mount of hostctl's in the build cache"
    return max(mounts)


def test_the_classic_builder_still_deploys(hostctl, tmp_path, app_name):
    classic = Hostctl(hostctl.env | {"HOSTCTL_BUILDER": "classic"})
    repo = make_repo(tmp_path / "repo", "python")
    hostname = f"{app_name}.classic.test"
    classic.run("apps", "create", app_name, "--domain", hostname)
    try:
        done = classic.run("deploy", app_name, str(repo))
        assert "(classic builder)" in done.stdout
        assert "--mount=type=cache" not in dockerfile_of(classic, app_name)
        assert classic.get(hostname) == (200, "python v1\n")
        assert "classic builder (HOSTCTL_BUILDER=classic)" in check_detail(classic, "docker")
    finally:
        classic.run("apps", "destroy", app_name, "--yes")


def check_detail(runner: Hostctl, name: str) -> str:
    report = json.loads(runner.run("doctor", "--json", check=False).stdout)
    return str(next(c for c in report["checks"] if c["name"] == name)["detail"])


def dockerfile_of(runner: Hostctl, app: str) -> str:
    """The generated Dockerfile as the image's history shows its RUN steps."""
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", f"{NAMESPACE}/{app}:1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m pip --no-cache-dir install -r requirements.txt" in history
    return history


@pytest.fixture
def foreign(tmp_path: Path, app_name: str) -> Iterator[dict[str, object]]:
    """An image, a dangling image and BuildKit cache records that hostctl did not make."""
    context = tmp_path / "foreign"
    context.mkdir()
    marker = f"foreign-{app_name}"
    (context / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        f"RUN --mount=type=cache,target=/{marker} echo {marker} > /{marker}/x\n"
        f"RUN echo {marker} > /{marker}.txt\n"
        "COPY extra /extra\n"
    )
    tag = f"hostctl-test-{marker}:1"

    def build(extra: str) -> str:
        (context / "extra").write_text(extra)
        subprocess.run(
            [BUILDKIT_CLI, "build", "-q", "--label", FOREIGN_LABEL, "-t", tag, str(context)],
            env=os.environ | {"DOCKER_BUILDKIT": "1"},
            capture_output=True,
            check=True,
        )
        return docker("image", "inspect", "--format", "{{.Id}}", tag).strip()

    dangling = build("one")
    kept = build("two")  # takes the tag: the first image is dangling now
    records = [r.id for r in Docker().build_cache() if marker in r.description]
    assert records, "the foreign build made no build cache"
    found = {"images": [dangling, kept], "records": records, "marker": marker}
    yield found
    subprocess.run(["docker", "rmi", "-f", kept, dangling], capture_output=True, check=False)
    Docker().prune_build_cache([r.id for r in Docker().build_cache() if marker in r.description])


def test_the_build_cache_is_pruned_in_batches_within_a_budget(
    hostctl: Hostctl, foreign: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine tries the id filter on every record it has, so ids go in small batches;
    past the budget the rest waits for the next prune. (Which records go is the rules'
    business, unit-tested: here the foreign build's stand in for hostctl's.)"""
    from hostctl.deploy import pipeline
    from hostctl.host import Host
    from hostctl.settings import Settings

    for key, value in hostctl.env.items():
        monkeypatch.setenv(key, value)
    host = Host(Settings.from_env())
    records = list(foreign["records"])  # type: ignore[call-overload]
    marker = str(foreign["marker"])
    monkeypatch.setattr(pipeline, "cache_to_prune", lambda *_: list(records))
    monkeypatch.setattr(pipeline, "PRUNE_BATCH", 1)
    calls: list[list[str]] = []
    prune = host.docker.prune_build_cache
    monkeypatch.setattr(
        host.docker, "prune_build_cache", lambda ids: calls.append(ids) or prune(ids)
    )

    lines: list[str] = []
    out = SimpleNamespace(step=lines.append, detail=lines.append)
    monkeypatch.setattr(pipeline, "PRUNE_SECONDS", 0.0)
    assert pipeline.prune_build_cache(host, out) == 0  # type: ignore[arg-type]
    assert calls == [] and lines == [
        f"{len(records)} build cache records are left for the next prune"
    ]

    monkeypatch.setattr(pipeline, "PRUNE_SECONDS", 60.0)
    pipeline.prune_build_cache(host, out)  # type: ignore[arg-type]
    assert calls == [[record] for record in records], "one engine call per batch"
    left = Docker().build_cache()
    grown_on = {p for r in left for p in r.parents}  # kept while another grows on it
    assert {r.id for r in left if marker in r.description} <= grown_on
    assert len({r.id for r in left} & set(records)) < len(records), "the batches pruned"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def test_deploys_prune_hostctls_build_cache_and_nothing_else(hostctl, tmp_path, app_name, foreign):
    etc = Path(hostctl.env["HOSTCTL_ETC"])
    etc.mkdir(exist_ok=True)
    config = etc / "hostctl.yml"
    before = config.read_text() if config.exists() else None
    config.write_text((before or "") + "keep_releases: 2\nbuild:\n  cache_max_age: 1\n")
    repo = make_repo(tmp_path / "repo", "static")
    hostname = f"{app_name}.prune.test"
    hostctl.run("apps", "create", app_name, "--domain", hostname)
    try:
        for number in range(1, 10):  # the tenth release prunes the build cache
            commit(repo, {"index.html": f"<p>release {number}</p>\n"})
            hostctl.run("deploy", app_name, str(repo))
        ours_before = {r.id for r in own_cache(Docker().build_cache())}
        assert len(ours_before) >= 9, "each release's COPY step is a record of hostctl's"
        commit(repo, {"index.html": "<p>release 10</p>\n"})
        started = datetime.now(UTC)
        done = hostctl.run("deploy", app_name, str(repo))
        assert "Pruned" in done.stdout, done.stdout
        assert hostctl.get(hostname) == (200, "<p>release 10</p>\n")
        # hostctl's cache is every namespace's: a record that another test's build used
        # meanwhile (the same fixture's steps) is rightly not old, so it is not counted.
        left = {
            r.id
            for r in own_cache(Docker().build_cache())
            if r.id in ours_before and last_used(r) < started
        }
        assert len(left) <= 3, f"hostctl's old build cache is still there: {left}"
        # Old releases' images go (keep_releases), and no untagged image of hostctl's stays.
        tags = docker("images", "--format", "{{.Tag}}", f"{NAMESPACE}/{app_name}").split()
        assert sorted(tags) == ["10", "9"]
        label = f"label=io.hostctl.namespace={NAMESPACE}"
        assert not docker("images", "-q", "--filter", "dangling=true", "--filter", label).split()
        # What hostctl did not build is all still there.
        for image in foreign["images"]:
            docker("image", "inspect", str(image))
        still = {r.id for r in Docker().build_cache() if foreign["marker"] in r.description}
        assert set(foreign["records"]) <= still
        assert "of it hostctl's builds'" in check_detail(hostctl, "disk")
    finally:
        if before is None:
            config.unlink()
        else:
            config.write_text(before)
        hostctl.run("apps", "destroy", app_name, "--yes")
