"""Security fixes found in review: push key limits fail closed, /data is handed over
without following links, and only the real Caddy counts as ours."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostctl.adapters.caddy import PidFile
from hostctl.core.errors import HostctlError
from hostctl.deploy.swap import hand_over
from hostctl.push.shell import check_key_reaches
from hostctl.state import Store
from hostctl.state.key_scopes import forget_app, key_apps, limit_key
from hostctl.state.keys import insert_push_key

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFakeKey"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    found = Store(tmp_path / "state.db")
    for app in ("blog", "shop"):
        found.insert_app(app, [f"{app}.test"])
    return found


def test_a_key_the_store_no_longer_has_reaches_no_app(store: Store) -> None:
    with pytest.raises(HostctlError, match="may not push to or fetch blog"):
        check_key_reaches(store, "removed-key", "blog")


def test_a_key_limited_to_a_destroyed_app_reaches_nothing_not_everything(store: Store) -> None:
    limit_key(store, "SHA256:only-blog", ["blog"])
    insert_push_key(store, "only-blog", "SHA256:only-blog", KEY)
    limit_key(store, "SHA256:both", ["blog", "shop"])
    insert_push_key(store, "both", "SHA256:both", KEY + "2")
    store.delete_app("blog")
    forget_app(store, "blog")
    store.insert_app("blog", ["blog.test"])  # a new app under the old name
    assert key_apps(store, "SHA256:both") == ["shop"]
    with pytest.raises(HostctlError):
        check_key_reaches(store, "only-blog", "blog")
    with pytest.raises(HostctlError):
        check_key_reaches(store, "only-blog", "shop")
    check_key_reaches(store, "both", "shop")


def test_data_is_handed_over_without_following_links(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "sub").mkdir(parents=True)
    (volume / "sub" / "file").write_text("x")
    outside = tmp_path / "host-file"
    outside.write_text("root's")
    os.symlink(outside, volume / "link-to-host")
    os.symlink(tmp_path, volume / "sub" / "dir-link")
    hand_over(volume, 4242, 4242)
    assert (volume / "sub" / "file").stat().st_uid == 4242
    assert os.lstat(volume / "link-to-host").st_uid == 4242  # the link itself
    assert outside.stat().st_uid == 0, "hand_over followed a link out of the volume"
    assert tmp_path.stat().st_uid == 0


def test_a_process_that_only_looks_like_our_caddy_is_not_ours(tmp_path: Path) -> None:
    state = tmp_path / "caddy"
    state.mkdir()
    impostor = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "--config", str(state / "x.json")]
    )
    try:
        time.sleep(0.2)
        pid_file = PidFile(state / "caddy.pid")
        (state / "caddy.pid").write_text(f"{impostor.pid}\n")
        assert not pid_file.is_ours(impostor.pid)
        assert pid_file.pid() is None
    finally:
        impostor.kill()
        impostor.wait()
