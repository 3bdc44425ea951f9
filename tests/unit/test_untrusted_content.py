"""Repository content is untrusted: malformed files, odd numbers and symlinks give clear
errors naming the file, and hostctl (root) never reads or writes through a link."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from docker.models.containers import Container
from rich.console import Console

from hostctl.adapters import git
from hostctl.adapters.docker import stop_timeout_of
from hostctl.backup.archive import write_archive
from hostctl.backup.snapshot import scan
from hostctl.cli import render
from hostctl.core.errors import HostctlError
from hostctl.core.labels import STOP_TIMEOUT
from hostctl.deploy.source import fetch_source
from hostctl.server_config import load_server_config
from hostctl.stack.appjson import health_from_app_json
from hostctl.stack.plan import plan_build


def message_of(call, *args) -> str:
    with pytest.raises(HostctlError) as caught:
        call(*args)
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "app.json: (top level): should be a mapping"),
        ('"web"', "app.json: (top level): should be a mapping"),
        ('{"healthchecks": [1]}', "app.json: healthchecks: should be a mapping"),
        ('{"healthchecks": {"web": "/"}}', "app.json: healthchecks/web: should be a list"),
        ('{"healthchecks": {"web": ["/"]}}', "app.json: healthchecks/web/0: should be a mapping"),
        ("[" * 100_000 + "]" * 100_000, "app.json: nested too deeply"),
        ('{"healthchecks": {"web": [{"attempts": Infinity}]}}', "healthchecks/web/0/attempts"),
        ('{"healthchecks": {"web": [{"timeout": NaN}]}}', "healthchecks/web/0/timeout"),
        ('{"healthchecks": {"web": [{"wait": 1e999}]}}', "healthchecks/web/0/wait"),
        ('{"healthchecks": {"web": [{"attempts": 100, "wait": 600}]}}', "at most 3600s"),
    ],
)
def test_malformed_app_json_is_refused_with_its_key_path(text, message):
    assert message in message_of(health_from_app_json, text)


def test_app_json_numbers_within_range_are_read():
    check = health_from_app_json('{"healthchecks": {"web": [{"attempts": 2, "timeout": 3}]}}')
    assert check is not None and check.timeout == 16.0


def test_server_config_numbers_are_finite_and_bounded(tmp_path):
    config = tmp_path / "hostctl.yml"
    for text, key in [
        ("drain_timeout: .inf", "drain_timeout"),
        ("http_port: 99999999999999999999999", "http_port"),
        ("keep_releases: 1000000", "keep_releases"),
        ("resources: {memory: 0}", "resources/memory"),
        ("resources: {cpus: .nan}", "resources/cpus"),
    ]:
        config.write_text(text + "\n")
        assert f"hostctl.yml: {key}: should be" in message_of(load_server_config, config)


def tree_with(tmp_path: Path, **files: str) -> Path:
    tree = tmp_path / "src"
    tree.mkdir(parents=True)
    for name, text in files.items():
        (tree / name.replace("__", ".")).write_text(text)
    return tree


def test_package_json_that_is_a_list_or_not_utf8_is_named(tmp_path):
    tree = tree_with(tmp_path, package__json="[]", server__js="")
    assert message_of(plan_build, tree).startswith("package.json: (top level): should be a")
    (tree / "package.json").write_bytes(b'{"name": "caf\xe9"}')
    assert message_of(plan_build, tree) == "package.json is not UTF-8 text (byte 13)"


def test_a_dockerfile_that_is_a_directory_is_named(tmp_path):
    tree = tree_with(tmp_path, index__html="hi")
    (tree / "Dockerfile").mkdir()
    assert message_of(plan_build, tree) == "Dockerfile is a directory, not a file"


def test_deeply_nested_hostctl_yml_is_named(tmp_path):
    tree = tree_with(tmp_path, index__html="hi", hostctl__yml="a: " + "[" * 10_000)
    assert message_of(plan_build, tree).startswith("hostctl.yml:")


def test_config_files_are_never_read_through_a_symlink(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:SECRET-HASH\n")
    for name in ("Procfile", "app.json", "hostctl.yml"):
        tree = tree_with(tmp_path / name, index__html="hi")
        (tree / name).symlink_to(secret)
        message = message_of(plan_build, tree)
        assert message.startswith(f"{name} is a symlink") and "SECRET" not in message


def test_the_generated_dockerfile_is_never_written_through_a_dangling_link(tmp_path):
    tree = tree_with(tmp_path, index__html="hi")
    target = tmp_path / "outside" / "written-as-root"
    target.parent.mkdir()
    (tree / "Dockerfile").symlink_to(target)
    plan = plan_build(tree)
    assert plan.stack == "static" and plan.dockerfile is not None
    assert not target.exists()


def test_a_plain_directory_source_copies_links_as_links(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    source = tree_with(tmp_path, index__html="hi")
    (source / "leak.txt").symlink_to(secret)
    tree = tmp_path / "copy"
    fetch_source(str(source), None, tmp_path / "cache", tree)
    assert (tree / "leak.txt").is_symlink() and os.readlink(tree / "leak.txt") == str(secret)


def archive_of(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "source.tar"
    with tarfile.open(path, "w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


@pytest.mark.parametrize(
    "members",
    [
        [link("Procfile", "/etc/shadow")],
        [link("Procfile", "../../etc/shadow")],
        [link("sub/x", "../../outside")],
        [link("hard", "../outside", tarfile.LNKTYPE)],
        [link("up", "."), tarfile.TarInfo("up/file")],
        [tarfile.TarInfo("../escape")],
    ],
)
def test_an_escaping_member_in_a_pushed_tree_is_refused_and_named(tmp_path, members):
    archive = archive_of(tmp_path, *members)
    message = message_of(git.extract, archive, tmp_path / "tree")
    assert repr(members[-1].name) in message
    assert not (tmp_path / "outside").exists()


def test_links_inside_a_pushed_tree_are_kept(tmp_path):
    file = tarfile.TarInfo("docs/readme.md")
    file.size = 1
    archive = archive_of(tmp_path, file, link("README.md", "docs/readme.md"))
    git.extract(archive, tmp_path / "tree")
    assert (tmp_path / "tree" / "README.md").read_text() == "x"


@pytest.mark.parametrize(
    ("label", "grace"), [("inf", 3600.0), ("nan", 30.0), ("-5", 0.0), ("1e308", 3600.0)]
)
def test_a_stop_timeout_label_is_clamped(label, grace):
    container = Container(attrs={"Config": {"Labels": {STOP_TIMEOUT: label}}})
    assert stop_timeout_of(container) == grace


def test_a_backup_never_follows_a_file_swapped_for_a_link(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "notes.txt").write_text("mine")
    (root / "sub" / "more.txt").write_text("mine")
    secret = tmp_path / "shadow"
    secret.write_text("SECRET")
    for swapped in ("notes.txt", "sub"):
        tree = scan(root)
        moved = root / swapped
        moved.rename(tmp_path / "moved")
        moved.symlink_to(secret if swapped == "notes.txt" else tmp_path)
        destination = tmp_path / "backups" / "b.tar.gz"
        destination.parent.mkdir(exist_ok=True)
        if swapped == "sub":
            (tmp_path / "more.txt").write_text("SECRET")
        assert "changed into a link" in message_of(write_archive, root, tree, destination, {})
        assert not destination.exists()
        moved.unlink()
        (tmp_path / "moved").rename(moved)


class FakeTerminal(render.TerminalReporter):
    def __init__(self) -> None:
        super().__init__()
        self.tty = True


def test_markup_in_commit_subjects_and_app_output_is_printed_literally(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(
        render, "console", lambda: Console(file=out, force_terminal=True, highlight=False)
    )
    FakeTerminal().step("Source: 0123456789 fix [/bold] and [red]this[/red]")
    render.table(["SUBJECT"], [["[/bold] [link=x]y[/link]"]])
    text = out.getvalue()
    assert "fix [/bold] and [red]this[/red]" in text
    assert "[/bold] [link=x]y[/link]" in text


def test_a_link_through_another_link_is_refused_whatever_the_order() -> None:
    """normpath sees d/y/d/y/../../../../etc/passwd as inside the tree, but d/y links to ..,
    so the kernel would climb out (the reviewer's escape)."""
    import tarfile

    from hostctl.adapters.git import check_members

    def link(name: str, target: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        return info

    directory = tarfile.TarInfo("d")
    directory.type = tarfile.DIRTYPE
    escape = "d/y/d/y/d/y/d/y/../../../../../../../../etc/passwd"
    with pytest.raises(HostctlError, match="through another link"):
        check_members([link("a", escape), directory, link("d/y", "..")])
    check_members([link("a", "d/file"), directory, link("d/y", "..")])  # plain ones pass


@pytest.mark.parametrize("data_filter", [True, False])
def test_a_pushed_tree_unpacks_without_its_owners_or_special_modes(
    tmp_path, monkeypatch, data_filter
):
    """Also on a Python without tarfile's data filter (before 3.11.4, e.g. Debian 12's
    3.11.2), where passing ``filter=`` is a TypeError that failed every git deploy."""
    if data_filter and not git.DATA_FILTER:
        pytest.skip("this Python has no tarfile data filter")
    monkeypatch.setattr(git, "DATA_FILTER", data_filter)
    setuid = tarfile.TarInfo("bin/tool")
    setuid.size, setuid.mode, setuid.uid, setuid.uname = 1, 0o4777, 4321, "someone"
    private = tarfile.TarInfo("secret")
    private.size, private.mode = 1, 0o400
    folder = tarfile.TarInfo("bin")
    folder.type, folder.mode = tarfile.DIRTYPE, 0o1777
    git.extract(archive_of(tmp_path, folder, setuid, private), tmp_path / "tree")
    tool = (tmp_path / "tree" / "bin" / "tool").stat()
    assert tool.st_mode & 0o7777 == 0o755 and tool.st_uid == os.getuid()
    assert (tmp_path / "tree" / "secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tree" / "bin").stat().st_mode & 0o7777 == 0o755
