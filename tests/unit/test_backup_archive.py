"""Archives: what goes in, that it comes back exactly, and that damage is refused."""

import io
import json
import os
import stat
import subprocess
import tarfile

import pytest

from hostctl.backup.archive import extract, file_sha256, verify, write_archive
from hostctl.backup.snapshot import scan
from hostctl.core.errors import HostctlError
from tests.harness.backup import row_ids, unpack, write_rows


@pytest.fixture
def volume(tmp_path):
    root = tmp_path / "volume"
    root.mkdir()
    write_rows(root / "app.db", 50)
    (root / "uploads").mkdir(mode=0o750)
    (root / "uploads" / "avatar.png").write_bytes(os.urandom(5000))
    os.chown(root / "uploads" / "avatar.png", 1234, 2345)
    os.chmod(root / "uploads" / "avatar.png", 0o640)
    os.chown(root / "uploads", 1234, 2345)
    os.symlink("uploads/avatar.png", root / "current.png")
    os.link(root / "uploads" / "avatar.png", root / "hardlink.png")
    os.chown(root, 1000, 1000)
    return root


def archive_of(volume, tmp_path):
    """The archive's path, and what write_archive says about it."""
    folder = tmp_path / "backups"
    folder.mkdir(exist_ok=True)
    path = folder / "b1.tar.gz"
    return path, write_archive(volume, scan(volume), path, {"id": "b1"})


def test_an_archive_holds_a_snapshot_of_each_database_and_a_manifest(volume, tmp_path):
    path, written = archive_of(volume, tmp_path)
    assert written.sha256 == file_sha256(path) and written.size == path.stat().st_size
    assert sorted(p.name for p in path.parent.iterdir()) == ["b1.tar.gz"], "no leftovers"
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json", "the manifest comes last"
    assert "data/app.db" in names
    assert not [n for n in names if n.endswith(("-wal", "-shm"))], "snapshots replace WAL files"
    plain = unpack(path, tmp_path / "plain")
    assert plain["id"] == "b1" and plain["databases"] == ["app.db"]
    entries = {e["path"]: e for e in plain["entries"]}
    assert entries["app.db"]["type"] == "database"
    assert entries["current.png"] == {
        "path": "current.png",
        "type": "symlink",
        "target": "uploads/avatar.png",
    }
    for name in ("app.db", "uploads/avatar.png", "hardlink.png"):
        assert entries[name]["sha256"] == file_sha256(tmp_path / "plain" / "data" / name)
        assert entries[name]["size"] == (tmp_path / "plain" / "data" / name).stat().st_size
    assert row_ids(tmp_path / "plain" / "data" / "app.db") == list(range(1, 51))


def test_extract_restores_content_owners_modes_and_links(volume, tmp_path):
    path, _ = archive_of(volume, tmp_path)
    target = tmp_path / "restored"
    target.mkdir()
    manifest = extract(path, target, "b1")
    assert manifest["databases"] == ["app.db"]
    assert row_ids(target / "app.db") == list(range(1, 51))
    avatar = (target / "uploads" / "avatar.png").stat()
    assert (avatar.st_uid, avatar.st_gid, stat.S_IMODE(avatar.st_mode)) == (1234, 2345, 0o640)
    assert (target / "uploads" / "avatar.png").read_bytes() == (
        volume / "uploads" / "avatar.png"
    ).read_bytes()
    uploads = (target / "uploads").stat()
    assert (uploads.st_uid, stat.S_IMODE(uploads.st_mode)) == (1234, 0o750)
    assert os.readlink(target / "current.png") == "uploads/avatar.png"
    assert (target / "hardlink.png").read_bytes() == (volume / "hardlink.png").read_bytes()
    assert (target.stat().st_uid, target.stat().st_gid) == (1000, 1000), "the volume root too"


def test_a_changed_byte_is_refused_before_anything_is_read(volume, tmp_path):
    path, written = archive_of(volume, tmp_path)
    verify(path, written.sha256, "b1")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(HostctlError, match="corrupt or was tampered with"):
        verify(path, written.sha256, "b1")


def forged(tmp_path, members, manifest):
    """An archive made by hand: (name, bytes) members and the given manifest."""
    path = tmp_path / "forged.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in [*members, ("manifest.json", json.dumps(manifest).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def test_content_that_does_not_match_the_manifest_is_refused(tmp_path):
    manifest = {
        "databases": [],
        "entries": [{"path": "a.txt", "type": "file", "size": 5, "sha256": "0" * 64}],
    }
    archive = forged(tmp_path, [("data/a.txt", b"hello")], manifest)
    (tmp_path / "out").mkdir()
    with pytest.raises(HostctlError, match=r"a\.txt do\(es\) not match its manifest"):
        extract(archive, tmp_path / "out", "forged")


def test_paths_outside_the_volume_are_refused(tmp_path):
    archive = forged(tmp_path, [("data/../../evil", b"x")], {"entries": []})
    (tmp_path / "out").mkdir()
    with pytest.raises(HostctlError, match="unexpected path"):
        extract(archive, tmp_path / "out", "forged")
    assert not (tmp_path / "evil").exists()


def test_a_full_disk_leaves_no_partial_archive(volume, tmp_path):
    (volume / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        with pytest.raises(OSError) as raised:
            write_archive(volume, scan(volume), folder / "b1.tar.gz", {})
        left = list(folder.iterdir())
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    assert raised.value.errno == 28
    assert left == []
