"""What setup checks and writes on disk, on temporary directories: the paths root runs for
the push user must be root's alone, the push user's home is taken over, root's files are
replaced atomically, and the push user's authorized_keys is read without following links
or blocking. As root, since ownership is what is tested (the tests run as root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostctl.core.errors import HostctlError
from hostctl.push import user
from hostctl.setup.files import install_file
from hostctl.setup.home import home_ok, make_home
from hostctl.setup.trust import check_trusted, launch_paths, untrusted

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changes files' owners: needs root")

SOMEONE = 1000


@pytest.fixture
def trusted(tmp_path: Path) -> Path:
    """A root-only directory: pytest's tree sits in sticky /tmp, made by root."""
    assert untrusted(tmp_path) is None
    return tmp_path


def test_root_only_paths_are_trusted_and_sticky_directories_are_fine(trusted):
    sticky = trusted / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "python").touch()
    assert untrusted(sticky / "python") is None, "others cannot replace root's entry"
    assert untrusted(trusted / "missing" / "python") is None, "only root may create it"
    assert (
        untrusted(sticky / "missing") == f"{sticky}/missing does not exist and others may create it"
    )
    assert untrusted(sticky) == f"{sticky} is writable by its group or others", (
        "modules are looked up in it: others may add theirs"
    )
    (trusted / "to-sticky").symlink_to(sticky)
    assert untrusted(trusted / "to-sticky") == f"{sticky} is writable by its group or others"
    assert untrusted(trusted / "to-sticky" / "python") is None


def test_a_path_someone_else_could_change_is_untrusted(trusted):
    lib = trusted / "venv" / "lib"
    lib.mkdir(parents=True)
    os.chown(trusted / "venv", SOMEONE, 0)
    assert untrusted(lib) == f"{trusted}/venv belongs to uid {SOMEONE}, not root"
    os.chown(trusted / "venv", 0, 0)
    for mode in (0o775, 0o757):
        lib.chmod(mode)
        assert untrusted(lib) == f"{lib} is writable by its group or others", oct(mode)
    lib.chmod(0o755)
    (lib / "hostctl.py").touch()
    (lib / "hostctl.py").chmod(0o666)
    assert untrusted(lib / "hostctl.py") == f"{lib}/hostctl.py is writable by its group or others"
    assert untrusted(Path("venv/lib")) == (
        "'venv/lib' is not an absolute path (it would be the current directory's)"
    )


def test_links_are_followed_and_each_step_on_the_way_checked(trusted):
    theirs = trusted / "theirs"
    (theirs / "bin").mkdir(parents=True)
    (theirs / "bin" / "python3").touch()
    os.chown(theirs, SOMEONE, 0)
    (trusted / "bin").mkdir()
    (trusted / "bin" / "python").symlink_to("../theirs/bin/python3")
    assert untrusted(trusted / "bin" / "python") == (
        f"{trusted}/bin/../theirs belongs to uid {SOMEONE}, not root"
    )
    os.chown(theirs, 0, 0)
    assert untrusted(trusted / "bin" / "python") is None
    (trusted / "via").symlink_to(trusted / "bin")  # a link to a directory, then one inside
    assert untrusted(trusted / "via" / "python") is None
    os.chown(theirs / "bin", SOMEONE, 0)
    assert untrusted(trusted / "via" / "python") == (
        f"{trusted}/bin/../theirs/bin belongs to uid {SOMEONE}, not root"
    )
    os.lchown(trusted / "via", SOMEONE, 0)
    assert (
        untrusted(trusted / "via" / "python") == f"{trusted}/via belongs to uid {SOMEONE}, not root"
    )
    (trusted / "loop").symlink_to(trusted / "loop")
    assert "leads through too many symbolic links" in (untrusted(trusted / "loop") or "")


def test_setup_refuses_untrusted_paths_with_a_hint(trusted, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{trusted}:")
    paths = launch_paths()
    assert paths[-2:] == [trusted, Path("")], "each PYTHONPATH entry, the empty one too"
    with pytest.raises(HostctlError, match="is not an absolute path") as refused:
        check_trusted(paths)
    assert refused.value.message.startswith("root would run or import . for the push user's")
    assert "install hostctl where only root can write" in (refused.value.hint or "")
    monkeypatch.delenv("PYTHONPATH")
    check_trusted(launch_paths())  # this interpreter and checkout (as in the VPS tests)


def test_a_home_left_to_the_user_is_taken_over_without_following_links(trusted):
    home = trusted / "home" / "hostctl"
    outside = trusted / "outside"
    outside.touch()
    outside.chmod(0o666)
    os.chown(outside, SOMEONE, 0)
    (home / ".ssh" / "deep").mkdir(parents=True)
    (home / ".profile").touch()
    (home / ".profile").chmod(0o666)
    (home / ".ssh" / "authorized_keys").touch()
    (home / "link").symlink_to(outside)
    (home / ".ssh" / "deep").chmod(0o777)
    for path in [home, home / ".profile", home / ".ssh", home / ".ssh" / "deep", home / "link"]:
        os.lchown(path, SOMEONE, SOMEONE)
    home.chmod(0o700)
    assert not home_ok(home)

    make_home(home)
    assert home_ok(home)
    found = {p.relative_to(home): os.lstat(p) for p in [home, *home.rglob("*")]}
    assert {(s.st_uid, s.st_gid) for s in found.values()} == {(0, 0)}
    assert [oct(found[Path(n)].st_mode & 0o777) for n in (".", ".profile", ".ssh/deep")] == [
        "0o755",
        "0o644",
        "0o755",
    ]
    assert (outside.stat().st_uid, outside.stat().st_mode & 0o777) == (SOMEONE, 0o666)

    os.chown(home / ".ssh" / "authorized_keys", SOMEONE, 0)  # one file is enough
    assert not home_ok(home)


def test_a_missing_home_is_made_and_a_linked_one_refused(trusted):
    home = trusted / "home" / "hostctl"
    assert not home_ok(home)
    make_home(home)
    assert home_ok(home) and list(home.iterdir()) == []
    home.rmdir()
    home.symlink_to(trusted)
    with pytest.raises(HostctlError, match="is not a directory") as refused:
        make_home(home)
    assert refused.value.hint == "move it away, then run `hostctl setup` again"
    assert not home_ok(home)


def test_root_files_are_replaced_whole_or_not_at_all(trusted):
    path = trusted / "rule"
    install_file(path, "one\n", 0o440)
    assert path.read_text() == "one\n" and oct(path.stat().st_mode & 0o7777) == "0o440"

    def refuse(temporary: str) -> None:
        assert Path(temporary).read_text() == "two\n"
        raise HostctlError("no")

    with pytest.raises(HostctlError):
        install_file(path, "two\n", 0o440, check=refuse)
    assert path.read_text() == "one\n"
    assert [p.name for p in trusted.iterdir()] == ["rule"], "no temporary file is left"


def test_the_push_users_keys_file_is_read_without_links_or_waiting(
    hostctl_env, tmp_path, monkeypatch
):
    from hostctl.settings import Settings

    keys = tmp_path / "authorized_keys"
    monkeypatch.setattr(user, "authorized_keys_file", lambda: keys)
    settings = Settings.from_env()
    assert user.keys_file_for(settings) is None
    header = user.keys_header(settings)
    keys.write_text(f"{header}\n" + "x" * 10_000_000)
    assert user.keys_file_for(settings) == keys
    keys.unlink()
    os.mkfifo(keys)
    assert user.keys_file_for(settings) is None, "a FIFO with no writer: no wait"
    keys.unlink()
    keys.symlink_to("/dev/zero")
    assert user.keys_file_for(settings) is None, "a link is not followed"
    keys.unlink()
    (tmp_path / "real").write_text(f"{header}\n")
    keys.symlink_to(tmp_path / "real")
    assert user.keys_file_for(settings) is None, "not even to a file that would do"
