"""The deploy engine's pure decisions, without Docker: the exec rule, stale containers,
the image keep-set, the build cache prune, and the supersede chain a follower walks."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hostctl.adapters.docker import CacheRecord, ContainerState, cache_record
from hostctl.core.errors import HostctlError
from hostctl.core.labels import PROCESS, RELEASE
from hostctl.core.progress import Reporter
from hostctl.deploy.pipeline import cache_prune_due
from hostctl.deploy.rules import (
    build_cache_id,
    cache_to_prune,
    entrypoint_arguments,
    images_to_remove,
    own_cache,
    parse_scale,
    process_command,
    process_counts,
    serving_before,
    stale_containers,
)
from hostctl.host import Host
from hostctl.queue import follow
from hostctl.settings import Settings
from hostctl.stack.plan import BUILD_MARK, CACHE_DIR
from hostctl.state import App, Release
from hostctl.state.queue import claim, enqueue, finish, lease_owner


@pytest.mark.parametrize(
    ("command", "argument"),
    [
        ("gunicorn app:app", "exec gunicorn app:app"),
        ("python -m http.server $PORT", "exec python -m http.server $PORT"),
        ("migrate && serve", "migrate && serve"),
        ("a || b", "a || b"),
        ("a; b", "a; b"),
        ("a | b", "a | b"),
        ("a & b", "a & b"),
        ("echo `date`", "echo `date`"),
        ("echo $(date)", "echo $(date)"),
        ("one\ntwo", "one\ntwo"),
    ],
)
def test_plain_commands_are_execd_and_shell_ones_are_not(command: str, argument: str) -> None:
    assert process_command(command) == (["/bin/sh", "-c"], [argument])


def container(name: str, release: int, process: str) -> ContainerState:
    labels = {RELEASE: str(release), PROCESS: process}
    return ContainerState(name, "running", labels, "10.0.0.2", 0, 0, "2026-01-01T00:00:00")


def app(current: int | None, web: str | None) -> App:
    return App("blog", "2026-01-01", ("blog.test",), current, web)


def test_stale_containers_are_other_releases_and_idle_web_ones() -> None:
    found = [
        container("web-3", 3, "web"),  # serving
        container("worker-3", 3, "worker"),  # the current release's worker
        container("web-3b", 3, "web"),  # a second web of v3 that does not serve
        container("web-2", 2, "web"),
        container("worker-2", 2, "worker"),
    ]
    assert stale_containers(app(3, "web-3"), found) == ["web-3b", "web-2", "worker-2"]


def test_before_any_release_every_container_is_stale() -> None:
    found = [container("web-1", 1, "web"), container("worker-1", 1, "worker")]
    assert stale_containers(app(None, None), found) == ["web-1", "worker-1"]


def release(number: int, status: str) -> Release:
    image = f"hostctl/blog:{number}"
    return Release("blog", number, "deploy", status, "cli", "2026-01-01", image=image)


def test_the_image_keep_set_is_the_last_releases_that_served() -> None:
    releases = [  # newest first, as the store lists them
        release(6, "failed"),
        release(5, "live"),
        release(4, "retired"),
        release(3, "failed"),
        release(2, "retired"),
        release(1, "retired"),
    ]
    tags = [f"hostctl/blog:{n}" for n in range(1, 7)] + ["hostctl/blog:stray"]
    removed = images_to_remove(tags, releases, keep=3)
    assert removed == ["hostctl/blog:1", "hostctl/blog:3", "hostctl/blog:6", "hostctl/blog:stray"]
    assert images_to_remove(tags[:2], releases, keep=10) == []


class Recorder(Reporter):
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)

    def detail(self, text: str) -> None:
        pass


def test_a_follower_walks_the_supersede_chain_to_the_job_that_ran(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "root", tmp_path / "etc", "hctunit", None)
    host = Host(settings)
    host.store.insert_app("blog", ["blog.test"])
    first = enqueue(host.store, "blog", "cli", None, None)
    second = enqueue(host.store, "blog", "cli", None, None)  # supersedes the first
    third = enqueue(host.store, "blog", "cli", None, None)  # supersedes the second
    claimed = claim(host.store, lease_owner(), third.id)
    assert claimed is not None
    finish(host.store, third.id, "done", release=7)
    out = Recorder()
    final = follow(host, first.id, out)
    assert (final.id, final.status, final.release) == (third.id, "done", 7)
    assert out.steps == [
        f"Job {first.id} was superseded by job {second.id}, a newer deploy",
        f"Job {second.id} was superseded by job {third.id}, a newer deploy",
    ]


def test_entrypoint_arguments_are_the_words_with_variables_set() -> None:
    env = {"PORT": "5000", "NAME": "a b"}
    command = "serve --port $PORT --name ${NAME} 'two words' $UNSET"
    assert entrypoint_arguments(command, env) == [
        "serve",
        "--port",
        "5000",
        "--name",
        "a b",
        "two words",
        "",
    ]
    with pytest.raises(HostctlError, match="cannot be split"):
        entrypoint_arguments("serve 'open", env)


def test_process_counts_scale_over_formation_over_one_each() -> None:
    processes = ["web", "worker", "clock"]
    counts = process_counts(processes, {"web": 2, "worker": 0}, {"worker": 3})
    assert counts == {"web": 2, "worker": 3, "clock": 1}


def test_parse_scale_checks_types_and_counts() -> None:
    assert parse_scale(["web=2", "worker=0"], ["web", "worker"]) == {"web": 2, "worker": 0}
    for arguments, problem in [
        (["web"], "not TYPE=COUNT"),
        (["web=-1"], "not TYPE=COUNT"),
        (["clock=1"], "no 'clock' process"),
        (["web=101"], "too many"),
        ([], "no TYPE=COUNT"),
    ]:
        with pytest.raises(HostctlError, match=problem):
            parse_scale(arguments, ["web", "worker"])


def test_a_failed_first_deploy_says_nothing_was_serving() -> None:
    assert serving_before(None) == "nothing was serving before, and nothing serves now"
    assert serving_before(4) == "release 4 is still serving"


def test_web_containers_that_serve_are_not_stale() -> None:
    serving = App(
        "blog", "2026-01-01", ("blog.test",), 3, "web-a", web_containers=("web-a", "web-b")
    )
    found = [
        container("web-a", 3, "web"),
        container("web-b", 3, "web"),
        container("web-c", 3, "web"),
    ]
    assert stale_containers(serving, found) == ["web-c"]


def record(id: str, description: str, *parents: str, **more: object) -> CacheRecord:
    fields: dict[str, Any] = {
        "kind": "regular",
        "size": 100,
        "in_use": False,
        "last_used": "2026-01-01T00:00:00.123456789Z",
    }
    return CacheRecord(id=id, parents=parents, description=description, **(fields | more))


CACHE = [
    record("base", "from local "),
    record("user", f"mount / from exec /bin/sh -c echo app >> /etc/passwd  # {BUILD_MARK}", "base"),
    record("deps", "mount / from exec /bin/sh -c pip install -r requirements.txt", "user"),
    record("copy", "fileop target", "deps"),
    record("pip", f"cached mount {CACHE_DIR}/pip from exec /bin/sh -c pip install", kind="x"),
    record("theirs", "mount / from exec /bin/sh -c make", "base"),
    record("their-mount", "cached mount /root/.cache/pip from exec /bin/sh -c pip install"),
    record("context", "local source for context", kind="source.local"),
]


def test_hostctls_build_cache_is_its_marked_steps_what_grew_on_them_and_its_mounts():
    assert [r.id for r in own_cache(CACHE)] == ["user", "deps", "copy", "pip"]


def test_the_cache_prune_takes_hostctls_old_records_then_the_least_recently_used():
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert cache_to_prune(CACHE, max_age=2 * 86400, max_size=10**9, now=now) == []
    # What grew on a record goes before it: copy on deps on user (on base); pip is a mount.
    assert cache_to_prune(CACHE, max_age=3600, max_size=10**9, now=now) == [
        "copy",
        "deps",
        "user",
        "pip",
    ]
    fresh = [replace(r, last_used=f"2026-01-01T23:{n:02}:00Z") for n, r in enumerate(CACHE)]
    # 400 bytes of hostctl's, 250 allowed: the two used longest ago go (deps grew on user).
    assert cache_to_prune(fresh, max_age=3600, max_size=250, now=now) == ["deps", "user"]
    busy = [replace(r, in_use=True) if r.id == "user" else r for r in fresh]
    assert cache_to_prune(busy, max_age=3600, max_size=250, now=now) == ["deps"]  # 300 free


def test_cache_records_name_their_parents_in_either_api_version() -> None:
    # API 1.42 moved `Parent` to the list `Parents` and leaves `Parent` empty.
    assert cache_record({"ID": "a", "Parent": "", "Parents": ["p", "q"]}).parents == ("p", "q")
    assert cache_record({"ID": "a", "Parent": "p"}).parents == ("p",)
    assert cache_record({"ID": "a", "Parent": ""}).parents == ()
    # A step built on two records, one of them hostctl's, is hostctl's.
    merged = record("merged", "fileop target", "theirs", "copy")
    assert "merged" in [r.id for r in own_cache([*CACHE, merged])]


def test_the_prune_takes_what_grew_on_a_record_first_then_the_least_recently_used() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    stamp = "2026-01-01T0{}:00:00Z".format
    records = [
        record("root", f"mount / from exec /bin/sh -c echo  # {BUILD_MARK}", last_used=stamp(5)),
        record("young", "fileop target", "root", last_used=stamp(3)),
        record("old", "fileop target", "root", last_used=stamp(1)),
        record("leaf", "fileop target", "young", "old", last_used=stamp(4)),
        record("loop-a", f"echo  # {BUILD_MARK}", "loop-b", last_used=stamp(2)),
        record("loop-b", "fileop target", "loop-a", last_used=stamp(2)),
    ]
    order = cache_to_prune(records, max_age=60, max_size=10**9, now=now)
    # leaf first (on two parents), then its parents, the one used longer ago first;
    # a cycle (which BuildKit never makes) does not hang the ordering.
    assert order.index("leaf") < order.index("old") < order.index("young") < order.index("root")
    assert set(order) == {r.id for r in records}


def test_a_failing_prune_does_not_fail_the_job_that_ran_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that answers the build cache listing with what is not JSON: an error no
    adapter maps (none could foresee every one) is a line in the job's log, not a failure
    of the job."""
    import http.server
    import socketserver
    import threading

    from hostctl.deploy.swap import Leftovers
    from hostctl.queue import clean_up

    class Engine(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"ApiVersion": "1.41"}' if self.path.endswith("/version") else b"half{"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:  # a unix socket's peer has no address
            return "engine"

        def log_message(self, *args: object) -> None:
            pass

    socket_path = tmp_path / "engine.sock"
    with socketserver.ThreadingUnixStreamServer(str(socket_path), Engine) as engine:
        threading.Thread(target=engine.serve_forever, daemon=True).start()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
        host = Host(Settings(tmp_path / "root", tmp_path / "etc", "hctunit", None))
        steps: list[str] = []
        out = SimpleNamespace(step=steps.append, detail=steps.append)
        try:
            clean_up(host, Leftovers("blog"), True, out)  # type: ignore[arg-type]
        finally:
            engine.shutdown()
    assert len(steps) == 1 and steps[0].startswith("Could not prune the build cache: "), steps


def test_each_app_has_cache_mounts_of_its_own_that_no_build_can_name() -> None:
    blog = App("blog", "2026-01-01", (), None, None, webhook_secret="a" * 64)
    shop = replace(blog, name="shop", webhook_secret="b" * 64)
    assert build_cache_id(blog) == build_cache_id(blog)  # the app's cache lasts
    assert build_cache_id(blog).startswith("hostctl-blog-")  # an operator can tell whose
    assert build_cache_id(blog) != build_cache_id(shop)
    # the name alone does not give it: another app's Dockerfile cannot mount it
    assert build_cache_id(blog) != build_cache_id(replace(blog, webhook_secret="c" * 64))
    assert blog.webhook_secret[:8] not in build_cache_id(blog)
    # `hostctl apps purge-cache`: new mounts from then on (the first generation's id is
    # the one apps had before generations existed)
    purged = replace(blog, build_cache_generation=1)
    assert build_cache_id(purged) != build_cache_id(blog)
    assert build_cache_id(purged).startswith("hostctl-blog-")
    assert (
        build_cache_id(blog)
        == "hostctl-blog-" + hmac.new(b"a" * 64, b"build cache", hashlib.sha256).hexdigest()[:16]
    )


def test_the_build_cache_is_pruned_after_every_tenth_build_not_release(tmp_path: Path) -> None:
    host = Host(Settings(tmp_path / "root", tmp_path / "etc", "hctunit", None))
    host.store.insert_app("blog", ["blog.test"])
    due = []
    for number in range(1, 25):
        # an env change after each build: its releases add no build cache
        host.store.new_release("blog", "env" if number % 2 == 0 else "deploy", "cli")
        if number % 2:
            due.append(cache_prune_due(host, "blog"))
    assert [n for n, is_due in enumerate(due, 1) if is_due] == [10]  # the tenth build: release 19
